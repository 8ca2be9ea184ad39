//! Blocking fastboot host driver over any [`Transport`] (USB bulk pair, or
//! [`FastbootTcp`](super::FastbootTcp)). One command at a time; `INFO`/`TEXT` lines are
//! collected while waiting and can be read with [`FastbootClient::messages`].
//!
//! Timeouts are inactivity limits per reply (an `INFO` line restarts the wait).

use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::time::Duration;

use super::FastbootError;
use super::codec::{Command, MAX_REPLY_LEN, Reply, parse_max_download_size, parse_reply};
use super::sparse::{FILE_HEADER_LEN, SparseHeader};
use super::split::{DEFAULT_BLOCK_SIZE, SparsePiece, split_raw, split_sparse};
use crate::transport::{Transport, TransportError};

/// Wait for the reply to a quick command (getvar, reboot…). fwupd allows 1 s per USB
/// transfer (`docs/facts/fastboot.md`); more is allowed here.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait for `OKAY` after the download data.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait for `flash:` to finish (fwupd polls up to 600 times at 1 s).
pub const FLASH_TIMEOUT: Duration = Duration::from_secs(600);
/// Wait for `erase:` to finish.
pub const ERASE_TIMEOUT: Duration = Duration::from_secs(120);
/// Data-phase block size fwupd uses for the EG25 (`docs/facts/fastboot.md`).
pub const EG25_BLOCK_SIZE: usize = 16 * 1024;
/// Delay fwupd puts between operations on the EG25 (`docs/facts/fastboot.md`).
pub const FWUPD_PACING: Duration = Duration::from_millis(250);
/// Most `INFO`/`TEXT` lines kept; older ones are dropped.
pub const MAX_MESSAGES: usize = 1024;

/// Knobs of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastbootOptions {
    /// The download data goes out in writes of this many bytes.
    pub block_size: usize,
    /// Sleep between data blocks (zero: none).
    pub pacing: Duration,
    /// Use this instead of asking `getvar:max-download-size`.
    pub max_download_size: Option<u64>,
    /// Block size of sparse pieces made from raw images.
    pub sparse_block_size: u32,
    pub command_timeout: Duration,
    pub download_timeout: Duration,
    pub flash_timeout: Duration,
    pub erase_timeout: Duration,
}

impl Default for FastbootOptions {
    fn default() -> Self {
        Self {
            block_size: EG25_BLOCK_SIZE,
            pacing: Duration::ZERO,
            max_download_size: None,
            sparse_block_size: DEFAULT_BLOCK_SIZE,
            command_timeout: COMMAND_TIMEOUT,
            download_timeout: DOWNLOAD_TIMEOUT,
            flash_timeout: FLASH_TIMEOUT,
            erase_timeout: ERASE_TIMEOUT,
        }
    }
}

impl FastbootOptions {
    /// fwupd's EG25 settings: 16 KiB blocks, 250 ms apart. [inferred] fwupd applies
    /// its delay per operation; using it per block is the cautious reading.
    pub fn fwupd_eg25() -> Self {
        Self { block_size: EG25_BLOCK_SIZE, pacing: FWUPD_PACING, ..Self::default() }
    }
}

enum Final {
    Okay(String),
    Data(u32),
}

/// The host side of a fastboot session.
#[derive(Debug)]
pub struct FastbootClient<T> {
    transport: T,
    opts: FastbootOptions,
    messages: Vec<Reply>,
    /// Whether `max-download-size` was asked, and the answer (`None`: no limit given).
    max_download_asked: bool,
    max_download: Option<u64>,
    block: Vec<u8>,
    clock: crate::time::SharedClock,
}

impl<T: Transport> FastbootClient<T> {
    pub fn new(transport: T, opts: FastbootOptions) -> Self {
        Self {
            transport,
            opts,
            messages: Vec::new(),
            max_download_asked: false,
            max_download: None,
            block: Vec::new(),
            clock: crate::time::real(),
        }
    }

    /// Pace on `clock` (virtual in tests; `crate::time`); reply timeouts are the
    /// transport's.
    #[must_use]
    pub fn with_clock(mut self, clock: crate::time::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn options(&self) -> &FastbootOptions {
        &self.opts
    }

    /// `INFO`/`TEXT` replies received so far.
    pub fn messages(&self) -> &[Reply] {
        &self.messages
    }

    /// Take the collected `INFO`/`TEXT` replies.
    pub fn take_messages(&mut self) -> Vec<Reply> {
        std::mem::take(&mut self.messages)
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    pub fn into_inner(self) -> T {
        self.transport
    }

    fn wait_final(&mut self, cmd: &str, timeout: Duration) -> Result<Final, FastbootError> {
        let mut buf = [0u8; MAX_REPLY_LEN];
        loop {
            let n = match self.transport.recv(&mut buf, timeout) {
                Ok(0) => continue, // ZLP
                Ok(n) => n,
                Err(TransportError::Timeout(_)) => {
                    return Err(FastbootError::NoReply { cmd: cmd.to_owned(), timeout });
                }
                Err(e) => return Err(e.into()),
            };
            match parse_reply(buf.get(..n).unwrap_or_default())? {
                m @ (Reply::Info(_) | Reply::Text(_)) => {
                    if self.messages.len() >= MAX_MESSAGES {
                        self.messages.remove(0);
                    }
                    self.messages.push(m);
                }
                Reply::Okay(v) => return Ok(Final::Okay(v)),
                Reply::Data(n) => return Ok(Final::Data(n)),
                Reply::Fail(message) => return Err(FastbootError::Fail { cmd: cmd.to_owned(), message }),
            }
        }
    }

    fn send_command(&mut self, cmd: &Command) -> Result<String, FastbootError> {
        let bytes = cmd.encode()?;
        self.transport.send(&bytes)?;
        Ok(cmd.to_text())
    }

    /// Send `cmd` and expect `OKAY`; returns its value.
    pub fn command(&mut self, cmd: &Command, timeout: Duration) -> Result<String, FastbootError> {
        let text = self.send_command(cmd)?;
        match self.wait_final(&text, timeout)? {
            Final::Okay(v) => Ok(v),
            Final::Data(n) => Err(FastbootError::UnexpectedReply {
                cmd: text,
                expected: "OKAY or FAIL",
                got: format!("DATA{n:08x}"),
            }),
        }
    }

    /// `getvar:NAME` → the value.
    pub fn getvar(&mut self, name: &str) -> Result<String, FastbootError> {
        let t = self.opts.command_timeout;
        self.command(&Command::GetVar(name.to_owned()), t)
    }

    /// The download limit: the option if set, else `getvar:max-download-size` (asked
    /// once). `None` when the device does not say (FAIL or 0): AOSP then does not split.
    pub fn max_download_size(&mut self) -> Result<Option<u64>, FastbootError> {
        if let Some(v) = self.opts.max_download_size {
            return Ok(Some(v));
        }
        if self.max_download_asked {
            return Ok(self.max_download);
        }
        let v = match self.getvar("max-download-size") {
            Ok(s) => Some(parse_max_download_size(&s)?).filter(|&n| n > 0),
            Err(FastbootError::Fail { .. }) => None,
            Err(e) => return Err(e),
        };
        self.max_download_asked = true;
        self.max_download = v;
        Ok(v)
    }

    /// `download:%08x`, then `len` bytes from `reader` in `block_size` writes with
    /// `pacing` between them, then `OKAY`. Checks a known download limit first.
    pub fn download<R: Read + ?Sized>(
        &mut self,
        reader: &mut R,
        len: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), FastbootError> {
        let limit = self.opts.max_download_size.or(self.max_download).unwrap_or(u64::from(u32::MAX));
        let limit = limit.min(u64::from(u32::MAX));
        if len > limit {
            return Err(FastbootError::TooLarge { len, limit });
        }
        let size = len as u32;
        let text = self.send_command(&Command::Download(size))?;
        match self.wait_final(&text, self.opts.command_timeout)? {
            Final::Data(granted) if granted == size => {}
            Final::Data(granted) => return Err(FastbootError::DataSizeMismatch { asked: size, granted }),
            Final::Okay(v) => {
                return Err(FastbootError::UnexpectedReply {
                    cmd: text,
                    expected: "DATA with the download size",
                    got: format!("OKAY{v}"),
                });
            }
        }
        let block = self.opts.block_size.max(1).min(usize::try_from(len).unwrap_or(usize::MAX));
        if self.block.len() < block {
            self.block.resize(block, 0);
        }
        let mut done = 0u64;
        progress(0, len);
        while done < len {
            if done > 0 && !self.opts.pacing.is_zero() {
                self.clock.sleep(self.opts.pacing);
            }
            let want = usize::try_from(len - done).unwrap_or(usize::MAX).min(block);
            let buf = self.block.get_mut(..want).unwrap_or_default();
            let mut filled = 0;
            while let Some(dst) = buf.get_mut(filled..).filter(|d| !d.is_empty()) {
                match reader.read(dst) {
                    Ok(0) => {
                        return Err(FastbootError::ShortInput { expected: len, got: done + filled as u64 });
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.transport.send(buf)?;
            done += want as u64;
            progress(done, len);
        }
        match self.wait_final(&text, self.opts.download_timeout)? {
            Final::Okay(_) => Ok(()),
            Final::Data(n) => Err(FastbootError::UnexpectedReply {
                cmd: text,
                expected: "OKAY after the data",
                got: format!("DATA{n:08x}"),
            }),
        }
    }

    /// `flash:PARTITION` (writes what was downloaded).
    pub fn flash(&mut self, partition: &str) -> Result<String, FastbootError> {
        let t = self.opts.flash_timeout;
        self.command(&Command::Flash(partition.to_owned()), t)
    }

    /// `erase:PARTITION`.
    pub fn erase(&mut self, partition: &str) -> Result<String, FastbootError> {
        let t = self.opts.erase_timeout;
        self.command(&Command::Erase(partition.to_owned()), t)
    }

    /// `reboot`.
    pub fn reboot(&mut self) -> Result<(), FastbootError> {
        let t = self.opts.command_timeout;
        self.command(&Command::Reboot, t).map(drop)
    }

    /// `reboot-bootloader`.
    pub fn reboot_bootloader(&mut self) -> Result<(), FastbootError> {
        let t = self.opts.command_timeout;
        self.command(&Command::RebootBootloader, t).map(drop)
    }

    /// `continue`.
    pub fn continue_boot(&mut self) -> Result<(), FastbootError> {
        let t = self.opts.command_timeout;
        self.command(&Command::Continue, t).map(drop)
    }

    /// `oem ARGS` → the OKAY value.
    pub fn oem(&mut self, args: &str) -> Result<String, FastbootError> {
        let t = self.opts.command_timeout;
        self.command(&Command::Oem(args.to_owned()), t)
    }

    /// Download and flash an image of `len` bytes starting at `reader`'s position. If it
    /// is larger than the download limit it is cut into sparse pieces (chunk-wise when
    /// already sparse), each downloaded and flashed under the same name. `progress` covers
    /// all bytes sent. Returns the number of pieces.
    pub fn flash_image<R: Read + Seek>(
        &mut self,
        partition: &str,
        reader: &mut R,
        len: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<usize, FastbootError> {
        let limit = self.max_download_size()?.unwrap_or(u64::from(u32::MAX)).min(u64::from(u32::MAX));
        if len <= limit {
            self.download(reader, len, progress)?;
            self.flash(partition)?;
            return Ok(1);
        }
        let base = reader.stream_position()?;
        let mut magic = [0u8; FILE_HEADER_LEN];
        let n = read_up_to(reader, &mut magic)?;
        reader.seek(SeekFrom::Start(base))?;
        let pieces: Vec<SparsePiece> = if SparseHeader::is_sparse(magic.get(..n).unwrap_or_default()) {
            split_sparse(&mut *reader, limit)?
        } else {
            split_raw(len, self.opts.sparse_block_size, limit)?
        };
        let total: u64 = pieces.iter().map(SparsePiece::encoded_len).sum();
        let mut sent = 0u64;
        for piece in &pieces {
            let plen = piece.encoded_len();
            let mut pr = piece.reader(&mut *reader, base);
            self.download(&mut pr, plen, &mut |d, _| progress(sent + d, total))?;
            self.flash(partition)?;
            sent += plen;
        }
        Ok(pieces.len())
    }
}

fn read_up_to<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> Result<usize, FastbootError> {
    let mut got = 0;
    while let Some(dst) = buf.get_mut(got..).filter(|d| !d.is_empty()) {
        match r.read(dst) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(got)
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
