//! Pure DIAG codec for the few commands a flasher needs, both directions. Payloads here are
//! HDLC payloads (command byte onward); framing is [`crate::protocol::hdlc`]'s job.
//! Multi-byte DIAG fields are little-endian (`docs/facts/hdlc-diag.md`).

use super::DiagError;

/// Extended build ID (`docs/facts/hdlc-diag.md`) [confirmed].
pub const CMD_EXT_BUILD_ID: u8 = 0x7C;
/// Switch to DMSS download mode; the reply is an echo [confirmed].
pub const CMD_DLOAD: u8 = 0x3A;
/// Subsystem dispatch: id u8, command u16 LE, payload [confirmed].
pub const CMD_SUBSYS: u8 = 0x4B;
/// Subsystem id of the "reboot to EDL" command [confirmed].
pub const SUBSYS_EDL_ID: u8 = 0x65;
/// Subsystem command of the "reboot to EDL" command [confirmed].
pub const SUBSYS_EDL_CMD: u16 = 0x0001;
/// The whole EDL request payload, `4B 65 01 00`.
pub const EDL_REQUEST: [u8; 4] = [CMD_SUBSYS, SUBSYS_EDL_ID, 0x01, 0x00];
/// Bytes before the SW revision string in an EXT_BUILD_ID reply: code, version, 2 reserved,
/// msm_hw_version u32, mobile_model u32 (`docs/facts/quectel.md`: "version string from byte 12").
pub const EXT_BUILD_ID_HEADER_LEN: usize = 12;

/// Why the DIAG task refused a request; each reply echoes the request after its code
/// (`docs/facts/hdlc-diag.md`) [confirmed].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectKind {
    /// 0x13: unknown command (also the normal-mode answer to a DMSS NOP).
    BadCommand,
    /// 0x14: bad parameter.
    BadParameter,
    /// 0x15: bad length.
    BadLength,
    /// 0x18: command not allowed in the current mode.
    BadMode,
}

impl RejectKind {
    /// The reply code.
    pub fn code(self) -> u8 {
        match self {
            Self::BadCommand => 0x13,
            Self::BadParameter => 0x14,
            Self::BadLength => 0x15,
            Self::BadMode => 0x18,
        }
    }

    /// The kind for a reply code, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0x13 => Some(Self::BadCommand),
            0x14 => Some(Self::BadParameter),
            0x15 => Some(Self::BadLength),
            0x18 => Some(Self::BadMode),
            _ => None,
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadCommand => "bad command",
            Self::BadParameter => "bad parameter",
            Self::BadLength => "bad length",
            Self::BadMode => "bad mode",
        }
    }
}

impl std::fmt::Display for RejectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#04x} ({})", self.code(), self.name())
    }
}

/// EXT_BUILD_ID reply contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtBuildId {
    /// Reply format version.
    pub version: u8,
    /// The two reserved bytes, kept as sent.
    pub reserved: [u8; 2],
    /// MSM hardware version (LE32).
    pub msm_hw_version: u32,
    /// Mobile model (LE32).
    pub mobile_model: u32,
    /// The software revision, e.g. `EC25EFAR06A11M4G` (lossy UTF-8).
    pub revision: String,
    /// Further NUL-separated strings after the revision, empty ones dropped. [inferred]
    /// the first is the model string; the layout after the revision is unconfirmed.
    pub extra: Vec<String>,
}

/// A host → device DIAG request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiagRequest {
    /// `7C`.
    ExtBuildId,
    /// `3A`.
    Dload,
    /// `4B 65 01 00`.
    Edl,
    /// Any other subsystem command.
    Subsys { id: u8, cmd: u16, payload: Vec<u8> },
    /// Any other command, whole payload (the device answers it with a bad-command echo).
    Other(Vec<u8>),
}

/// A device → host DIAG reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiagReply {
    /// The EXT_BUILD_ID answer.
    ExtBuildId(ExtBuildId),
    /// Echo of `3A`.
    Dload,
    /// A subsystem reply: header echo and any payload.
    Subsys { id: u8, cmd: u16, payload: Vec<u8> },
    /// 0x13/0x14/0x15/0x18 with the echoed request.
    Rejected { kind: RejectKind, request: Vec<u8> },
    /// Any other reply, whole payload.
    Other(Vec<u8>),
}

fn le32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
}

fn single(what: &'static str, payload: &[u8]) -> Result<(), DiagError> {
    if payload.len() > 1 { Err(DiagError::Long { what, expected: 1, got: payload.len() }) } else { Ok(()) }
}

fn subsys_header<'a>(what: &'static str, payload: &'a [u8]) -> Result<(u8, u16, &'a [u8]), DiagError> {
    match payload {
        [_, id, lo, hi, rest @ ..] => Ok((*id, u16::from_le_bytes([*lo, *hi]), rest)),
        _ => Err(DiagError::Short { what, expected: 4, got: payload.len() }),
    }
}

fn encode_subsys(id: u8, cmd: u16, payload: &[u8]) -> Vec<u8> {
    let [lo, hi] = cmd.to_le_bytes();
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&[CMD_SUBSYS, id, lo, hi]);
    out.extend_from_slice(payload);
    out
}

/// Encode a host request.
pub fn encode_request(req: &DiagRequest) -> Vec<u8> {
    match req {
        DiagRequest::ExtBuildId => vec![CMD_EXT_BUILD_ID],
        DiagRequest::Dload => vec![CMD_DLOAD],
        DiagRequest::Edl => EDL_REQUEST.to_vec(),
        DiagRequest::Subsys { id, cmd, payload } => encode_subsys(*id, *cmd, payload),
        DiagRequest::Other(bytes) => bytes.clone(),
    }
}

/// Parse a host request (device side).
pub fn parse_request(payload: &[u8]) -> Result<DiagRequest, DiagError> {
    let (&code, _) = payload.split_first().ok_or(DiagError::Empty)?;
    match code {
        CMD_EXT_BUILD_ID => single("EXT_BUILD_ID request", payload).map(|()| DiagRequest::ExtBuildId),
        CMD_DLOAD => single("DLOAD request", payload).map(|()| DiagRequest::Dload),
        CMD_SUBSYS => {
            let (id, cmd, rest) = subsys_header("SUBSYS request", payload)?;
            if id == SUBSYS_EDL_ID && cmd == SUBSYS_EDL_CMD && rest.is_empty() {
                Ok(DiagRequest::Edl)
            } else {
                Ok(DiagRequest::Subsys { id, cmd, payload: rest.to_vec() })
            }
        }
        _ => Ok(DiagRequest::Other(payload.to_vec())),
    }
}

/// Encode an EXT_BUILD_ID reply (device side).
pub fn encode_ext_build_id(b: &ExtBuildId) -> Vec<u8> {
    let mut out = Vec::with_capacity(EXT_BUILD_ID_HEADER_LEN + b.revision.len() + 1);
    out.push(CMD_EXT_BUILD_ID);
    out.push(b.version);
    out.extend_from_slice(&b.reserved);
    out.extend_from_slice(&b.msm_hw_version.to_le_bytes());
    out.extend_from_slice(&b.mobile_model.to_le_bytes());
    for s in std::iter::once(&b.revision).chain(&b.extra) {
        out.extend(s.bytes().filter(|&c| c != 0));
        out.push(0);
    }
    out
}

/// Parse an EXT_BUILD_ID reply.
pub fn parse_ext_build_id(payload: &[u8]) -> Result<ExtBuildId, DiagError> {
    match payload.first() {
        None => return Err(DiagError::Empty),
        Some(&CMD_EXT_BUILD_ID) => {}
        Some(&other) => {
            return Err(DiagError::WrongCode { what: "EXT_BUILD_ID reply", expected: 0x7C, got: other });
        }
    }
    let (header, strings) = payload.split_at_checked(EXT_BUILD_ID_HEADER_LEN).ok_or(DiagError::Short {
        what: "EXT_BUILD_ID reply",
        expected: 13,
        got: payload.len(),
    })?;
    let field = |at: usize| le32(header.get(at..).unwrap_or_default()).unwrap_or_default();
    let version = header.get(1).copied().unwrap_or_default();
    let reserved = [header.get(2).copied().unwrap_or_default(), header.get(3).copied().unwrap_or_default()];
    let nul = strings.iter().position(|&b| b == 0).ok_or(DiagError::Malformed {
        what: "EXT_BUILD_ID reply",
        detail: "the SW revision string has no NUL terminator",
    })?;
    let revision = String::from_utf8_lossy(strings.get(..nul).unwrap_or_default()).into_owned();
    let extra = strings
        .get(nul + 1..)
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    Ok(ExtBuildId { version, reserved, msm_hw_version: field(4), mobile_model: field(8), revision, extra })
}

/// The bad-command reply to `request` (device side): `13` followed by the request.
pub fn reject(kind: RejectKind, request: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(request.len() + 1);
    out.push(kind.code());
    out.extend_from_slice(request);
    out
}

/// Encode a device reply (device side).
pub fn encode_reply(reply: &DiagReply) -> Vec<u8> {
    match reply {
        DiagReply::ExtBuildId(b) => encode_ext_build_id(b),
        DiagReply::Dload => vec![CMD_DLOAD],
        DiagReply::Subsys { id, cmd, payload } => encode_subsys(*id, *cmd, payload),
        DiagReply::Rejected { kind, request } => reject(*kind, request),
        DiagReply::Other(bytes) => bytes.clone(),
    }
}

/// Parse a device reply (host side).
pub fn parse_reply(payload: &[u8]) -> Result<DiagReply, DiagError> {
    let (&code, rest) = payload.split_first().ok_or(DiagError::Empty)?;
    if let Some(kind) = RejectKind::from_code(code) {
        return Ok(DiagReply::Rejected { kind, request: rest.to_vec() });
    }
    match code {
        CMD_EXT_BUILD_ID => parse_ext_build_id(payload).map(DiagReply::ExtBuildId),
        CMD_DLOAD => single("DLOAD echo", payload).map(|()| DiagReply::Dload),
        CMD_SUBSYS => {
            let (id, cmd, rest) = subsys_header("SUBSYS reply", payload)?;
            Ok(DiagReply::Subsys { id, cmd, payload: rest.to_vec() })
        }
        _ => Ok(DiagReply::Other(payload.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::hdlc::{Decoder, encode};

    use crate::testutil::hex;

    #[test]
    fn worked_frames_byte_exact() {
        assert_eq!(encode(&encode_request(&DiagRequest::Dload), false), hex("3a a1 6e 7e"));
        assert_eq!(encode(&encode_request(&DiagRequest::Edl), false), hex("4b 65 01 00 54 0f 7e"));
        assert_eq!(encode(&encode_request(&DiagRequest::ExtBuildId), true), hex("7e 7c 93 49 7e"));
        assert_eq!(encode(&encode_request(&DiagRequest::ExtBuildId), false), hex("7c 93 49 7e"));
        let bad = encode_reply(&DiagReply::Rejected { kind: RejectKind::BadCommand, request: vec![0x06] });
        assert_eq!(encode(&bad, false), hex("13 06 88 d5 7e"));
        let mut d = Decoder::default();
        let frames = d.feed_collect(&hex("13 06 88 d5 7e"));
        assert_eq!(
            parse_reply(frames[0].as_ref().unwrap()).unwrap(),
            DiagReply::Rejected { kind: RejectKind::BadCommand, request: vec![0x06] }
        );
    }

    #[test]
    fn requests_round_trip() {
        let cases: &[(DiagRequest, &str)] = &[
            (DiagRequest::ExtBuildId, "7c"),
            (DiagRequest::Dload, "3a"),
            (DiagRequest::Edl, "4b 65 01 00"),
            (DiagRequest::Subsys { id: 0x65, cmd: 2, payload: vec![] }, "4b 65 02 00"),
            (DiagRequest::Subsys { id: 0x13, cmd: 0x0102, payload: vec![9] }, "4b 13 02 01 09"),
            (DiagRequest::Other(vec![0x06]), "06"),
        ];
        for (req, bytes) in cases {
            assert_eq!(encode_request(req), hex(bytes), "{req:?}");
            assert_eq!(parse_request(&hex(bytes)).unwrap(), *req, "{bytes}");
        }
    }

    fn sample() -> ExtBuildId {
        ExtBuildId {
            version: 1,
            reserved: [0, 0],
            msm_hw_version: 0x0009_00E1,
            mobile_model: 0x0000_0F9D,
            revision: "EC25EFAR06A11M4G".into(),
            extra: vec!["EC25".into()],
        }
    }

    #[test]
    fn ext_build_id_layout() {
        let bytes = encode_ext_build_id(&sample());
        let mut want = hex("7c 01 00 00 e1 00 09 00 9d 0f 00 00");
        want.extend_from_slice(b"EC25EFAR06A11M4G\0EC25\0");
        assert_eq!(bytes, want);
        assert_eq!(parse_reply(&bytes).unwrap(), DiagReply::ExtBuildId(sample()));
        // Padding NULs and an unterminated tail are tolerated in the extras.
        let mut padded = bytes.clone();
        padded.extend_from_slice(b"\0\0tail");
        let parsed = parse_ext_build_id(&padded).unwrap();
        assert_eq!(parsed.extra, vec!["EC25".to_string(), "tail".to_string()]);
        // Only a revision, no extras.
        let mut bare = hex("7c 02 00 00 00 00 00 00 00 00 00 00");
        bare.extend_from_slice(b"X\0");
        let parsed = parse_ext_build_id(&bare).unwrap();
        assert_eq!((parsed.revision.as_str(), parsed.extra.len(), parsed.version), ("X", 0, 2));
    }

    #[test]
    fn replies_round_trip() {
        let cases = [
            DiagReply::Dload,
            DiagReply::Subsys { id: 0x65, cmd: 1, payload: vec![] },
            DiagReply::Rejected { kind: RejectKind::BadParameter, request: vec![0x26, 1] },
            DiagReply::Rejected { kind: RejectKind::BadLength, request: vec![0x7c, 0] },
            DiagReply::Rejected { kind: RejectKind::BadMode, request: vec![0x3a] },
            DiagReply::Other(vec![0x00, 0x01]),
            DiagReply::ExtBuildId(sample()),
        ];
        for r in cases {
            assert_eq!(parse_reply(&encode_reply(&r)).unwrap(), r);
        }
        assert_eq!(RejectKind::BadMode.to_string(), "0x18 (bad mode)");
    }

    #[test]
    fn short_long_and_corrupt_are_typed_errors() {
        assert!(matches!(parse_reply(&[]), Err(DiagError::Empty)));
        assert!(matches!(parse_request(&[]), Err(DiagError::Empty)));
        assert!(matches!(
            parse_reply(&hex("7c 01 00 00 e1")),
            Err(DiagError::Short { expected: 13, got: 5, .. })
        ));
        let unterminated = [&hex("7c 01 00 00 00 00 00 00 00 00 00 00")[..], b"EC25"].concat();
        assert!(matches!(parse_reply(&unterminated), Err(DiagError::Malformed { .. })));
        assert!(matches!(parse_ext_build_id(&hex("3a")), Err(DiagError::WrongCode { got: 0x3a, .. })));
        assert!(matches!(parse_reply(&hex("3a 00")), Err(DiagError::Long { expected: 1, got: 2, .. })));
        assert!(matches!(parse_reply(&hex("4b 65 01")), Err(DiagError::Short { expected: 4, got: 3, .. })));
        assert!(matches!(parse_request(&hex("7c 7c")), Err(DiagError::Long { .. })));
        assert!(matches!(parse_request(&hex("4b 65")), Err(DiagError::Short { .. })));
        let e = parse_reply(&hex("4b 65")).unwrap_err().to_string();
        assert!(e.contains("SUBSYS") && e.contains('4') && e.contains('2'), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_reply(&data);
            let _ = parse_request(&data);
            let _ = parse_ext_build_id(&data);
        }

        #[test]
        fn ext_build_id_round_trips(version in proptest::num::u8::ANY, hw in proptest::num::u32::ANY,
                                    model in proptest::num::u32::ANY, rev in "[A-Z0-9_.]{0,40}") {
            let b = ExtBuildId { version, reserved: [0, 0], msm_hw_version: hw, mobile_model: model,
                                 revision: rev, extra: vec![] };
            proptest::prop_assert_eq!(parse_ext_build_id(&encode_ext_build_id(&b)).unwrap(), b);
        }
    }
}
