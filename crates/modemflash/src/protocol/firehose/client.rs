//! Blocking Firehose host driver over any [`Transport`]. It sends one command, collects
//! the `<log>` lines and waits for the one `<response>`; it decides nothing about order
//! or retries beyond the configure rule of `docs/facts/firehose.md` step 2.
//!
//! Timeouts are inactivity limits: each wait for bytes is bounded, and a device that
//! keeps logging keeps a command alive. Values are generous versions of the tools' ones
//! (`docs/facts/firehose.md`: qdl 10 s program ACK / 120 s final ACK / 5 s patch and power;
//! QFirehose 3 s ACK, 6 s after data, 15 s erase/patch/write).

use std::io::Write;
use std::time::Duration;

use crate::time::{Due, SharedClock};

use super::FirehoseError;
use super::codec::{
    ConfigureOptions, ConfigureStep, EraseSpec, NAND_MAX_PAYLOAD, Negotiated, PatchSpec, ProgramSpec,
    build_configure, build_element, build_erase, build_getstorageinfo, build_nop, build_patch, build_power,
    build_program, build_read, configure_step,
};
use super::data::{DataChunker, sectors_for};
use super::scanner::{Event, Scanner};
use super::startup::StartupDrain;
use crate::transport::{Transport, TransportError};

/// First wait for start-up logs after Sahara DONE (QFirehose: 3 s, `docs/facts/firehose.md`).
pub const STARTUP_FIRST_WAIT: Duration = Duration::from_secs(3);
/// Silence that ends the start-up log drain (QFirehose polls at 1 s).
pub const STARTUP_QUIET: Duration = Duration::from_secs(1);
/// Wait for the configure response (QFirehose 3 s).
pub const CONFIGURE_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait for `ACK rawmode="true"` to a `<program>`/`<read>` (qdl 10 s, QFirehose 3 s).
pub const PROGRAM_RAWMODE_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait for the final `ACK rawmode="false"` after the data (qdl 120 s).
pub const PROGRAM_ACK_TIMEOUT: Duration = Duration::from_secs(120);
/// Wait for an `<erase>` response (QFirehose 15 s; NAND erases of big partitions and the
/// first bad-block scan take longer, so more is allowed).
pub const ERASE_TIMEOUT: Duration = Duration::from_secs(60);
/// Wait for a `<patch>` response (QFirehose 15 s).
pub const PATCH_TIMEOUT: Duration = Duration::from_secs(15);
/// Wait for a `<power>` response (qdl 5 s, QFirehose 3 s).
pub const POWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Silence that ends the log drain after a power reset (the device must be read or it
/// may not reset, `docs/facts/firehose.md` step 6).
pub const POWER_DRAIN_QUIET: Duration = Duration::from_secs(1);
/// Wait for a `<nop>` or `<getstorageinfo>` response.
pub const NOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait for the response to an element sent verbatim (QFirehose 6 s for vendor lines).
pub const RAW_ELEMENT_TIMEOUT: Duration = Duration::from_secs(15);
/// Wait for each piece of `<read>` data from the target.
pub const READ_DATA_TIMEOUT: Duration = Duration::from_secs(15);
/// After a NAK, how long to keep collecting trailing `<log>` lines for the error.
pub const NAK_LOG_GRACE: Duration = Duration::from_millis(300);
/// Upper bound on any log drain, however chatty the device.
pub const DRAIN_MAX_TOTAL: Duration = Duration::from_secs(30);

/// At most this many `<log>` lines are kept per command, the newest (a chatty programmer
/// can send thousands; the error for a failed command needs the last few).
pub const LOG_MAX_LINES: usize = 200;
/// At most this many bytes of `<log>` text are kept per command.
pub const LOG_MAX_BYTES: usize = 64 * 1024;
/// A programmer that keeps logging keeps a command alive, but for at most this long past
/// the command's own timeout.
pub const LOG_KEEPALIVE_MAX: Duration = Duration::from_secs(300);
/// The first line of a log that lost its oldest lines to the caps.
pub const LOG_DROPPED: &str = "(earlier log lines were not kept)";

/// Add `line` to `log`, dropping the oldest lines past [`LOG_MAX_LINES`] or
/// [`LOG_MAX_BYTES`] (a [`LOG_DROPPED`] marker says so).
fn keep(log: &mut Vec<String>, mut line: String) {
    if line.len() > LOG_MAX_BYTES / 4 {
        let mut cut = LOG_MAX_BYTES / 4;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    log.push(line);
    let over = |log: &Vec<String>| {
        log.len() > LOG_MAX_LINES || log.iter().map(String::len).sum::<usize>() > LOG_MAX_BYTES
    };
    if !over(log) {
        return;
    }
    if log.first().map(String::as_str) != Some(LOG_DROPPED) {
        log.insert(0, LOG_DROPPED.to_owned());
    }
    while over(log) && log.len() > 2 {
        log.remove(1);
    }
}

/// Receive buffer size.
const RX_CHUNK: usize = 16 * 1024;

/// Per-step timeouts; [`Default`] uses the named constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirehoseTimeouts {
    pub configure: Duration,
    pub program_rawmode: Duration,
    pub program_ack: Duration,
    pub erase: Duration,
    pub patch: Duration,
    pub power: Duration,
    pub power_drain_quiet: Duration,
    pub nop: Duration,
    pub raw_element: Duration,
    pub read_data: Duration,
    pub nak_log_grace: Duration,
    /// How long past a command's timeout a logging programmer may keep it alive.
    pub log_keepalive_max: Duration,
}

impl Default for FirehoseTimeouts {
    fn default() -> Self {
        Self {
            configure: CONFIGURE_TIMEOUT,
            program_rawmode: PROGRAM_RAWMODE_TIMEOUT,
            program_ack: PROGRAM_ACK_TIMEOUT,
            erase: ERASE_TIMEOUT,
            patch: PATCH_TIMEOUT,
            power: POWER_TIMEOUT,
            power_drain_quiet: POWER_DRAIN_QUIET,
            nop: NOP_TIMEOUT,
            raw_element: RAW_ELEMENT_TIMEOUT,
            read_data: READ_DATA_TIMEOUT,
            nak_log_grace: NAK_LOG_GRACE,
            log_keepalive_max: LOG_KEEPALIVE_MAX,
        }
    }
}

/// An ACK and what came with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub rawmode: Option<bool>,
    /// Attributes other than `value` and `rawmode`.
    pub attrs: Vec<(String, String)>,
    /// `<log>` lines received while waiting for it.
    pub log: Vec<String>,
}

struct Reply {
    ack: bool,
    rawmode: Option<bool>,
    attrs: Vec<(String, String)>,
}

/// The host side of a Firehose session.
#[derive(Debug)]
pub struct FirehoseClient<T> {
    transport: T,
    scanner: Scanner,
    rx: Vec<u8>,
    /// Logs of the command in progress.
    log: Vec<String>,
    max_payload: u64,
    timeouts: FirehoseTimeouts,
    clock: SharedClock,
}

/// The element line of a built document, for error messages.
fn label(doc: &[u8]) -> String {
    let text = String::from_utf8_lossy(doc);
    let start = text.find("<data>\n").map_or(0, |i| i + 7);
    let body = text.get(start..).unwrap_or("");
    body.strip_suffix("\n</data>").unwrap_or(body).to_owned()
}

impl<T: Transport> FirehoseClient<T> {
    /// Wrap a transport on which the programmer runs. The payload limit starts at the
    /// NAND default (8192) until [`configure`](Self::configure) negotiates one.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            scanner: Scanner::default(),
            rx: vec![0; RX_CHUNK],
            log: Vec::new(),
            max_payload: NAND_MAX_PAYLOAD,
            timeouts: FirehoseTimeouts::default(),
            clock: crate::time::real(),
        }
    }

    /// Measure timeouts on `clock` (virtual in tests; `crate::time`).
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Replace the timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: FirehoseTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The timeouts in use.
    pub fn timeouts_mut(&mut self) -> &mut FirehoseTimeouts {
        &mut self.timeouts
    }

    /// Payload size used for raw writes.
    pub fn max_payload(&self) -> u64 {
        self.max_payload
    }

    /// Override the payload size (normally set by [`configure`](Self::configure)).
    pub fn set_max_payload(&mut self, bytes: u64) {
        self.max_payload = bytes;
    }

    /// Log lines received for the last command.
    pub fn last_log(&self) -> &[String] {
        &self.log
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    pub fn into_inner(self) -> T {
        self.transport
    }

    /// Read once (up to `timeout`) and feed the scanner.
    fn fill(&mut self, timeout: Duration) -> Result<(), FirehoseError> {
        let room = self.scanner.room().min(self.rx.len());
        if room == 0 {
            return Err(FirehoseError::DocumentTooLong { limit: self.scanner.capacity() });
        }
        let buf = self.rx.get_mut(..room).unwrap_or_default();
        let n = self.transport.recv(buf, timeout)?;
        self.scanner.feed(buf.get(..n).unwrap_or_default())
    }

    /// Collect logs until `quiet` passes without input (the first wait is `first_wait`).
    /// Stray responses are dropped; a disconnect ends the drain quietly.
    fn drain_into(&mut self, first_wait: Duration, quiet: Duration) -> Result<Vec<String>, FirehoseError> {
        let policy = StartupDrain { first_wait, quiet, after_function_list: None };
        self.drain_with(&policy)
    }

    /// The drain of [`Self::drain_into`], with the start-up policy's early end.
    fn drain_with(&mut self, policy: &StartupDrain) -> Result<Vec<String>, FirehoseError> {
        let total = Due::after(&self.clock, DRAIN_MAX_TOTAL);
        let mut out = Vec::new();
        let mut heard = false;
        let mut quiet = policy.quiet;
        loop {
            while let Some(ev) = self.scanner.next_event()? {
                if let Event::Log(s) = ev {
                    quiet = policy.quiet_after(&s, quiet);
                    keep(&mut out, s);
                }
            }
            if total.passed() {
                return Ok(out);
            }
            match self.fill(if heard { quiet } else { policy.first_wait }) {
                Ok(()) => heard = true,
                Err(FirehoseError::Transport(TransportError::Timeout(_) | TransportError::Disconnected)) => {
                    return Ok(out);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Drain `<log>` documents: wait `first_wait` for the first input, then read until
    /// `quiet` passes silently (QFirehose: 3 s then 1 s, [`STARTUP_FIRST_WAIT`],
    /// [`STARTUP_QUIET`]). Returns the lines. A disconnect ends the drain.
    pub fn drain_logs(
        &mut self,
        first_wait: Duration,
        quiet: Duration,
    ) -> Result<Vec<String>, FirehoseError> {
        self.drain_into(first_wait, quiet)
    }

    /// Drain a freshly started programmer's `<log>`s by `policy` (`firehose::startup`):
    /// QFirehose's waits, ended sooner once the function list has arrived.
    pub fn drain_startup(&mut self, policy: &StartupDrain) -> Result<Vec<String>, FirehoseError> {
        self.drain_with(policy)
    }

    fn wait_reply(&mut self, cmd: &str, timeout: Duration) -> Result<Reply, FirehoseError> {
        let give_up = Due::after(&self.clock, timeout.saturating_add(self.timeouts.log_keepalive_max));
        loop {
            match self.scanner.next_event()? {
                Some(Event::Log(s)) => keep(&mut self.log, s),
                Some(Event::Response { ack, rawmode, attrs }) => return Ok(Reply { ack, rawmode, attrs }),
                Some(Event::Other(_)) => {}
                None => match self.fill(timeout.min(give_up.left())) {
                    Ok(()) if !give_up.passed() => {}
                    Ok(()) | Err(FirehoseError::Transport(TransportError::Timeout(_))) => {
                        return Err(FirehoseError::NoResponse {
                            cmd: cmd.to_owned(),
                            timeout,
                            device_log: std::mem::take(&mut self.log),
                        });
                    }
                    Err(e) => return Err(e),
                },
            }
        }
    }

    /// NAK → error with the logs (plus any that trail within the grace period).
    fn check_ack(&mut self, cmd: &str, reply: Reply) -> Result<Response, FirehoseError> {
        if reply.ack {
            return Ok(Response { rawmode: reply.rawmode, attrs: reply.attrs, log: self.log.clone() });
        }
        Err(self.nak(cmd))
    }

    /// The error for a NAK to `cmd`, after collecting trailing logs for a moment.
    fn nak(&mut self, cmd: &str) -> FirehoseError {
        let grace = self.timeouts.nak_log_grace;
        let trailing = self.drain_into(grace, grace).unwrap_or_default();
        for line in trailing {
            keep(&mut self.log, line);
        }
        FirehoseError::Nak { cmd: cmd.to_owned(), device_log: self.log.clone() }
    }

    /// Send a built document and wait for its ACK.
    fn transact(&mut self, doc: &[u8], timeout: Duration) -> Result<Response, FirehoseError> {
        let cmd = label(doc);
        self.log.clear();
        self.transport.send(doc)?;
        let reply = self.wait_reply(&cmd, timeout)?;
        self.check_ack(&cmd, reply)
    }

    /// `<configure>`, resending once with the target's `MaxPayloadSizeToTargetInBytes`
    /// after a NAK that carries one. Adopts the negotiated payload size.
    pub fn configure(&mut self, opts: &ConfigureOptions) -> Result<Negotiated, FirehoseError> {
        let mut requested = opts.max_payload_to_target;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let doc = build_configure(opts, requested)?;
            let cmd = label(&doc);
            self.log.clear();
            self.transport.send(&doc)?;
            let reply = self.wait_reply(&cmd, self.timeouts.configure)?;
            let ev = Event::Response { ack: reply.ack, rawmode: reply.rawmode, attrs: reply.attrs };
            match configure_step(requested, attempt, &ev) {
                ConfigureStep::Done(n) => {
                    self.max_payload = n.max_payload_to_target;
                    return Ok(n);
                }
                ConfigureStep::Retry(size) => requested = size,
                ConfigureStep::Fail => return Err(self.nak(&cmd)),
            }
        }
    }

    /// Send `doc` and require `ACK rawmode="true"`: the data phase of `<program>`/`<read>`.
    fn enter_rawmode(&mut self, doc: &[u8], cmd: &str) -> Result<(), FirehoseError> {
        let first = self.transact(doc, self.timeouts.program_rawmode)?;
        if first.rawmode == Some(true) {
            return Ok(());
        }
        Err(FirehoseError::UnexpectedResponse {
            cmd: cmd.to_owned(),
            expected: "ACK with rawmode=\"true\"",
            got: format!("ACK with rawmode={:?}", first.rawmode),
        })
    }

    /// `<program>` then the raw data: `ceil(len / sector)` sectors from `reader`, sent in
    /// chunks of at most the negotiated payload, the last zero-padded. `progress` gets
    /// (bytes sent, bytes to send) including padding. Returns the final ACK.
    pub fn program<R: std::io::Read + ?Sized>(
        &mut self,
        spec: &ProgramSpec,
        reader: &mut R,
        len: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Response, FirehoseError> {
        let mut chunker = DataChunker::new(len, spec.sector_size, self.max_payload)?;
        let doc = build_program(spec, sectors_for(len, spec.sector_size))?;
        let cmd = label(&doc);
        self.enter_rawmode(&doc, &cmd)?;
        let total = chunker.total();
        progress(0, total);
        while let Some(chunk) = chunker.next_chunk(reader)? {
            self.transport.send(chunk)?;
            progress(chunker.done(), total);
        }
        let reply = self.wait_reply(&cmd, self.timeouts.program_ack)?;
        let done = self.check_ack(&cmd, reply)?;
        if done.rawmode == Some(true) {
            return Err(FirehoseError::UnexpectedResponse {
                cmd,
                expected: "ACK with rawmode=\"false\" after the data",
                got: "ACK with rawmode=\"true\"".into(),
            });
        }
        Ok(done)
    }

    /// `<read>`: after `ACK rawmode="true"` the target streams `num_sectors × sector`
    /// bytes, written to `out`; then its final response.
    pub fn read(
        &mut self,
        spec: &ProgramSpec,
        num_sectors: u64,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Response, FirehoseError> {
        let total =
            num_sectors.checked_mul(u64::from(spec.sector_size)).ok_or(FirehoseError::BadGeometry {
                sector_size: spec.sector_size,
                max_payload: self.max_payload,
                why: "sectors × sector size overflows",
            })?;
        let doc = build_read(spec, num_sectors)?;
        let cmd = label(&doc);
        self.enter_rawmode(&doc, &cmd)?;
        let mut tmp = vec![0u8; RX_CHUNK];
        let mut got = 0u64;
        progress(0, total);
        while got < total {
            if self.scanner.buffered() == 0 {
                self.fill(self.timeouts.read_data)?;
                continue;
            }
            let want = usize::try_from(total - got).unwrap_or(usize::MAX).min(tmp.len());
            let buf = tmp.get_mut(..want).unwrap_or_default();
            let n = self.scanner.take_raw(buf);
            out.write_all(buf.get(..n).unwrap_or_default())?;
            got += n as u64;
            progress(got, total);
        }
        let reply = self.wait_reply(&cmd, self.timeouts.program_ack)?;
        self.check_ack(&cmd, reply)
    }

    /// `<erase>`.
    pub fn erase(&mut self, spec: &EraseSpec) -> Result<Response, FirehoseError> {
        let doc = build_erase(spec)?;
        self.transact(&doc, self.timeouts.erase)
    }

    /// `<patch>`.
    pub fn patch(&mut self, spec: &PatchSpec) -> Result<Response, FirehoseError> {
        let doc = build_patch(spec)?;
        self.transact(&doc, self.timeouts.patch)
    }

    /// `<nop>`.
    pub fn nop(&mut self) -> Result<Response, FirehoseError> {
        self.transact(&build_nop(), self.timeouts.nop)
    }

    /// `<getstorageinfo>`; the answer is in the returned log lines (9x07: a JSON log).
    pub fn getstorageinfo(&mut self, physical_partition_number: u32) -> Result<Response, FirehoseError> {
        let doc = build_getstorageinfo(physical_partition_number)?;
        self.transact(&doc, self.timeouts.nop)
    }

    /// `<power value="reset">` (with `DelayInSeconds` when given), then keep reading logs
    /// until the device goes quiet or disconnects. Returns the ACK with every log line.
    pub fn power_reset(&mut self, delay_secs: Option<u32>) -> Result<Response, FirehoseError> {
        let doc = build_power("reset", delay_secs)?;
        let mut resp = self.transact(&doc, self.timeouts.power)?;
        let quiet = self.timeouts.power_drain_quiet;
        for line in self.drain_into(quiet, quiet)? {
            keep(&mut resp.log, line);
        }
        Ok(resp)
    }

    /// Send any element from its attribute list (values escaped), e.g. a `vendor="quectel"`
    /// rawprogram line, and wait `timeout` for the ACK.
    pub fn send_raw_element<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        name: &str,
        attrs: &[(K, V)],
        timeout: Duration,
    ) -> Result<Response, FirehoseError> {
        let doc = build_element(name, attrs)?;
        self.transact(&doc, timeout)
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
