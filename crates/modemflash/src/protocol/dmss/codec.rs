//! Pure DMSS message codec, both directions. Payloads here are HDLC payloads (command byte
//! onward, CRC and flags excluded); framing is [`crate::protocol::hdlc`]'s job.
//!
//! All multi-byte fields are big-endian (`docs/facts/dmss.md`, [confirmed]).

use super::DmssError;

/// WRITE_32BIT, host → target: addr BE32, len BE16, data (`docs/facts/dmss.md`) [confirmed].
pub const CMD_WRITE32: u8 = 0x0F;
/// ACK, target → host [confirmed].
pub const CMD_ACK: u8 = 0x02;
/// NAK with a BE16 reason, target → host [confirmed].
pub const CMD_NAK: u8 = 0x03;
/// GO (execute at a BE32 address), host → target [confirmed].
pub const CMD_GO: u8 = 0x05;
/// NOP, host → target, answered by ACK [confirmed].
pub const CMD_NOP: u8 = 0x06;
/// PARAM_REQ ("PREQ"), host → target [confirmed].
pub const CMD_PARAM_REQ: u8 = 0x07;
/// PARAM_RESP ("PARAMS"), target → host [confirmed].
pub const CMD_PARAM_RESP: u8 = 0x08;
/// RESET, host → target, answered by ACK [confirmed].
pub const CMD_RESET: u8 = 0x0A;
/// SW_VERSION_REQ, host → target [confirmed].
pub const CMD_SW_VERSION_REQ: u8 = 0x0C;
/// SW_VERSION_RESP (len u8, ASCII), target → host [confirmed]. QFlash skips it while waiting for
/// the ACK to a NOP (`docs/facts/dmss.md`).
pub const CMD_SW_VERSION_RESP: u8 = 0x0D;

/// Data bytes per WRITE_32BIT packet used by Quectel QFlash: 0x3F9, so that opcode, address,
/// length and data make 1024 bytes before the CRC (`docs/facts/dmss.md`) [confirmed].
pub const MAX_WRITE32_DATA: usize = 1017;
/// Bytes before the data in a WRITE_32BIT packet: opcode, BE32 address, BE16 length.
pub const WRITE32_HEADER_LEN: usize = 7;
/// Length of a PARAM_RESP payload including its opcode (`docs/facts/dmss.md`) [confirmed].
pub const PARAMS_LEN: usize = 8;

/// A DMSS NAK reason (BE16). Unknown codes are kept as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NakReason(pub u16);

impl NakReason {
    /// The meaning of this code from `docs/facts/dmss.md` [confirmed], or `"unknown reason"`.
    pub fn name(self) -> &'static str {
        match self.0 {
            0x01 => "invalid frame FCS",
            0x02 => "invalid destination address",
            0x03 => "invalid length",
            0x04 => "unexpected end of packet",
            0x05 => "data length too large",
            0x06 => "invalid command",
            0x07 => "operation failed",
            0x08 => "wrong flash intelligent ID",
            0x09 => "bad programming voltage",
            0x0A => "write-verify failed",
            0x0B => "not permitted without unlock",
            0x0C => "incorrect security code",
            0x0D => "cannot power down",
            0x0E => "operation not permitted now",
            0x0F => "invalid read address",
            _ => "unknown reason",
        }
    }

    /// Invalid frame FCS (0x01).
    pub const INVALID_FCS: Self = Self(0x01);
    /// Invalid destination address (0x02).
    pub const INVALID_ADDRESS: Self = Self(0x02);
    /// Invalid length (0x03).
    pub const INVALID_LENGTH: Self = Self(0x03);
    /// Unexpected end of packet (0x04).
    pub const UNEXPECTED_END: Self = Self(0x04);
    /// Data length too large (0x05).
    pub const DATA_TOO_LARGE: Self = Self(0x05);
    /// Invalid command (0x06).
    pub const INVALID_COMMAND: Self = Self(0x06);
    /// Operation failed (0x07).
    pub const FAILED: Self = Self(0x07);
}

impl std::fmt::Display for NakReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#06x} ({})", self.0, self.name())
    }
}

/// PARAM_RESP contents (`docs/facts/dmss.md`) [confirmed].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Protocol version.
    pub version: u8,
    /// Minimum protocol version the target accepts.
    pub min_version: u8,
    /// Maximum write size (BE16). [inferred] taken as the largest WRITE_32BIT data length.
    pub max_write_size: u16,
    /// Model number.
    pub model: u8,
    /// Device size code (0 invalid, 1 = 4 Mbit … 6 = 64 Mbit).
    pub device_size: u8,
    /// Device type.
    pub device_type: u8,
}

/// A host → target DMSS command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmssRequest {
    /// 0x06.
    Nop,
    /// 0x07.
    ParamReq,
    /// 0x0F: write `data` at `addr`.
    Write32 { addr: u32, data: Vec<u8> },
    /// 0x05: jump to `addr`.
    Go { addr: u32 },
    /// 0x0A.
    Reset,
    /// 0x0C.
    SwVersionReq,
}

/// A target → host DMSS reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmssReply {
    /// 0x02.
    Ack,
    /// 0x03 with its reason.
    Nak(NakReason),
    /// 0x08.
    Params(Params),
    /// 0x0D: software version text (lossy UTF-8).
    SwVersion(String),
}

/// Append the WRITE_32BIT payload for `data` at `addr` to `out`.
pub fn encode_write32_into(addr: u32, data: &[u8], out: &mut Vec<u8>) -> Result<(), DmssError> {
    let len = u16::try_from(data.len())
        .map_err(|_| DmssError::DataTooLarge { len: data.len(), max: usize::from(u16::MAX) })?;
    out.reserve(WRITE32_HEADER_LEN + data.len());
    out.push(CMD_WRITE32);
    out.extend_from_slice(&addr.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// The GO payload for `addr`.
pub fn encode_go(addr: u32) -> [u8; 5] {
    let [a, b, c, d] = addr.to_be_bytes();
    [CMD_GO, a, b, c, d]
}

/// Encode a host request as an HDLC payload.
pub fn encode_request(req: &DmssRequest) -> Result<Vec<u8>, DmssError> {
    Ok(match req {
        DmssRequest::Nop => vec![CMD_NOP],
        DmssRequest::ParamReq => vec![CMD_PARAM_REQ],
        DmssRequest::Reset => vec![CMD_RESET],
        DmssRequest::SwVersionReq => vec![CMD_SW_VERSION_REQ],
        DmssRequest::Go { addr } => encode_go(*addr).to_vec(),
        DmssRequest::Write32 { addr, data } => {
            let mut out = Vec::new();
            encode_write32_into(*addr, data, &mut out)?;
            out
        }
    })
}

fn be32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

fn be16(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(..2)?.try_into().ok()?))
}

/// Check that a message of `what` has exactly `expected` bytes.
fn exact(what: &'static str, payload: &[u8], expected: usize) -> Result<(), DmssError> {
    match payload.len() {
        n if n < expected => Err(DmssError::Short { what, expected, got: n }),
        n if n > expected => Err(DmssError::Long { what, expected, got: n }),
        _ => Ok(()),
    }
}

/// Parse a host request (device side, e.g. the simulator).
pub fn parse_request(payload: &[u8]) -> Result<DmssRequest, DmssError> {
    let (&code, body) = payload.split_first().ok_or(DmssError::Empty)?;
    match code {
        CMD_NOP => exact("NOP", payload, 1).map(|()| DmssRequest::Nop),
        CMD_PARAM_REQ => exact("PARAM_REQ", payload, 1).map(|()| DmssRequest::ParamReq),
        CMD_RESET => exact("RESET", payload, 1).map(|()| DmssRequest::Reset),
        CMD_SW_VERSION_REQ => exact("SW_VERSION_REQ", payload, 1).map(|()| DmssRequest::SwVersionReq),
        CMD_GO => {
            exact("GO", payload, 5)?;
            let addr = be32(body).ok_or(DmssError::Short { what: "GO", expected: 5, got: payload.len() })?;
            Ok(DmssRequest::Go { addr })
        }
        CMD_WRITE32 => {
            let short = || DmssError::Short { what: "WRITE_32BIT header", expected: 7, got: payload.len() };
            let addr = be32(body).ok_or_else(short)?;
            let len = be16(body.get(4..).unwrap_or_default()).ok_or_else(short)?;
            let data = body.get(6..).unwrap_or_default();
            exact("WRITE_32BIT", payload, WRITE32_HEADER_LEN + usize::from(len))?;
            Ok(DmssRequest::Write32 { addr, data: data.to_vec() })
        }
        other => Err(DmssError::UnknownCommand(other)),
    }
}

/// Encode a device reply as an HDLC payload (device side).
pub fn encode_reply(reply: &DmssReply) -> Vec<u8> {
    match reply {
        DmssReply::Ack => vec![CMD_ACK],
        DmssReply::Nak(reason) => {
            let [hi, lo] = reason.0.to_be_bytes();
            vec![CMD_NAK, hi, lo]
        }
        DmssReply::Params(p) => {
            let [hi, lo] = p.max_write_size.to_be_bytes();
            vec![CMD_PARAM_RESP, p.version, p.min_version, hi, lo, p.model, p.device_size, p.device_type]
        }
        DmssReply::SwVersion(text) => {
            let bytes = text.as_bytes();
            let bytes = bytes.get(..bytes.len().min(255)).unwrap_or_default();
            let mut out = Vec::with_capacity(bytes.len() + 2);
            out.push(CMD_SW_VERSION_RESP);
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
            out
        }
    }
}

/// Parse a device reply (host side).
pub fn parse_reply(payload: &[u8]) -> Result<DmssReply, DmssError> {
    let (&code, body) = payload.split_first().ok_or(DmssError::Empty)?;
    match code {
        CMD_ACK => exact("ACK", payload, 1).map(|()| DmssReply::Ack),
        CMD_NAK => {
            exact("NAK", payload, 3)?;
            let reason =
                be16(body).ok_or(DmssError::Short { what: "NAK", expected: 3, got: payload.len() })?;
            Ok(DmssReply::Nak(NakReason(reason)))
        }
        CMD_PARAM_RESP => {
            exact("PARAM_RESP", payload, PARAMS_LEN)?;
            match *body {
                [version, min_version, hi, lo, model, device_size, device_type] => {
                    Ok(DmssReply::Params(Params {
                        version,
                        min_version,
                        max_write_size: u16::from_be_bytes([hi, lo]),
                        model,
                        device_size,
                        device_type,
                    }))
                }
                _ => Err(DmssError::Short { what: "PARAM_RESP", expected: PARAMS_LEN, got: payload.len() }),
            }
        }
        CMD_SW_VERSION_RESP => {
            let (&len, text) = body.split_first().ok_or(DmssError::Short {
                what: "SW_VERSION_RESP",
                expected: 2,
                got: 1,
            })?;
            exact("SW_VERSION_RESP", payload, 2 + usize::from(len))?;
            Ok(DmssReply::SwVersion(String::from_utf8_lossy(text).into_owned()))
        }
        other => Err(DmssError::UnexpectedReply { expected: "a DMSS reply (ACK, NAK, PARAMS)", got: other }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::hdlc::{Decoder, encode};

    use crate::testutil::hex;

    #[test]
    fn worked_frames_byte_exact() {
        let nop = encode(&encode_request(&DmssRequest::Nop).unwrap(), true);
        assert_eq!(nop, hex("7e 06 4e 95 7e"));
        assert_eq!(encode(&encode_reply(&DmssReply::Ack), true), hex("7e 02 6a d3 7e"));
        let go = encode_request(&DmssRequest::Go { addr: 0x4170_0000 }).unwrap();
        assert_eq!(encode(&go, true), hex("7e 05 41 70 00 00 f7 63 7e"));
        assert_eq!(encode(&encode_go(0x2001_2000), true), hex("7e 05 20 01 20 00 9f 1f 7e"));
    }

    #[test]
    fn requests_encode_and_parse() {
        let cases: &[(DmssRequest, &str)] = &[
            (DmssRequest::Nop, "06"),
            (DmssRequest::ParamReq, "07"),
            (DmssRequest::Reset, "0a"),
            (DmssRequest::SwVersionReq, "0c"),
            (DmssRequest::Go { addr: 0x4170_0000 }, "05 41 70 00 00"),
            (
                DmssRequest::Write32 { addr: 0x4170_03f9, data: vec![0xaa, 0x7e] },
                "0f 41 70 03 f9 00 02 aa 7e",
            ),
            (DmssRequest::Write32 { addr: 1, data: vec![] }, "0f 00 00 00 01 00 00"),
        ];
        for (req, bytes) in cases {
            assert_eq!(encode_request(req).unwrap(), hex(bytes), "{req:?}");
            assert_eq!(parse_request(&hex(bytes)).unwrap(), *req, "{bytes}");
        }
    }

    #[test]
    fn replies_encode_and_parse() {
        let params = Params {
            version: 6,
            min_version: 2,
            max_write_size: 0x0400,
            model: 0x90,
            device_size: 5,
            device_type: 1,
        };
        let cases: &[(DmssReply, &str)] = &[
            (DmssReply::Ack, "02"),
            (DmssReply::Nak(NakReason(0x0A)), "03 00 0a"),
            (DmssReply::Nak(NakReason(0x1234)), "03 12 34"),
            (DmssReply::Params(params), "08 06 02 04 00 90 05 01"),
            (DmssReply::SwVersion("PBL".into()), "0d 03 50 42 4c"),
        ];
        for (reply, bytes) in cases {
            assert_eq!(encode_reply(reply), hex(bytes), "{reply:?}");
            assert_eq!(parse_reply(&hex(bytes)).unwrap(), *reply, "{bytes}");
        }
    }

    #[test]
    fn nak_reasons_have_names() {
        assert_eq!(NakReason(0x01).name(), "invalid frame FCS");
        assert_eq!(NakReason(0x0F).name(), "invalid read address");
        assert_eq!(NakReason(0x77).name(), "unknown reason");
        assert_eq!(NakReason(0x05).to_string(), "0x0005 (data length too large)");
    }

    #[test]
    fn write32_of_max_chunk_is_1024_bytes_before_crc() {
        let data = vec![0u8; MAX_WRITE32_DATA];
        let p = encode_request(&DmssRequest::Write32 { addr: 0, data }).unwrap();
        assert_eq!(p.len(), 1024);
        let big = vec![0u8; 0x1_0000];
        assert!(matches!(
            encode_request(&DmssRequest::Write32 { addr: 0, data: big }),
            Err(DmssError::DataTooLarge { len: 0x1_0000, .. })
        ));
    }

    #[test]
    fn short_long_and_unknown_inputs_are_typed_errors() {
        assert!(matches!(parse_reply(&[]), Err(DmssError::Empty)));
        assert!(matches!(parse_reply(&hex("02 00")), Err(DmssError::Long { what: "ACK", .. })));
        assert!(matches!(parse_reply(&hex("03 00")), Err(DmssError::Short { what: "NAK", .. })));
        assert!(matches!(parse_reply(&hex("08 06 02 04")), Err(DmssError::Short { what: "PARAM_RESP", .. })));
        assert!(matches!(parse_reply(&hex("0d")), Err(DmssError::Short { .. })));
        assert!(matches!(parse_reply(&hex("0d 05 41")), Err(DmssError::Short { .. })));
        assert!(matches!(parse_reply(&hex("13 06")), Err(DmssError::UnexpectedReply { got: 0x13, .. })));
        assert!(matches!(parse_request(&[]), Err(DmssError::Empty)));
        assert!(matches!(parse_request(&hex("05 41 70")), Err(DmssError::Short { what: "GO", .. })));
        assert!(matches!(parse_request(&hex("05 41 70 00 00 00")), Err(DmssError::Long { what: "GO", .. })));
        assert!(matches!(parse_request(&hex("0f 00 00")), Err(DmssError::Short { .. })));
        assert!(matches!(parse_request(&hex("0f 00 00 00 00 00 02 aa")), Err(DmssError::Short { .. })));
        assert!(matches!(
            parse_request(&hex("0f 00 00 00 00 00 01 aa bb")),
            Err(DmssError::Long { what: "WRITE_32BIT", .. })
        ));
        assert!(matches!(parse_request(&hex("06 06")), Err(DmssError::Long { what: "NOP", .. })));
        assert!(matches!(parse_request(&hex("3a")), Err(DmssError::UnknownCommand(0x3a))));
        // Error text names what was expected and what came.
        let e = parse_reply(&hex("08 06")).unwrap_err().to_string();
        assert!(e.contains("PARAM_RESP") && e.contains('8') && e.contains('2'), "{e}");
    }

    #[test]
    fn decoded_wire_reply_round_trip() {
        let mut d = Decoder::default();
        let frames = d.feed_collect(&hex("7e 02 6a d3 7e"));
        let payload = frames[0].as_ref().unwrap();
        assert_eq!(parse_reply(payload).unwrap(), DmssReply::Ack);
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..1100)) {
            let _ = parse_reply(&data);
            let _ = parse_request(&data);
        }

        #[test]
        fn write32_round_trips(addr in proptest::num::u32::ANY,
                               data in proptest::collection::vec(proptest::num::u8::ANY, 0..1100)) {
            let req = DmssRequest::Write32 { addr, data };
            let bytes = encode_request(&req).unwrap();
            proptest::prop_assert_eq!(parse_request(&bytes).unwrap(), req);
        }
    }
}
