//! Blocking streaming DLOAD host over an [`HdlcLink`] (`docs/facts/streaming.md`).
//!
//! Every request is sent with a leading flag and answered by one reply. ERROR (0x0D) and
//! LOG (0x0E) packets may arrive at any time instead: LOGs are kept (see
//! [`StreamingClient::logs`]) and waiting continues; an ERROR ends the wait with
//! [`StreamingError::Device`].

use std::collections::VecDeque;
use std::time::Duration;

use crate::time::Due;

use super::codec::{
    DEFAULT_BLOCK_SIZE, MAX_BLOCK_SIZE, Reply, encode_close, encode_download_flag, encode_nop,
    encode_open_multi, encode_open_multi_named, encode_partition_table, encode_reset, encode_security_mode,
    encode_stream_write_into,
};
use super::codes::{ImageType, OpenMultiStatus, PartitionStatus, cmd, command_name, error_code, error_name};
use super::error::StreamingError;
use super::hello::{HelloOptions, HelloResponse, encode_hello};
use crate::protocol::hdlc::HdlcLink;
use crate::transport::{Transport, TransportError};

/// How long to wait for a reply: QFirehose waits 3 s, the EC20 tool 5 s (docs/facts/streaming.md).
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries per STREAM_WRITE on a missing or odd reply (docs/facts/streaming.md, `docs/facts/quectel.md`).
pub const WRITE_ATTEMPTS: u32 = 3;
/// Pause before resending a STREAM_WRITE ("3 tries with 1 s delay", `docs/facts/quectel.md`).
pub const WRITE_RETRY_DELAY: Duration = Duration::from_secs(1);
/// After an "Invalid command" LOG answering the download-flag command, how long to wait
/// for the ERROR packet hostdl sends after such a LOG (docs/facts/streaming.md). [inferred] a programmer
/// sends both at once, so a short grace suffices.
pub const UNSUPPORTED_GRACE: Duration = Duration::from_millis(300);
/// At most this many device LOG lines are kept; older ones are dropped.
pub const MAX_KEPT_LOGS: usize = 256;

/// Timing knobs; the defaults are the named constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamingTimeouts {
    /// Wait for each reply.
    pub reply: Duration,
    /// Tries per STREAM_WRITE.
    pub write_attempts: u32,
    /// Pause before a STREAM_WRITE retry.
    pub retry_delay: Duration,
    /// See [`UNSUPPORTED_GRACE`].
    pub unsupported_grace: Duration,
}

impl Default for StreamingTimeouts {
    fn default() -> Self {
        Self {
            reply: READ_TIMEOUT,
            write_attempts: WRITE_ATTEMPTS,
            retry_delay: WRITE_RETRY_DELAY,
            unsupported_grace: UNSUPPORTED_GRACE,
        }
    }
}

/// What to do when PARTITION_TABLE answers "differs" (status 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MismatchPolicy {
    /// Resend with override 1 (QFirehose).
    Retry,
    /// Carry on with the table on flash (QFlash 9615: "Partitbl mismatched").
    AcceptMismatch,
}

/// When to send the Quectel download flag (0x60 01) after the partition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagPolicy {
    Never,
    /// Only when the table had to be overridden (QFirehose's stream path).
    AfterOverride,
    /// Whenever the table step succeeds (the Teltonika-style EC20 variant).
    Always,
}

/// Policy of [`StreamingClient::send_partition_table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionTableOptions {
    pub on_mismatch: MismatchPolicy,
    pub download_flag: FlagPolicy,
}

impl PartitionTableOptions {
    /// QFirehose: override on mismatch, then set the download flag.
    pub const QFIREHOSE: Self =
        Self { on_mismatch: MismatchPolicy::Retry, download_flag: FlagPolicy::AfterOverride };
    /// QFlash 9615: send once, continue on mismatch, no flag.
    pub const QFLASH_9615: Self =
        Self { on_mismatch: MismatchPolicy::AcceptMismatch, download_flag: FlagPolicy::Never };
}

impl Default for PartitionTableOptions {
    fn default() -> Self {
        Self::QFIREHOSE
    }
}

/// Result of the Quectel download-flag command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadFlag {
    /// Status 0.
    Done,
    /// The programmer does not know 0x60 (it answered with an "Invalid command" LOG or
    /// an "invalid command" ERROR).
    Unsupported { reason: String },
}

/// What [`StreamingClient::send_partition_table`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTableOutcome {
    /// Status of the first (override 0) attempt.
    pub first: PartitionStatus,
    /// Status the step ended with (`Accepted`, or `Differs` under `AcceptMismatch`).
    pub last: PartitionStatus,
    /// Whether the table was resent with override 1.
    pub overridden: bool,
    /// The download-flag result, if it was sent.
    pub download_flag: Option<DownloadFlag>,
}

/// What [`StreamingClient::choose_partition_table`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableChoice {
    /// The override-0 status of each table sent, in order.
    pub statuses: Vec<PartitionStatus>,
    /// The index of the table the programmer accepted, if any.
    pub accepted: Option<usize>,
    /// The status of the first table resent with override 1, if it was.
    pub overridden: Option<PartitionStatus>,
}

/// A streaming DLOAD host.
#[derive(Debug)]
pub struct StreamingClient<T> {
    link: HdlcLink<T>,
    timeouts: StreamingTimeouts,
    logs: VecDeque<String>,
    hello: Option<HelloResponse>,
    tx: Vec<u8>,
}

impl<T: Transport> StreamingClient<T> {
    /// Speak streaming DLOAD over `transport`.
    pub fn new(transport: T) -> Self {
        Self::from_link(HdlcLink::new(transport))
    }

    /// Use an existing HDLC link (e.g. the one the DMSS phase used).
    pub fn from_link(link: HdlcLink<T>) -> Self {
        Self {
            link,
            timeouts: StreamingTimeouts::default(),
            logs: VecDeque::new(),
            hello: None,
            tx: Vec::new(),
        }
    }

    /// Replace the timing knobs.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: StreamingTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The HDLC link.
    pub fn link_mut(&mut self) -> &mut HdlcLink<T> {
        &mut self.link
    }

    /// Give the link back.
    pub fn into_link(self) -> HdlcLink<T> {
        self.link
    }

    /// Device LOG lines received so far (oldest first, at most [`MAX_KEPT_LOGS`]).
    pub fn logs(&self) -> impl Iterator<Item = &str> {
        self.logs.iter().map(String::as_str)
    }

    /// Take the kept LOG lines.
    pub fn take_logs(&mut self) -> Vec<String> {
        self.logs.drain(..).collect()
    }

    /// The last HELLO response, if HELLO was done.
    pub fn hello_response(&self) -> Option<&HelloResponse> {
        self.hello.as_ref()
    }

    /// HELLO → 0x02. Remembers the response (its block size limits [`Self::write_image`]).
    pub fn hello(&mut self, opts: &HelloOptions) -> Result<HelloResponse, StreamingError> {
        let rsp = match self.request(&encode_hello(opts), cmd::HELLO_RESP)? {
            Reply::Hello(h) => h,
            other => return Err(unexpected(cmd::HELLO_RESP, &other)),
        };
        self.hello = Some(rsp.clone());
        Ok(rsp)
    }

    /// SECURITY_MODE(0/1) → 0x18.
    pub fn security_mode(&mut self, trusted: bool) -> Result<(), StreamingError> {
        self.request(&encode_security_mode(trusted), cmd::SECURITY_MODE_RESP).map(drop)
    }

    /// PARTITION_TABLE(override, table) → 0x1A status, whatever it is.
    pub fn partition_table(
        &mut self,
        table: &[u8],
        override_table: bool,
    ) -> Result<PartitionStatus, StreamingError> {
        match self.request(&encode_partition_table(override_table, table)?, cmd::PARTITION_TABLE_RESP)? {
            Reply::PartitionTable(s) => Ok(s),
            other => Err(unexpected(cmd::PARTITION_TABLE_RESP, &other)),
        }
    }

    /// The host recipe (docs/facts/streaming.md): send with override 0; on "differs" apply
    /// `opts.on_mismatch`; then maybe the Quectel download flag. Statuses 2, 3 and unknown
    /// ones are [`StreamingError::PartitionTable`].
    pub fn send_partition_table(
        &mut self,
        table: &[u8],
        opts: &PartitionTableOptions,
    ) -> Result<PartitionTableOutcome, StreamingError> {
        let first = self.partition_table(table, false)?;
        let (last, overridden) = match (first, opts.on_mismatch) {
            (PartitionStatus::Accepted, _) | (PartitionStatus::Differs, MismatchPolicy::AcceptMismatch) => {
                (first, false)
            }
            (PartitionStatus::Differs, MismatchPolicy::Retry) => match self.partition_table(table, true)? {
                PartitionStatus::Accepted => (PartitionStatus::Accepted, true),
                s => return Err(partition_error(s)),
            },
            (s, _) => return Err(partition_error(s)),
        };
        let send_flag = match opts.download_flag {
            FlagPolicy::Never => false,
            FlagPolicy::AfterOverride => overridden,
            FlagPolicy::Always => true,
        };
        let download_flag = if send_flag { Some(self.set_download_flag(true)?) } else { None };
        Ok(PartitionTableOutcome { first, last, overridden, download_flag })
    }

    /// Several candidate tables (QFlash 9615 with a package that ships more than one): each
    /// is sent with override 0 in order and the first accepted wins, whatever the others
    /// answered; when none is and `override_first` is set, the first is sent again with
    /// override 1. The outcome says which; no table accepted is not an error here, the
    /// caller names it.
    pub fn choose_partition_table(
        &mut self,
        tables: &[&[u8]],
        override_first: bool,
    ) -> Result<TableChoice, StreamingError> {
        let mut statuses = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            let status = self.partition_table(t, false)?;
            statuses.push(status);
            if status == PartitionStatus::Accepted {
                return Ok(TableChoice { statuses, accepted: Some(i), overridden: None });
            }
        }
        let overridden = match tables.first() {
            Some(first) if override_first => Some(self.partition_table(first, true)?),
            _ => None,
        };
        let accepted = (overridden == Some(PartitionStatus::Accepted)).then_some(0);
        Ok(TableChoice { statuses, accepted, overridden })
    }

    /// OPEN_MULTI_IMAGE(type, payload) → 0x1C status, whatever it is.
    pub fn open_multi_raw(
        &mut self,
        image_type: ImageType,
        payload: &[u8],
    ) -> Result<OpenMultiStatus, StreamingError> {
        match self.request(&encode_open_multi(image_type, payload)?, cmd::OPEN_MULTI_RESP)? {
            Reply::OpenMulti(s) => Ok(s),
            other => Err(unexpected(cmd::OPEN_MULTI_RESP, &other)),
        }
    }

    /// Open a named user partition (`"0:SBL1"`) the Quectel way (type 0x0E + name + NUL).
    /// Any status but 0 is [`StreamingError::OpenMulti`].
    pub fn open_multi(&mut self, name: &str) -> Result<(), StreamingError> {
        match self.request(&encode_open_multi_named(name)?, cmd::OPEN_MULTI_RESP)? {
            Reply::OpenMulti(OpenMultiStatus::Ok) => Ok(()),
            Reply::OpenMulti(s) => Err(StreamingError::OpenMulti {
                partition: name.to_string(),
                status: s.as_u8(),
                name: s.name(),
            }),
            other => Err(unexpected(cmd::OPEN_MULTI_RESP, &other)),
        }
    }

    /// CLOSE → 0x16.
    pub fn close(&mut self) -> Result<(), StreamingError> {
        self.request(&encode_close(), cmd::CLOSE_RESP).map(drop)
    }

    /// RESET → 0x0C.
    pub fn reset(&mut self) -> Result<(), StreamingError> {
        self.request(&encode_reset(), cmd::RESET_RESP).map(drop)
    }

    /// RESET without waiting for 0x0C (QFirehose does not wait).
    pub fn reset_no_wait(&mut self) -> Result<(), StreamingError> {
        Ok(self.link.send(&encode_reset(), true)?)
    }

    /// NOP(data) → 0x0A; the echo must match.
    pub fn nop(&mut self, data: &[u8]) -> Result<(), StreamingError> {
        match self.request(&encode_nop(data), cmd::NOP_RESP)? {
            Reply::Nop(echo) if echo == data => Ok(()),
            Reply::Nop(echo) => Err(StreamingError::EchoMismatch {
                what: "NOP",
                sent: data.len() as u32,
                got: echo.len() as u32,
            }),
            other => Err(unexpected(cmd::NOP_RESP, &other)),
        }
    }

    /// Quectel download flag (0x60) → 0x61 status. An "Invalid command" LOG or ERROR 0x05
    /// in reply means the programmer lacks the command: [`DownloadFlag::Unsupported`].
    pub fn set_download_flag(&mut self, set: bool) -> Result<DownloadFlag, StreamingError> {
        self.link.send(&encode_download_flag(set), true)?;
        let mut deadline = Due::after(self.link.clock(), self.timeouts.reply);
        let mut unsupported: Option<String> = None;
        loop {
            let reply = match self.next_reply(cmd::DOWNLOAD_FLAG_RESP, &deadline) {
                Ok(r) => r,
                Err(StreamingError::NoReply { .. }) if unsupported.is_some() => {
                    return Ok(DownloadFlag::Unsupported { reason: unsupported.unwrap_or_default() });
                }
                Err(e) => return Err(e),
            };
            match reply {
                Reply::DownloadFlag(0) => return Ok(DownloadFlag::Done),
                Reply::DownloadFlag(status) => return Err(StreamingError::DownloadFlag { status }),
                Reply::Log(text) => {
                    if text.to_ascii_lowercase().contains("invalid command") && unsupported.is_none() {
                        unsupported = Some(text.clone());
                        deadline = deadline.at_most(self.timeouts.unsupported_grace);
                    }
                    self.keep_log(text);
                }
                Reply::Error { code: error_code::INVALID_COMMAND, text } => {
                    return Ok(DownloadFlag::Unsupported { reason: unsupported.unwrap_or(text) });
                }
                Reply::Error { code, text } => return Err(device_error(code, text)),
                other => return Err(unexpected(cmd::DOWNLOAD_FLAG_RESP, &other)),
            }
        }
    }

    /// The STREAM_WRITE block size: `requested` (default [`DEFAULT_BLOCK_SIZE`]) limited by
    /// the HELLO response's max block size when known, and by [`MAX_BLOCK_SIZE`].
    pub fn block_size(&self, requested: Option<usize>) -> usize {
        let advertised = self.hello.as_ref().map_or(0, |h| h.max_block_size as usize);
        let limit = if advertised == 0 { DEFAULT_BLOCK_SIZE } else { advertised.min(MAX_BLOCK_SIZE) };
        requested.unwrap_or(DEFAULT_BLOCK_SIZE).clamp(1, limit)
    }

    /// Stream `len` bytes from `reader` into the open image with STREAM_WRITE, addressed by
    /// byte offset from 0, checking each 0x08 echo. Each block is tried up to
    /// `write_attempts` times on a missing or odd reply; a device ERROR ends at once.
    /// Returns the bytes written.
    pub fn write_image(
        &mut self,
        mut reader: impl std::io::Read,
        len: u64,
        block_size: Option<usize>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, StreamingError> {
        if len > u64::from(u32::MAX) {
            return Err(StreamingError::ImageTooLarge { len });
        }
        let block = self.block_size(block_size);
        let mut buf = vec![0u8; block];
        let mut offset = 0u64;
        progress(0, len);
        while offset < len {
            let n = block.min((len - offset) as usize);
            let chunk = buf.get_mut(..n).unwrap_or_default();
            reader.read_exact(chunk).map_err(|source| StreamingError::ImageRead { offset, source })?;
            self.write_block(offset as u32, chunk)?;
            offset += n as u64;
            progress(offset, len);
        }
        Ok(offset)
    }

    /// Send one request and wait for the reply with command byte `expect`.
    fn request(&mut self, payload: &[u8], expect: u8) -> Result<Reply, StreamingError> {
        self.link.send(payload, true)?;
        let deadline = Due::after(self.link.clock(), self.timeouts.reply);
        // A corrupt frame (e.g. line noise left from the DMSS phase) is skipped; it is
        // reported only if no valid reply follows.
        let mut corrupt = None;
        loop {
            let reply = match self.next_reply(expect, &deadline) {
                Ok(r) => r,
                Err(StreamingError::Hdlc(e)) => {
                    corrupt = Some(e);
                    continue;
                }
                Err(e @ StreamingError::NoReply { .. }) => {
                    return Err(corrupt.map_or(e, StreamingError::Hdlc));
                }
                Err(e) => return Err(e),
            };
            match reply {
                Reply::Log(text) => self.keep_log(text),
                Reply::Error { code, text } => return Err(device_error(code, text)),
                r if r.cmd() == expect => return Ok(r),
                other => return Err(unexpected(expect, &other)),
            }
        }
    }

    /// Receive and parse the next frame before `deadline`.
    fn next_reply(&mut self, expect: u8, deadline: &Due) -> Result<Reply, StreamingError> {
        let no_reply = StreamingError::NoReply {
            expected: command_name(expect),
            tries: 1,
            timeout: self.timeouts.reply,
        };
        let left = deadline.left();
        if left.is_zero() {
            return Err(no_reply);
        }
        match self.link.recv_any(left) {
            Err(TransportError::Timeout(_)) => Err(no_reply),
            Err(e) => Err(e.into()),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(frame)) => Reply::parse(&frame),
        }
    }

    fn keep_log(&mut self, text: String) {
        if self.logs.len() >= MAX_KEPT_LOGS {
            self.logs.pop_front();
        }
        self.logs.push_back(text);
    }

    /// One STREAM_WRITE with retries (docs/facts/streaming.md: 3 tries on a missing or odd reply).
    fn write_block(&mut self, addr: u32, data: &[u8]) -> Result<(), StreamingError> {
        encode_stream_write_into(addr, data, &mut self.tx)?;
        let tries = self.timeouts.write_attempts.max(1);
        let mut last = None;
        for attempt in 0..tries {
            if attempt > 0 && !self.timeouts.retry_delay.is_zero() {
                self.link.clock().sleep(self.timeouts.retry_delay);
            }
            self.link.send(&self.tx, true)?;
            match self.await_write_ack(addr) {
                Ok(()) => return Ok(()),
                Err(e @ (StreamingError::Device { .. } | StreamingError::Transport(_))) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e) if !matches!(e, StreamingError::NoReply { .. }) => Err(e),
            _ => Err(StreamingError::NoReply {
                expected: command_name(cmd::STREAM_WRITE_RESP),
                tries,
                timeout: self.timeouts.reply,
            }),
        }
    }

    fn await_write_ack(&mut self, addr: u32) -> Result<(), StreamingError> {
        let deadline = Due::after(self.link.clock(), self.timeouts.reply);
        loop {
            match self.next_reply(cmd::STREAM_WRITE_RESP, &deadline)? {
                Reply::Log(text) => self.keep_log(text),
                Reply::Error { code, text } => return Err(device_error(code, text)),
                Reply::StreamWrite { addr: got } if got == addr => return Ok(()),
                // A late acknowledgement of an earlier (retried) block.
                Reply::StreamWrite { addr: got } if got < addr => {}
                Reply::StreamWrite { addr: got } => {
                    return Err(StreamingError::EchoMismatch { what: "STREAM_WRITE", sent: addr, got });
                }
                other => return Err(unexpected(cmd::STREAM_WRITE_RESP, &other)),
            }
        }
    }
}

fn unexpected(expected: u8, got: &Reply) -> StreamingError {
    let body = got.encode();
    StreamingError::Unexpected {
        expected: command_name(expected),
        got: got.name(),
        cmd: got.cmd(),
        len: body.len(),
    }
}

fn device_error(code: u32, text: String) -> StreamingError {
    StreamingError::Device { code, name: error_name(code), text }
}

fn partition_error(s: PartitionStatus) -> StreamingError {
    StreamingError::PartitionTable { status: s.as_u8(), name: s.name() }
}
