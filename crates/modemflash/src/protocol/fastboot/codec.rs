//! Pure fastboot messages (`docs/facts/fastboot.md`): ASCII commands of at most 64 bytes, and
//! replies of at most 256 bytes starting with `OKAY`, `FAIL`, `DATA`, `INFO` or `TEXT`.
//! Both directions encode and decode, so the simulator can play the device.

use super::FastbootError;

/// Longest command (`docs/facts/fastboot.md`).
pub const MAX_COMMAND_LEN: usize = 64;
/// Longest reply (`docs/facts/fastboot.md`; older hosts read 64).
pub const MAX_REPLY_LEN: usize = 256;

/// A host command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `getvar:NAME`
    GetVar(String),
    /// `download:%08x`
    Download(u32),
    /// `upload`
    Upload,
    /// `flash:PARTITION`
    Flash(String),
    /// `erase:PARTITION`
    Erase(String),
    /// `boot`
    Boot,
    /// `continue`
    Continue,
    /// `reboot`
    Reboot,
    /// `reboot-bootloader`
    RebootBootloader,
    /// `oem ARGS`
    Oem(String),
    /// Anything else (`set_active:a`, `flashing unlock`, …), verbatim.
    Other(String),
}

impl Command {
    /// The wire text.
    pub fn to_text(&self) -> String {
        match self {
            Self::GetVar(v) => format!("getvar:{v}"),
            Self::Download(n) => format!("download:{n:08x}"),
            Self::Upload => "upload".into(),
            Self::Flash(p) => format!("flash:{p}"),
            Self::Erase(p) => format!("erase:{p}"),
            Self::Boot => "boot".into(),
            Self::Continue => "continue".into(),
            Self::Reboot => "reboot".into(),
            Self::RebootBootloader => "reboot-bootloader".into(),
            Self::Oem(a) => format!("oem {a}"),
            Self::Other(s) => s.clone(),
        }
    }

    /// The wire bytes, validated: 1..=64 printable ASCII bytes, and a non-empty argument
    /// for `getvar`, `flash` and `erase`.
    pub fn encode(&self) -> Result<Vec<u8>, FastbootError> {
        let text = self.to_text();
        let empty_arg = match self {
            Self::GetVar(a) | Self::Flash(a) | Self::Erase(a) | Self::Oem(a) => a.is_empty(),
            _ => false,
        };
        if empty_arg {
            return Err(FastbootError::BadCommand { text, why: "the argument must not be empty" });
        }
        validate_command(text.as_bytes())?;
        Ok(text.into_bytes())
    }
}

fn validate_command(bytes: &[u8]) -> Result<(), FastbootError> {
    if bytes.len() > MAX_COMMAND_LEN {
        return Err(FastbootError::CommandTooLong { len: bytes.len() });
    }
    if bytes.is_empty() {
        return Err(FastbootError::BadCommand { text: String::new(), why: "a command must not be empty" });
    }
    if !bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(FastbootError::BadCommand {
            text: String::from_utf8_lossy(bytes).into_owned(),
            why: "only printable ASCII is allowed",
        });
    }
    Ok(())
}

/// Parse a command (device side).
pub fn parse_command(bytes: &[u8]) -> Result<Command, FastbootError> {
    validate_command(bytes)?;
    let text = String::from_utf8_lossy(bytes).into_owned();
    let arg = |prefix: &str| text.strip_prefix(prefix).map(str::to_owned);
    if let Some(v) = arg("getvar:") {
        return Ok(Command::GetVar(v));
    }
    if let Some(hex) = arg("download:") {
        let ok = !hex.is_empty() && hex.len() <= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        return match u32::from_str_radix(&hex, 16) {
            Ok(n) if ok => Ok(Command::Download(n)),
            _ => Err(FastbootError::BadCommand { text, why: "download takes 1 to 8 hex digits" }),
        };
    }
    if let Some(p) = arg("flash:") {
        return Ok(Command::Flash(p));
    }
    if let Some(p) = arg("erase:") {
        return Ok(Command::Erase(p));
    }
    if let Some(a) = arg("oem ") {
        return Ok(Command::Oem(a));
    }
    Ok(match text.as_str() {
        "upload" => Command::Upload,
        "boot" => Command::Boot,
        "continue" => Command::Continue,
        "reboot" => Command::Reboot,
        "reboot-bootloader" => Command::RebootBootloader,
        _ => Command::Other(text),
    })
}

/// A device reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `OKAY` + value (e.g. a getvar answer); final.
    Okay(String),
    /// `FAIL` + message; final.
    Fail(String),
    /// `DATA%08x`: the host sends this many bytes next.
    Data(u32),
    /// `INFO` + text; keep reading.
    Info(String),
    /// `TEXT` + raw text; keep reading.
    Text(String),
}

impl Reply {
    /// The wire bytes (device side). At most 256 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, FastbootError> {
        let (prefix, body) = match self {
            Self::Okay(s) => ("OKAY", s.clone()),
            Self::Fail(s) => ("FAIL", s.clone()),
            Self::Data(n) => ("DATA", format!("{n:08x}")),
            Self::Info(s) => ("INFO", s.clone()),
            Self::Text(s) => ("TEXT", s.clone()),
        };
        let mut out = Vec::with_capacity(4 + body.len());
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(body.as_bytes());
        if out.len() > MAX_REPLY_LEN {
            return Err(FastbootError::ReplyTooLong { len: out.len() });
        }
        Ok(out)
    }

    /// Whether this reply ends the command (`OKAY`, `FAIL`, `DATA`).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Okay(_) | Self::Fail(_) | Self::Data(_))
    }
}

/// Parse a reply (host side).
pub fn parse_reply(bytes: &[u8]) -> Result<Reply, FastbootError> {
    if bytes.len() > MAX_REPLY_LEN {
        return Err(FastbootError::ReplyTooLong { len: bytes.len() });
    }
    let bad = |why: &'static str| FastbootError::BadReply {
        reply: String::from_utf8_lossy(bytes).into_owned(),
        why,
    };
    let (Some(prefix), Some(body)) = (bytes.get(..4), bytes.get(4..)) else {
        return Err(bad("expected at least a 4-byte OKAY/FAIL/DATA/INFO/TEXT prefix"));
    };
    let text = || String::from_utf8_lossy(body).into_owned();
    match prefix {
        b"OKAY" => Ok(Reply::Okay(text())),
        b"FAIL" => Ok(Reply::Fail(text())),
        b"INFO" => Ok(Reply::Info(text())),
        b"TEXT" => Ok(Reply::Text(text())),
        b"DATA" => {
            if body.len() != 8 || !body.iter().all(u8::is_ascii_hexdigit) {
                return Err(bad("DATA must be followed by exactly 8 hex digits"));
            }
            u32::from_str_radix(&text(), 16).map(Reply::Data).map_err(|_| bad("DATA size is not hex"))
        }
        _ => Err(bad("expected a reply starting with OKAY, FAIL, DATA, INFO or TEXT")),
    }
}

/// Parse a `max-download-size` value the way AOSP does (`docs/facts/fastboot.md`): trimmed,
/// `0x…` hex or decimal. Seen values: `0x10000000`, `268435456`.
pub fn parse_max_download_size(value: &str) -> Result<u64, FastbootError> {
    let t = value.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() => u64::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None => t.parse::<u64>().ok(),
    };
    parsed.ok_or_else(|| FastbootError::BadNumber {
        what: "max-download-size",
        text: value.to_owned(),
        expected: "0x-prefixed hex or decimal",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn command_bytes() {
        let cases: [(Command, &[u8]); 11] = [
            (Command::GetVar("product".into()), b"getvar:product"),
            (Command::Download(0x1000), b"download:00001000"),
            (Command::Download(0xdead_beef), b"download:deadbeef"),
            (Command::Flash("aboot".into()), b"flash:aboot"),
            (Command::Erase("system".into()), b"erase:system"),
            (Command::Reboot, b"reboot"),
            (Command::RebootBootloader, b"reboot-bootloader"),
            (Command::Continue, b"continue"),
            (Command::Boot, b"boot"),
            (Command::Oem("device-info".into()), b"oem device-info"),
            (Command::Other("set_active:a".into()), b"set_active:a"),
        ];
        for (cmd, bytes) in cases {
            assert_eq!(cmd.encode().unwrap(), bytes);
            assert_eq!(parse_command(bytes).unwrap(), cmd);
        }
        assert_eq!(parse_command(b"upload").unwrap(), Command::Upload);
    }

    #[test]
    fn sargo_trace_commands() {
        // fastboot-google-sargo-setup.txt: the five getvars fwupd sends, with their lengths.
        for (name, len) in [
            ("product", 0xe),
            ("version-device", 0x15),
            ("version-bootloader", 0x19),
            ("serialno", 0xf),
            ("secure", 0xd),
        ] {
            assert_eq!(Command::GetVar(name.into()).encode().unwrap().len(), len);
        }
    }

    #[test]
    fn command_validation() {
        let long = "x".repeat(60);
        assert!(matches!(Command::GetVar(long).encode(), Err(FastbootError::CommandTooLong { len: 67 })));
        assert!(matches!(Command::Flash(String::new()).encode(), Err(FastbootError::BadCommand { .. })));
        assert!(matches!(Command::GetVar("a\nb".into()).encode(), Err(FastbootError::BadCommand { .. })));
        assert!(matches!(parse_command(b""), Err(FastbootError::BadCommand { .. })));
        assert!(matches!(parse_command(&[b'a'; 65]), Err(FastbootError::CommandTooLong { len: 65 })));
        assert!(matches!(parse_command(b"download:xyz"), Err(FastbootError::BadCommand { .. })));
        assert!(matches!(parse_command(b"download:123456789"), Err(FastbootError::BadCommand { .. })));
        assert!(matches!(parse_command(b"download:"), Err(FastbootError::BadCommand { .. })));
        assert!(matches!(parse_command(b"getvar:\x00"), Err(FastbootError::BadCommand { .. })));
        assert_eq!(parse_command(b"download:1f").unwrap(), Command::Download(0x1f));
    }

    #[test]
    fn sargo_trace_replies() {
        assert_eq!(parse_reply(b"OKAYsargo").unwrap(), Reply::Okay("sargo".into()));
        assert_eq!(parse_reply(b"FAILvariable not found").unwrap(), Reply::Fail("variable not found".into()));
        assert_eq!(parse_reply(b"OKAYb4s4-0.4-8048689").unwrap(), Reply::Okay("b4s4-0.4-8048689".into()));
        assert_eq!(parse_reply(b"OKAY97XAY12BGM").unwrap(), Reply::Okay("97XAY12BGM".into()));
        assert_eq!(parse_reply(b"OKAYyes").unwrap(), Reply::Okay("yes".into()));
        assert_eq!(Reply::Okay("sargo".into()).encode().unwrap(), b"OKAYsargo");
        assert_eq!(Reply::Fail("variable not found".into()).encode().unwrap(), b"FAILvariable not found");
    }

    #[test]
    fn other_replies() {
        assert_eq!(parse_reply(b"OKAY").unwrap(), Reply::Okay(String::new()));
        assert_eq!(parse_reply(b"DATA00001000").unwrap(), Reply::Data(0x1000));
        assert_eq!(parse_reply(b"DATAdeadBEEF").unwrap(), Reply::Data(0xdead_beef));
        assert_eq!(parse_reply(b"INFOerasing").unwrap(), Reply::Info("erasing".into()));
        assert_eq!(parse_reply(b"TEXTraw").unwrap(), Reply::Text("raw".into()));
        assert_eq!(Reply::Data(0x1000).encode().unwrap(), b"DATA00001000");
        assert_eq!(Reply::Info("x".into()).encode().unwrap(), b"INFOx");
        assert_eq!(Reply::Text("y".into()).encode().unwrap(), b"TEXTy");
        assert!(Reply::Data(1).is_final() && !Reply::Info(String::new()).is_final());
    }

    #[test]
    fn reply_errors() {
        for bad in
            [&b""[..], b"OKA", b"HELLO", b"DATA1234567", b"DATA123456789", b"DATA0000000g", b"DATA+0000001"]
        {
            assert!(matches!(parse_reply(bad), Err(FastbootError::BadReply { .. })), "{bad:?}");
        }
        let long = [b'O'; 257];
        assert!(matches!(parse_reply(&long), Err(FastbootError::ReplyTooLong { len: 257 })));
        assert!(matches!(
            Reply::Info("x".repeat(253)).encode(),
            Err(FastbootError::ReplyTooLong { len: 257 })
        ));
        assert_eq!(Reply::Info("x".repeat(252)).encode().unwrap().len(), 256);
    }

    #[test]
    fn max_download_size_values() {
        assert_eq!(parse_max_download_size("0x10000000").unwrap(), 0x1000_0000);
        assert_eq!(parse_max_download_size("268435456").unwrap(), 268_435_456);
        assert_eq!(parse_max_download_size(" 0X2000\n").unwrap(), 0x2000);
        assert_eq!(parse_max_download_size("0800").unwrap(), 800);
        for bad in ["", "0x", "12ab", "-5", "0x-1", "big"] {
            assert!(matches!(parse_max_download_size(bad), Err(FastbootError::BadNumber { .. })), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_reply(&data);
            let _ = parse_command(&data);
            let _ = parse_max_download_size(&String::from_utf8_lossy(&data));
        }

        #[test]
        fn reply_round_trip(s in "[ -~]{0,252}", n in any::<u32>()) {
            for r in [Reply::Okay(s.clone()), Reply::Fail(s.clone()), Reply::Info(s.clone()), Reply::Text(s.clone()), Reply::Data(n)] {
                prop_assert_eq!(parse_reply(&r.encode().unwrap()).unwrap(), r);
            }
        }
    }
}
