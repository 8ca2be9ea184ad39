//! Pure AT line codec: split a byte stream into lines, tell final result codes, command
//! echoes and unsolicited lines apart, and format commands and responses for either side.
//!
//! Wire shape (`docs/facts/quectel.md`, [confirmed]): the host writes `CMD` plus a line end; the module
//! answers `\r\n<info line>\r\n … \r\n<result>\r\n`, with the command echoed first when echo is
//! on (ATE1), and unsolicited lines (`RDY`, `+QIND: …`) interleaved at any time.

use std::fmt;

/// Longest line kept, in bytes; the rest of an over-long line is dropped. A guard against a
/// port that never sends a line end.
pub const MAX_LINE: usize = 1024;

/// Lines that are always unsolicited when they arrive bare. [inferred] inferred from Quectel start-up
/// and power-down output; extend as new ones are seen.
pub const BARE_URCS: &[&str] = &["RDY", "RING", "POWERED DOWN", "NORMAL POWER DOWN", "SMS DONE", "PB DONE"];

/// Splits a byte stream into trimmed, non-empty lines, in any split. CR and LF both end a
/// line, so `\r\n`, `\r` and `\n` all work and empty lines vanish.
#[derive(Debug, Clone, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    /// A new splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of an unfinished line.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Forget the unfinished line.
    pub fn reset(&mut self) {
        self.buf.clear();
    }

    /// Feed `bytes`, calling `on_line` with each completed line (lossy UTF-8, trimmed).
    pub fn feed(&mut self, bytes: &[u8], mut on_line: impl FnMut(String)) {
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                let line = String::from_utf8_lossy(&self.buf);
                let line = line.trim();
                if !line.is_empty() {
                    on_line(line.to_owned());
                }
                self.buf.clear();
            } else if self.buf.len() < MAX_LINE {
                self.buf.push(b);
            }
        }
    }

    /// Feed `bytes` and collect the completed lines.
    pub fn feed_collect(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        self.feed(bytes, |l| out.push(l));
        out
    }
}

/// A final result code: the line that ends a command's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalResult {
    /// `OK`.
    Ok,
    /// `ERROR` (Quectel's answer to unknown commands, `docs/facts/quectel.md` [confirmed]).
    Error,
    /// `+CME ERROR: <n or text>`.
    CmeError(String),
    /// `+CMS ERROR: <n or text>`.
    CmsError(String),
    /// `NO CARRIER`.
    NoCarrier,
    /// `BUSY`.
    Busy,
    /// `NO ANSWER`.
    NoAnswer,
    /// `NO DIALTONE`.
    NoDialtone,
}

impl FinalResult {
    /// Recognise a final result line.
    pub fn parse(line: &str) -> Option<Self> {
        let line = line.trim();
        let upper = line.to_ascii_uppercase();
        let after = |prefix: &str| line.get(prefix.len()..).map(|s| s.trim().to_owned());
        Some(match upper.as_str() {
            "OK" => Self::Ok,
            "ERROR" => Self::Error,
            "NO CARRIER" => Self::NoCarrier,
            "BUSY" => Self::Busy,
            "NO ANSWER" => Self::NoAnswer,
            "NO DIALTONE" => Self::NoDialtone,
            u if u.starts_with("+CME ERROR:") => Self::CmeError(after("+CME ERROR:")?),
            u if u.starts_with("+CMS ERROR:") => Self::CmsError(after("+CMS ERROR:")?),
            _ => return None,
        })
    }

    /// Whether this is `OK`.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }

    /// The numeric `+CME ERROR` code, when the module reports numbers (AT+CMEE=1).
    pub fn cme_code(&self) -> Option<u16> {
        match self {
            Self::CmeError(text) => text.parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for FinalResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("OK"),
            Self::Error => f.write_str("ERROR"),
            Self::CmeError(e) => write!(f, "+CME ERROR: {e}"),
            Self::CmsError(e) => write!(f, "+CMS ERROR: {e}"),
            Self::NoCarrier => f.write_str("NO CARRIER"),
            Self::Busy => f.write_str("BUSY"),
            Self::NoAnswer => f.write_str("NO ANSWER"),
            Self::NoDialtone => f.write_str("NO DIALTONE"),
        }
    }
}

/// The name a command's own `+NAME:` info lines carry: `AT+QCFG="band"` → `+QCFG`.
/// `None` for basic commands (`ATI`, `ATE0`).
pub fn command_name(command: &str) -> Option<String> {
    let upper = command.trim().to_ascii_uppercase();
    let rest = upper.strip_prefix("AT")?;
    if !rest.starts_with(['+', '$', '^', '%']) {
        return None;
    }
    let end = rest.find(['=', '?', ';', ' ']).unwrap_or(rest.len());
    rest.get(..end).map(str::to_owned)
}

/// Whether `line`, received while `command` runs, is unsolicited. [inferred] inferred rule: a bare
/// line from [`BARE_URCS`], or a `+NAME: …` line whose name is not the command's own (so
/// `+CPIN: READY` is the answer to `AT+CPIN?` but unsolicited otherwise).
pub fn is_unsolicited(line: &str, command: &str) -> bool {
    let line = line.trim();
    if BARE_URCS.iter().any(|u| line.eq_ignore_ascii_case(u)) {
        return true;
    }
    if !line.starts_with('+') {
        return false;
    }
    let Some(colon) = line.find(':') else { return false };
    let name = line.get(..colon).unwrap_or_default().trim();
    match command_name(command) {
        Some(own) => !name.eq_ignore_ascii_case(&own),
        None => true,
    }
}

/// A complete response to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtResponse {
    /// The command as sent (without the line end).
    pub command: String,
    /// Information lines, in order, without echo, unsolicited lines or the result.
    pub lines: Vec<String>,
    /// The final result code.
    pub result: FinalResult,
    /// Whether the module echoed the command (ATE1).
    pub echoed: bool,
    /// Unsolicited lines that arrived while the command ran.
    pub unsolicited: Vec<String>,
}

/// Collects the lines of one command's response.
#[derive(Debug, Clone)]
pub struct ResponseAssembler {
    command: String,
    lines: Vec<String>,
    unsolicited: Vec<String>,
    echoed: bool,
}

impl ResponseAssembler {
    /// Start collecting the response to `command`.
    pub fn new(command: &str) -> Self {
        Self { command: command.trim().to_owned(), lines: Vec::new(), unsolicited: Vec::new(), echoed: false }
    }

    /// Information lines so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Take one line; returns the response when `line` is the final result code.
    pub fn push_line(&mut self, line: String) -> Option<AtResponse> {
        if let Some(result) = FinalResult::parse(&line) {
            return Some(AtResponse {
                command: std::mem::take(&mut self.command),
                lines: std::mem::take(&mut self.lines),
                result,
                echoed: self.echoed,
                unsolicited: std::mem::take(&mut self.unsolicited),
            });
        }
        if !self.echoed && self.lines.is_empty() && line.eq_ignore_ascii_case(&self.command) {
            self.echoed = true;
        } else if is_unsolicited(&line, &self.command) {
            self.unsolicited.push(line);
        } else {
            self.lines.push(line);
        }
        None
    }
}

/// The bytes the host writes for `command`. [inferred] a bare CR (V.250 S3); fwupd sends
/// CR LF (`docs/facts/quectel.md`), which devices treat the same.
pub fn format_command(command: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(command.len() + 1);
    out.extend_from_slice(command.trim().as_bytes());
    out.push(b'\r');
    out
}

/// The echo a module with ATE1 sends back for `command` (device side).
pub fn format_echo(command: &str) -> Vec<u8> {
    format_command(command)
}

/// A response as a module sends it with ATV1: each line and the result framed by CR LF
/// (`\r\n+QCFG: "secbootstat",0\r\n\r\nOK\r\n`, `docs/facts/quectel.md` [confirmed]) (device side).
pub fn format_response<S: AsRef<str>>(lines: &[S], result: &FinalResult) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(line.as_ref().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n{result}\r\n").as_bytes());
    out
}

/// An unsolicited line as a module sends it (device side).
pub fn format_urc(line: &str) -> Vec<u8> {
    format!("\r\n{line}\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(command: &str, wire: &[u8], cut: usize) -> Option<AtResponse> {
        let mut s = LineSplitter::new();
        let mut a = ResponseAssembler::new(command);
        let mut done = None;
        for chunk in wire.chunks(cut.max(1)) {
            for line in s.feed_collect(chunk) {
                if let Some(r) = a.push_line(line) {
                    done.get_or_insert(r);
                }
            }
        }
        done
    }

    #[test]
    fn real_eg25_replies() {
        // `docs/facts/quectel.md`, "AT commands on a real EG25-G".
        let r = assemble("AT+GETFWBRANCH", b"\r\nERROR\r\n", 64).unwrap();
        assert_eq!((r.result, r.lines.len()), (FinalResult::Error, 0));
        let r =
            assemble("AT+QCFG=\"secbootstat\"", b"\r\n+QCFG: \"secbootstat\",0\r\n\r\nOK\r\n", 64).unwrap();
        assert_eq!(r.lines, vec!["+QCFG: \"secbootstat\",0"]);
        assert!(r.result.is_ok() && !r.echoed && r.unsolicited.is_empty());
        // Echo on, an unsolicited GPS line first (pinephone capture).
        let wire = b"\r\n+QGPSURC: \"xtradataexpire\",0,\"2024/04/17,13:00:00\"\r\nAT+QGMR\r\r\n\
                     EG25GGBR07A08M2G_01.001.01.001\r\n\r\nOK\r\n";
        for cut in 1..wire.len() {
            let r = assemble("AT+QGMR", wire, cut).unwrap();
            assert_eq!(r.lines, vec!["EG25GGBR07A08M2G_01.001.01.001"], "cut {cut}");
            assert!(r.echoed);
            assert_eq!(r.unsolicited, vec!["+QGPSURC: \"xtradataexpire\",0,\"2024/04/17,13:00:00\""]);
        }
    }

    #[test]
    fn ati_with_urcs_interleaved() {
        let wire = b"RDY\r\n\r\n+CPIN: READY\r\nATI\r\r\nQuectel\r\nEC20\r\n+QIND: SMS DONE\r\n\
                     Revision: EC20AQAR02A03E2G\r\n\r\nOK\r\n";
        let r = assemble("ATI", wire, 3).unwrap();
        assert_eq!(r.lines, vec!["Quectel", "EC20", "Revision: EC20AQAR02A03E2G"]);
        assert_eq!(r.unsolicited, vec!["RDY", "+CPIN: READY", "+QIND: SMS DONE"]);
        // The same `+CPIN:` line answers AT+CPIN?.
        let r = assemble("AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n", 64).unwrap();
        assert_eq!(r.lines, vec!["+CPIN: READY"]);
    }

    #[test]
    fn final_results() {
        assert_eq!(FinalResult::parse("OK"), Some(FinalResult::Ok));
        assert_eq!(FinalResult::parse("ERROR"), Some(FinalResult::Error));
        let cme = FinalResult::parse("+CME ERROR: 10").unwrap();
        assert_eq!((cme.cme_code(), cme.to_string()), (Some(10), "+CME ERROR: 10".into()));
        let text = FinalResult::parse("+CME ERROR: SIM not inserted").unwrap();
        assert_eq!(text, FinalResult::CmeError("SIM not inserted".into()));
        assert_eq!(text.cme_code(), None);
        assert_eq!(FinalResult::parse("+CMS ERROR: 500"), Some(FinalResult::CmsError("500".into())));
        assert_eq!(FinalResult::parse("NO CARRIER"), Some(FinalResult::NoCarrier));
        assert_eq!(FinalResult::parse("OKAY"), None);
        assert_eq!(FinalResult::parse("Revision: OK"), None);
    }

    #[test]
    fn command_names_and_unsolicited_rule() {
        assert_eq!(command_name("AT+QCFG=\"band\""), Some("+QCFG".into()));
        assert_eq!(command_name("at+cpin?"), Some("+CPIN".into()));
        assert_eq!(command_name("ATI"), None);
        assert!(is_unsolicited("+QIND: PB DONE", "AT+QGMR"));
        assert!(!is_unsolicited("+QCFG: \"band\",0", "AT+QCFG=\"band\""));
        assert!(is_unsolicited("RDY", "ATI"));
        assert!(!is_unsolicited("EC25EFAR06A11M4G", "AT+CGMR"));
    }

    #[test]
    fn formatting_for_the_device_side() {
        assert_eq!(format_command("AT+QGMR"), b"AT+QGMR\r");
        assert_eq!(
            format_response(&["+QCFG: \"secbootstat\",0"], &FinalResult::Ok),
            b"\r\n+QCFG: \"secbootstat\",0\r\n\r\nOK\r\n"
        );
        assert_eq!(format_response::<&str>(&[], &FinalResult::Error), b"\r\nERROR\r\n");
        assert_eq!(format_urc("RDY"), b"\r\nRDY\r\n");
        // The device reads commands with the same splitter, CR or CR LF terminated.
        let mut s = LineSplitter::new();
        assert_eq!(s.feed_collect(b"AT+GETFWBRANCH\r\nATI\r"), vec!["AT+GETFWBRANCH", "ATI"]);
    }

    #[test]
    fn incomplete_and_overlong_input() {
        assert_eq!(assemble("ATI", b"\r\nQuectel\r\nOK", 64), None, "OK without line end is not final yet");
        let mut s = LineSplitter::new();
        assert!(s.feed_collect(&[b'A'; 5000]).is_empty());
        assert_eq!(s.pending().len(), MAX_LINE);
        let lines = s.feed_collect(b"\r\n");
        assert_eq!(lines[0].len(), MAX_LINE);
        assert!(s.pending().is_empty());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
                        cmd in "[ -~]{0,20}") {
            let _ = assemble(&cmd, &data, 7);
            let _ = command_name(&cmd);
        }

        #[test]
        fn response_round_trips(lines in proptest::collection::vec("[A-Za-z0-9_.: ]{1,30}", 0..5),
                                cut in 1usize..20) {
            let lines: Vec<String> = lines.into_iter().map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty() && FinalResult::parse(l).is_none()
                        && !is_unsolicited(l, "AT+QGMR") && !l.eq_ignore_ascii_case("AT+QGMR"))
                .collect();
            let wire = format_response(&lines, &FinalResult::Ok);
            let r = assemble("AT+QGMR", &wire, cut).unwrap();
            proptest::prop_assert_eq!(r.lines, lines);
        }
    }
}
