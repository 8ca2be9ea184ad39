//! Thin blocking AT host driver over a byte-stream [`Transport`].

use std::time::Duration;

use crate::time::{Due, SharedClock};

use super::AtError;
use super::codec::{AtResponse, FinalResult, LineSplitter, ResponseAssembler, format_command};
use super::revision::{FullRevision, parse_ati_revision, parse_cgmr, parse_qgmr};
use crate::transport::{Transport, TransportError};

/// Time allowed for one command's final result: 1.5 s, fwupd's AT read timeout
/// (`docs/facts/quectel.md`) [confirmed].
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long to wait for a reply to `AT+QFASTBOOT`. The EG25 gives none and drops off the bus
/// (`docs/facts/usb.md`) [confirmed]; [inferred] the same 1.5 s as any command.
pub const FASTBOOT_REPLY_TIMEOUT: Duration = Duration::from_millis(1500);
/// Reads spent collecting stale input before a command, at most.
const STALE_READS: usize = 16;

/// How `AT+QFASTBOOT` ended. All are success: the module may or may not answer before its
/// port disappears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastbootOutcome {
    /// `OK` came.
    Acknowledged,
    /// Nothing came in time.
    NoReply,
    /// The port went away.
    PortGone,
}

/// An AT host over any byte-stream transport.
#[derive(Debug)]
pub struct AtClient<T> {
    transport: T,
    splitter: LineSplitter,
    buf: Vec<u8>,
    unsolicited: Vec<String>,
    clock: SharedClock,
}

impl<T: Transport> AtClient<T> {
    /// A client over `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            splitter: LineSplitter::new(),
            buf: vec![0; 1024],
            unsolicited: Vec::new(),
            clock: crate::time::real(),
        }
    }

    /// Measure timeouts on `clock` (virtual in tests; `crate::time`).
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Give the transport back.
    pub fn into_inner(self) -> T {
        self.transport
    }

    /// Unsolicited lines seen so far (including stale lines found before a command), emptied.
    pub fn take_unsolicited(&mut self) -> Vec<String> {
        std::mem::take(&mut self.unsolicited)
    }

    /// Move input that is already waiting into the unsolicited list, so a late answer to an
    /// earlier command cannot be taken for this one's.
    fn collect_stale(&mut self) -> Result<(), TransportError> {
        for _ in 0..STALE_READS {
            match self.transport.recv(&mut self.buf, Duration::ZERO) {
                Ok(n) => {
                    let lines = self.splitter.feed_collect(self.buf.get(..n).unwrap_or_default());
                    self.unsolicited.extend(lines);
                }
                Err(TransportError::Timeout(_)) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn send_command(&mut self, command: &str) -> Result<(), AtError> {
        if command.contains(['\r', '\n']) {
            return Err(AtError::InvalidCommand { command: command.to_owned() });
        }
        self.collect_stale()?;
        self.transport.send(&format_command(command))?;
        Ok(())
    }

    /// Read until the final result code of `command`.
    fn wait_response(&mut self, command: &str, timeout: Duration) -> Result<AtResponse, AtError> {
        let mut asm = ResponseAssembler::new(command);
        let due = Due::after(&self.clock, timeout);
        loop {
            let left = due.left();
            let n = match self.transport.recv(&mut self.buf, left) {
                Ok(n) => n,
                Err(TransportError::Timeout(_)) => {
                    return Err(AtError::NoResponse {
                        command: command.to_owned(),
                        timeout,
                        lines: asm.lines().to_vec(),
                    });
                }
                Err(e) => return Err(e.into()),
            };
            let mut done = None;
            for line in self.splitter.feed_collect(self.buf.get(..n).unwrap_or_default()) {
                if done.is_some() {
                    self.unsolicited.push(line);
                } else {
                    done = asm.push_line(line);
                }
            }
            if let Some(resp) = done {
                return Ok(resp);
            }
        }
    }

    /// Send `command` (without line end) and wait up to `timeout` for its final result.
    /// `OK` gives the response; any other result is [`AtError::Rejected`].
    pub fn command(&mut self, command: &str, timeout: Duration) -> Result<AtResponse, AtError> {
        self.send_command(command)?;
        let mut resp = self.wait_response(command, timeout)?;
        self.unsolicited.append(&mut resp.unsolicited);
        if resp.result.is_ok() {
            Ok(resp)
        } else {
            Err(AtError::Rejected { command: resp.command, result: resp.result })
        }
    }

    /// The firmware revision: `ATI`'s `Revision:` line, or `AT+CGMR` when `ATI` fails or
    /// lacks it (`docs/facts/quectel.md`).
    pub fn revision(&mut self) -> Result<String, AtError> {
        match self.command("ATI", COMMAND_TIMEOUT) {
            Ok(resp) => {
                if let Some(rev) = parse_ati_revision(&resp.lines) {
                    return Ok(rev);
                }
            }
            Err(AtError::Transport(e)) => return Err(e.into()),
            Err(_) => {}
        }
        let resp = self.command("AT+CGMR", COMMAND_TIMEOUT)?;
        parse_cgmr(&resp.lines).ok_or(AtError::MissingField {
            command: resp.command,
            expected: "a revision line",
            lines: resp.lines,
        })
    }

    /// The full version with sub-edition from `AT+QGMR`. EC20 R1 answers `ERROR`
    /// (`docs/facts/quectel.md` [inferred]), reported as [`AtError::NotSupported`].
    pub fn full_revision(&mut self) -> Result<FullRevision, AtError> {
        let resp = match self.command("AT+QGMR", COMMAND_TIMEOUT) {
            Err(AtError::Rejected { command, result }) => {
                return Err(AtError::NotSupported { command, result });
            }
            other => other?,
        };
        parse_qgmr(&resp.lines).ok_or(AtError::MissingField {
            command: resp.command,
            expected: "a version line",
            lines: resp.lines,
        })
    }

    /// `AT+QFASTBOOT`: reboot into fastboot (18d1:d00d). `OK`, silence and a vanishing port
    /// all mean success; `ERROR` means the firmware lacks the command.
    pub fn enter_fastboot(&mut self) -> Result<FastbootOutcome, AtError> {
        const CMD: &str = "AT+QFASTBOOT";
        self.send_command(CMD)?;
        match self.wait_response(CMD, FASTBOOT_REPLY_TIMEOUT) {
            Ok(resp) if resp.result == FinalResult::Ok => Ok(FastbootOutcome::Acknowledged),
            Ok(resp) => Err(AtError::NotSupported { command: resp.command, result: resp.result }),
            Err(AtError::NoResponse { .. }) => Ok(FastbootOutcome::NoReply),
            Err(AtError::Transport(TransportError::Disconnected)) => Ok(FastbootOutcome::PortGone),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::at::codec::{format_echo, format_response, format_urc};
    use crate::transport::memory::{MemoryTransport, stream_pair};
    use std::thread;

    /// Play a module: `answer` maps each command line to raw reply chunks; `None` hangs up.
    fn module(
        mut dev: MemoryTransport,
        answer: impl Fn(&str) -> Option<Vec<Vec<u8>>> + Send + 'static,
    ) -> thread::JoinHandle<Vec<String>> {
        thread::spawn(move || {
            let mut seen = Vec::new();
            let mut s = LineSplitter::new();
            let mut buf = [0u8; 256];
            while let Ok(n) = dev.recv(&mut buf, Duration::from_secs(5)) {
                for cmd in s.feed_collect(&buf[..n]) {
                    seen.push(cmd.clone());
                    let Some(chunks) = answer(&cmd) else { return seen };
                    for c in chunks {
                        dev.send(&c).unwrap();
                    }
                }
            }
            seen
        })
    }

    fn ok(lines: &[&str]) -> Vec<u8> {
        format_response(lines, &FinalResult::Ok)
    }

    fn err() -> Vec<u8> {
        format_response::<&str>(&[], &FinalResult::Error)
    }

    #[test]
    fn revision_from_ati_with_echo_and_split_reads() {
        let (host, dev) = stream_pair("at");
        let m = module(dev, |cmd| {
            let body = ok(&["Quectel", "EC20", "Revision: EC20AQAR02A03E2G"]);
            let (a, b) = body.split_at(17);
            Some(vec![format_urc("+QIND: SMS DONE"), format_echo(cmd), a.to_vec(), b.to_vec()])
        });
        let mut c = AtClient::new(host);
        assert_eq!(c.revision().unwrap(), "EC20AQAR02A03E2G");
        assert_eq!(c.take_unsolicited(), vec!["+QIND: SMS DONE"]);
        drop(c);
        assert_eq!(m.join().unwrap(), vec!["ATI"]);
    }

    #[test]
    fn revision_falls_back_to_cgmr() {
        let (host, dev) = stream_pair("at");
        let m = module(dev, |cmd| match cmd {
            "ATI" => Some(vec![ok(&["Quectel", "EC25"])]),
            "AT+CGMR" => Some(vec![ok(&["EC25EFAR06A11M4G"])]),
            _ => Some(vec![err()]),
        });
        let mut c = AtClient::new(host);
        assert_eq!(c.revision().unwrap(), "EC25EFAR06A11M4G");
        drop(c);
        assert_eq!(m.join().unwrap(), vec!["ATI", "AT+CGMR"]);
    }

    #[test]
    fn full_revision_and_errors() {
        let (host, dev) = stream_pair("at");
        let _m = module(dev, |cmd| match cmd {
            "AT+QGMR" => Some(vec![ok(&["EG25GGCR07A02M1G_30.202.30.202"])]),
            "AT+CMEE" => Some(vec![format_response::<&str>(&[], &FinalResult::CmeError("10".into()))]),
            _ => Some(vec![err()]),
        });
        let mut c = AtClient::new(host);
        let full = c.full_revision().unwrap();
        assert_eq!(full.sub_edition.as_deref(), Some("30.202.30.202"));
        let e = c.command("AT+GETFWBRANCH", COMMAND_TIMEOUT).unwrap_err();
        assert!(matches!(&e, AtError::Rejected { result: FinalResult::Error, .. }), "{e:?}");
        let e = c.command("AT+CMEE", COMMAND_TIMEOUT).unwrap_err();
        assert!(matches!(&e, AtError::Rejected { result, .. } if result.cme_code() == Some(10)), "{e:?}");
        assert!(matches!(c.command("AT\r", COMMAND_TIMEOUT), Err(AtError::InvalidCommand { .. })));
    }

    #[test]
    fn qgmr_error_means_not_supported() {
        let (host, dev) = stream_pair("at");
        let _m = module(dev, |_| Some(vec![err()]));
        let mut c = AtClient::new(host);
        assert!(matches!(c.full_revision(), Err(AtError::NotSupported { .. })));
    }

    #[test]
    fn silent_reply_times_out_then_stale_ok_is_not_misread() {
        let (host, dev) = stream_pair("at");
        let _m = module(dev, |cmd| match cmd {
            "AT+QCFG=\"secbootstat\"" => {
                thread::sleep(Duration::from_millis(100));
                Some(vec![ok(&["+QCFG: \"secbootstat\",0"])])
            }
            _ => Some(vec![ok(&["EC25EFAR06A11M4G"])]),
        });
        let mut c = AtClient::new(host);
        let e = c.command("AT+QCFG=\"secbootstat\"", Duration::from_millis(30)).unwrap_err();
        assert!(matches!(e, AtError::NoResponse { .. }));
        thread::sleep(Duration::from_millis(200));
        let r = c.command("AT+CGMR", COMMAND_TIMEOUT).unwrap();
        assert_eq!(r.lines, vec!["EC25EFAR06A11M4G"]);
        assert_eq!(c.take_unsolicited(), vec!["+QCFG: \"secbootstat\",0", "OK"]);
    }

    #[test]
    fn fastboot_outcomes() {
        for (answer, want) in [
            (Some(ok(&[])), Ok(FastbootOutcome::Acknowledged)),
            (Some(Vec::new()), Ok(FastbootOutcome::NoReply)),
            (None, Ok(FastbootOutcome::PortGone)),
            (Some(err()), Err(())),
        ] {
            let (host, dev) = stream_pair("at");
            let _m = module(dev, move |_| answer.clone().map(|a| vec![a]));
            let mut c = AtClient::new(host);
            let got = c.enter_fastboot();
            match want {
                Ok(w) => assert_eq!(got.unwrap(), w),
                Err(()) => assert!(matches!(got, Err(AtError::NotSupported { .. })), "{got:?}"),
            }
        }
    }
}
