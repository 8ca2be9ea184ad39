//! Pure streaming DLOAD codec: host requests (encode; parse for a device side) and target
//! replies (encode for a device side; parse). Payloads here are HDLC payloads, before
//! framing. All multi-byte fields are little-endian (`docs/facts/streaming.md`).
//!
//! There is deliberately no encoder for ERASE_FLASH (0x1D), which erases the whole NAND
//! (`docs/facts/quectel.md`); [`Request::parse`] recognises it so a device can refuse it.

use super::codes::{ImageType, OpenMultiStatus, PartitionStatus, cmd, command_name};
use super::error::StreamingError;
use super::hello::{HelloOptions, HelloResponse, le32, parse_hello};

/// Largest PARTITION_TABLE table (docs/facts/streaming.md).
pub const MAX_PARTITION_TABLE_LEN: usize = 512;
/// Largest OPEN_MULTI_IMAGE payload (docs/facts/streaming.md, `docs/facts/streaming.md`).
pub const MAX_OPEN_MULTI_PAYLOAD: usize = 512;
/// Default STREAM_WRITE data bytes per frame (programmer limit 1024, docs/facts/hdlc-diag.md and docs/facts/streaming.md).
pub const DEFAULT_BLOCK_SIZE: usize = 1024;
/// Upper bound on STREAM_WRITE data bytes whatever a HELLO response advertises; a sanity
/// cap, far above any known programmer.
pub const MAX_BLOCK_SIZE: usize = 64 * 1024;

/// Security mode byte of SECURITY_MODE (0x17).
pub const SECURITY_UNTRUSTED: u8 = 0;
/// Security mode byte of SECURITY_MODE (0x17).
pub const SECURITY_TRUSTED: u8 = 1;

/// SECURITY_MODE request: `17 mode`.
pub fn encode_security_mode(trusted: bool) -> Vec<u8> {
    vec![cmd::SECURITY_MODE, if trusted { SECURITY_TRUSTED } else { SECURITY_UNTRUSTED }]
}

/// PARTITION_TABLE request: `19 override table…` (table ≤ 512 bytes).
pub fn encode_partition_table(override_table: bool, table: &[u8]) -> Result<Vec<u8>, StreamingError> {
    if table.len() > MAX_PARTITION_TABLE_LEN {
        return Err(StreamingError::TooLong {
            what: "partition table",
            max: MAX_PARTITION_TABLE_LEN,
            got: table.len(),
        });
    }
    let mut out = Vec::with_capacity(2 + table.len());
    out.push(cmd::PARTITION_TABLE);
    out.push(u8::from(override_table));
    out.extend_from_slice(table);
    Ok(out)
}

/// OPEN_MULTI_IMAGE request: `1B type payload…` (payload ≤ 512 bytes).
pub fn encode_open_multi(image_type: ImageType, payload: &[u8]) -> Result<Vec<u8>, StreamingError> {
    if payload.len() > MAX_OPEN_MULTI_PAYLOAD {
        return Err(StreamingError::TooLong {
            what: "OPEN_MULTI payload",
            max: MAX_OPEN_MULTI_PAYLOAD,
            got: payload.len(),
        });
    }
    let mut out = Vec::with_capacity(2 + payload.len());
    out.push(cmd::OPEN_MULTI);
    out.push(image_type.as_u8());
    out.extend_from_slice(payload);
    Ok(out)
}

/// OPEN_MULTI_IMAGE for a named user partition as Quectel tools send it: type 0x0E
/// (CUSTOM) and the ASCII name plus a NUL, e.g. `"0:SBL1"`.
pub fn encode_open_multi_named(name: &str) -> Result<Vec<u8>, StreamingError> {
    if name.as_bytes().contains(&0) {
        return Err(StreamingError::BadName { name: name.to_string() });
    }
    let mut payload = Vec::with_capacity(name.len() + 1);
    payload.extend_from_slice(name.as_bytes());
    payload.push(0);
    encode_open_multi(ImageType::Custom, &payload)
}

/// STREAM_WRITE request `07 addr(LE32) data…`, appended to `out` (which is cleared).
pub fn encode_stream_write_into(addr: u32, data: &[u8], out: &mut Vec<u8>) -> Result<(), StreamingError> {
    if data.len() > MAX_BLOCK_SIZE {
        return Err(StreamingError::TooLong {
            what: "STREAM_WRITE data",
            max: MAX_BLOCK_SIZE,
            got: data.len(),
        });
    }
    out.clear();
    out.reserve(5 + data.len());
    out.push(cmd::STREAM_WRITE);
    out.extend_from_slice(&addr.to_le_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// NOP request `09 data…` (the target echoes the bytes in 0x0A).
pub fn encode_nop(data: &[u8]) -> Vec<u8> {
    let mut out = vec![cmd::NOP];
    out.extend_from_slice(data);
    out
}

/// CLOSE request `15`.
pub fn encode_close() -> Vec<u8> {
    vec![cmd::CLOSE]
}

/// RESET request `0B`.
pub fn encode_reset() -> Vec<u8> {
    vec![cmd::RESET]
}

/// Quectel download-flag request `60 flag` (1 set, 0 clear).
pub fn encode_download_flag(set: bool) -> Vec<u8> {
    vec![cmd::DOWNLOAD_FLAG, u8::from(set)]
}

/// A host request as a device sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Hello(HelloOptions),
    Read {
        addr: u32,
        len: u16,
    },
    StreamWrite {
        addr: u32,
        data: Vec<u8>,
    },
    Nop(Vec<u8>),
    Reset,
    Close,
    SecurityMode(u8),
    PartitionTable {
        override_table: u8,
        table: Vec<u8>,
    },
    OpenMulti {
        image_type: ImageType,
        payload: Vec<u8>,
    },
    /// 0x1D: recognised only so that a device can refuse it.
    EraseFlash,
    DownloadFlag(u8),
    /// Any other command byte, with its body.
    Other {
        cmd: u8,
        body: Vec<u8>,
    },
}

impl Request {
    /// Parse a request payload (device side).
    pub fn parse(payload: &[u8]) -> Result<Self, StreamingError> {
        let (&c, body) = payload.split_first().ok_or(StreamingError::Empty)?;
        Ok(match c {
            cmd::HELLO => Self::Hello(parse_hello(payload)?),
            cmd::READ => {
                let addr = need_le32(body, "READ")?;
                let len = body.get(4..6).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes);
                let len = len.ok_or(short("READ", 7, payload.len()))?;
                Self::Read { addr, len }
            }
            cmd::STREAM_WRITE => Self::StreamWrite {
                addr: need_le32(body, "STREAM_WRITE")?,
                data: body.get(4..).unwrap_or_default().to_vec(),
            },
            cmd::NOP => Self::Nop(body.to_vec()),
            cmd::RESET => Self::Reset,
            cmd::CLOSE => Self::Close,
            cmd::SECURITY_MODE => Self::SecurityMode(need_u8(body, "SECURITY_MODE")?),
            cmd::PARTITION_TABLE => {
                let (&override_table, table) = body.split_first().ok_or(short("PARTITION_TABLE", 2, 1))?;
                if table.len() > MAX_PARTITION_TABLE_LEN {
                    return Err(StreamingError::TooLong {
                        what: "partition table",
                        max: MAX_PARTITION_TABLE_LEN,
                        got: table.len(),
                    });
                }
                Self::PartitionTable { override_table, table: table.to_vec() }
            }
            cmd::OPEN_MULTI => {
                let (&t, p) = body.split_first().ok_or(short("OPEN_MULTI_IMAGE", 2, 1))?;
                if p.len() > MAX_OPEN_MULTI_PAYLOAD {
                    return Err(StreamingError::TooLong {
                        what: "OPEN_MULTI payload",
                        max: MAX_OPEN_MULTI_PAYLOAD,
                        got: p.len(),
                    });
                }
                Self::OpenMulti { image_type: ImageType::from_u8(t), payload: p.to_vec() }
            }
            cmd::ERASE_FLASH => Self::EraseFlash,
            cmd::DOWNLOAD_FLAG => Self::DownloadFlag(need_u8(body, "DOWNLOAD_FLAG")?),
            other => Self::Other { cmd: other, body: body.to_vec() },
        })
    }
}

/// The partition name of a CUSTOM OPEN_MULTI payload: the bytes before the first NUL
/// (or all of them), if they are UTF-8.
pub fn partition_name(payload: &[u8]) -> Option<&str> {
    let end = payload.iter().position(|&b| b == 0).unwrap_or(payload.len());
    std::str::from_utf8(payload.get(..end)?).ok()
}

/// A target reply (or unsolicited ERROR/LOG) as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Hello(HelloResponse),
    ReadData {
        addr: u32,
        data: Vec<u8>,
    },
    /// 0x08: the address of the STREAM_WRITE being acknowledged.
    StreamWrite {
        addr: u32,
    },
    Nop(Vec<u8>),
    Reset,
    /// 0x0D.
    Error {
        code: u32,
        text: String,
    },
    /// 0x0E.
    Log(String),
    Close,
    SecurityMode,
    PartitionTable(PartitionStatus),
    OpenMulti(OpenMultiStatus),
    DownloadFlag(u8),
    /// Any other command byte, with its body.
    Other {
        cmd: u8,
        body: Vec<u8>,
    },
}

impl Reply {
    /// The command byte this reply carries.
    pub fn cmd(&self) -> u8 {
        match self {
            Self::Hello(_) => cmd::HELLO_RESP,
            Self::ReadData { .. } => cmd::READ_RESP,
            Self::StreamWrite { .. } => cmd::STREAM_WRITE_RESP,
            Self::Nop(_) => cmd::NOP_RESP,
            Self::Reset => cmd::RESET_RESP,
            Self::Error { .. } => cmd::ERROR,
            Self::Log(_) => cmd::LOG,
            Self::Close => cmd::CLOSE_RESP,
            Self::SecurityMode => cmd::SECURITY_MODE_RESP,
            Self::PartitionTable(_) => cmd::PARTITION_TABLE_RESP,
            Self::OpenMulti(_) => cmd::OPEN_MULTI_RESP,
            Self::DownloadFlag(_) => cmd::DOWNLOAD_FLAG_RESP,
            Self::Other { cmd, .. } => *cmd,
        }
    }

    /// Encode the reply payload (device side).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.cmd()];
        match self {
            Self::Hello(h) => return h.encode(),
            Self::ReadData { addr, data } => {
                out.extend_from_slice(&addr.to_le_bytes());
                out.extend_from_slice(data);
            }
            Self::StreamWrite { addr } => out.extend_from_slice(&addr.to_le_bytes()),
            Self::Nop(data) | Self::Other { body: data, .. } => out.extend_from_slice(data),
            Self::Error { code, text } => {
                out.extend_from_slice(&code.to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            Self::Log(text) => out.extend_from_slice(text.as_bytes()),
            Self::PartitionTable(s) => out.push(s.as_u8()),
            Self::OpenMulti(s) => out.push(s.as_u8()),
            Self::DownloadFlag(s) => out.push(*s),
            Self::Reset | Self::Close | Self::SecurityMode => {}
        }
        out
    }

    /// Parse a reply payload (host side). Bytes after the fixed fields are ignored.
    pub fn parse(payload: &[u8]) -> Result<Self, StreamingError> {
        let (&c, body) = payload.split_first().ok_or(StreamingError::Empty)?;
        Ok(match c {
            cmd::HELLO_RESP => Self::Hello(HelloResponse::parse(payload)?),
            cmd::READ_RESP => Self::ReadData {
                addr: need_le32(body, "READ response")?,
                data: body.get(4..).unwrap_or_default().to_vec(),
            },
            cmd::STREAM_WRITE_RESP => Self::StreamWrite { addr: need_le32(body, "STREAM_WRITE response")? },
            cmd::NOP_RESP => Self::Nop(body.to_vec()),
            cmd::RESET_RESP => Self::Reset,
            cmd::ERROR => Self::Error {
                code: need_le32(body, "ERROR packet")?,
                text: text(body.get(4..).unwrap_or_default()),
            },
            cmd::LOG => Self::Log(text(body)),
            cmd::CLOSE_RESP => Self::Close,
            cmd::SECURITY_MODE_RESP => Self::SecurityMode,
            cmd::PARTITION_TABLE_RESP => {
                Self::PartitionTable(PartitionStatus::from_u8(need_u8(body, "PARTITION_TABLE response")?))
            }
            cmd::OPEN_MULTI_RESP => {
                Self::OpenMulti(OpenMultiStatus::from_u8(need_u8(body, "OPEN_MULTI response")?))
            }
            cmd::DOWNLOAD_FLAG_RESP => Self::DownloadFlag(need_u8(body, "DOWNLOAD_FLAG response")?),
            other => Self::Other { cmd: other, body: body.to_vec() },
        })
    }

    /// A short description for "expected X, got Y" messages.
    pub fn name(&self) -> &'static str {
        command_name(self.cmd())
    }
}

/// Device text (ERROR/LOG): lossy ASCII, trailing NULs and line ends dropped.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end_matches(['\0', '\r', '\n']).to_string()
}

fn need_le32(body: &[u8], what: &'static str) -> Result<u32, StreamingError> {
    le32(body.get(..4)).ok_or(short(what, 5, body.len() + 1))
}

fn need_u8(body: &[u8], what: &'static str) -> Result<u8, StreamingError> {
    body.first().copied().ok_or(short(what, 2, 1))
}

fn short(what: &'static str, expected: usize, got: usize) -> StreamingError {
    StreamingError::Truncated { what, expected, got }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::hdlc::encode;

    #[test]
    fn reference_wire_examples() {
        // `docs/facts/hdlc-diag.md` worked examples.
        assert_eq!(encode(&encode_reset(), true), [0x7E, 0x0B, 0xAB, 0x4E, 0x7E]);
        assert_eq!(encode(&encode_security_mode(true), true), [0x7E, 0x17, 0x01, 0x57, 0xC6, 0x7E]);
    }

    #[test]
    fn host_request_bytes() {
        assert_eq!(encode_security_mode(false), [0x17, 0x00]);
        assert_eq!(encode_partition_table(false, &[0xAA, 0xBB]).unwrap(), [0x19, 0x00, 0xAA, 0xBB]);
        assert_eq!(encode_partition_table(true, &[]).unwrap(), [0x19, 0x01]);
        assert_eq!(encode_open_multi_named("0:SBL1").unwrap(), b"\x1B\x0E0:SBL1\0");
        assert_eq!(encode_open_multi(ImageType::Amss, &[]).unwrap(), [0x1B, 0x05]);
        let mut w = Vec::new();
        encode_stream_write_into(0x0001_0400, &[1, 2, 3], &mut w).unwrap();
        assert_eq!(w, [0x07, 0x00, 0x04, 0x01, 0x00, 1, 2, 3]);
        assert_eq!(encode_nop(&[9]), [0x09, 9]);
        assert_eq!(encode_close(), [0x15]);
        assert_eq!(encode_download_flag(true), [0x60, 0x01]);
        assert_eq!(encode_download_flag(false), [0x60, 0x00]);
    }

    #[test]
    fn host_request_limits() {
        assert!(encode_partition_table(false, &[0; 512]).is_ok());
        assert!(matches!(
            encode_partition_table(false, &[0; 513]),
            Err(StreamingError::TooLong { max: 512, got: 513, .. })
        ));
        assert!(matches!(
            encode_open_multi(ImageType::Custom, &[0; 513]),
            Err(StreamingError::TooLong { .. })
        ));
        assert!(encode_open_multi_named(&"x".repeat(511)).is_ok());
        assert!(encode_open_multi_named(&"x".repeat(512)).is_err());
        assert!(matches!(encode_open_multi_named("a\0b"), Err(StreamingError::BadName { .. })));
        let mut w = Vec::new();
        assert!(encode_stream_write_into(0, &vec![0; MAX_BLOCK_SIZE + 1], &mut w).is_err());
    }

    #[test]
    fn requests_parse_back() {
        let cases: Vec<(Vec<u8>, Request)> = vec![
            (encode_security_mode(true), Request::SecurityMode(1)),
            (
                encode_partition_table(true, &[5, 6]).unwrap(),
                Request::PartitionTable { override_table: 1, table: vec![5, 6] },
            ),
            (
                encode_open_multi_named("0:SBL").unwrap(),
                Request::OpenMulti { image_type: ImageType::Custom, payload: b"0:SBL\0".to_vec() },
            ),
            (vec![0x07, 0x10, 0, 0, 0, 0xEE], Request::StreamWrite { addr: 0x10, data: vec![0xEE] }),
            (vec![0x03, 0x00, 0x01, 0, 0, 0x10, 0x00], Request::Read { addr: 0x100, len: 16 }),
            (encode_nop(&[1, 2]), Request::Nop(vec![1, 2])),
            (encode_reset(), Request::Reset),
            (encode_close(), Request::Close),
            (vec![0x1D], Request::EraseFlash),
            (encode_download_flag(true), Request::DownloadFlag(1)),
            (vec![0x42, 7], Request::Other { cmd: 0x42, body: vec![7] }),
        ];
        for (bytes, want) in cases {
            assert_eq!(Request::parse(&bytes).unwrap(), want, "{bytes:02x?}");
        }
        assert_eq!(partition_name(b"0:SBL1\0"), Some("0:SBL1"));
        assert_eq!(partition_name(b"0:RPM"), Some("0:RPM"));
    }

    #[test]
    fn short_requests_are_typed_errors() {
        assert!(matches!(Request::parse(&[]), Err(StreamingError::Empty)));
        for bad in [&[0x07, 1, 2, 3][..], &[0x17], &[0x19], &[0x1B], &[0x60], &[0x03, 0, 0, 0, 0, 1]] {
            assert!(matches!(Request::parse(bad), Err(StreamingError::Truncated { .. })), "{bad:02x?}");
        }
        let mut big = vec![0x19, 0];
        big.extend_from_slice(&[0; 513]);
        assert!(matches!(Request::parse(&big), Err(StreamingError::TooLong { .. })));
    }

    #[test]
    fn reply_bytes_and_round_trip() {
        let cases: Vec<(Reply, Vec<u8>)> = vec![
            (Reply::StreamWrite { addr: 0x400 }, vec![0x08, 0x00, 0x04, 0x00, 0x00]),
            (Reply::Reset, vec![0x0C]),
            (Reply::Close, vec![0x16]),
            (Reply::SecurityMode, vec![0x18]),
            (Reply::PartitionTable(PartitionStatus::Differs), vec![0x1A, 0x01]),
            (Reply::OpenMulti(OpenMultiStatus::UnknownPartition), vec![0x1C, 0x05]),
            (Reply::DownloadFlag(0), vec![0x61, 0x00]),
            (Reply::Nop(vec![1, 2]), vec![0x0A, 1, 2]),
            (
                Reply::Error { code: 5, text: "Invalid Command".into() },
                b"\x0D\x05\x00\x00\x00Invalid Command".to_vec(),
            ),
            (Reply::Log("hello".into()), b"\x0Ehello".to_vec()),
            (Reply::ReadData { addr: 1, data: vec![7] }, vec![0x04, 1, 0, 0, 0, 7]),
            (Reply::Other { cmd: 0x1E, body: vec![] }, vec![0x1E]),
        ];
        for (reply, bytes) in cases {
            assert_eq!(reply.encode(), bytes);
            assert_eq!(Reply::parse(&bytes).unwrap(), reply);
        }
    }

    #[test]
    fn reply_text_is_trimmed_and_short_replies_fail() {
        assert_eq!(Reply::parse(b"\x0EInvalid command\n").unwrap(), Reply::Log("Invalid command".into()));
        assert_eq!(
            Reply::parse(b"\x0D\x0F\x00\x00\x00out of seq\0").unwrap(),
            Reply::Error { code: 0x0F, text: "out of seq".into() }
        );
        for bad in [&[0x08, 0, 0, 0][..], &[0x0D, 1], &[0x1A], &[0x1C], &[0x61], &[0x02]] {
            assert!(Reply::parse(bad).is_err(), "{bad:02x?}");
        }
        assert!(matches!(Reply::parse(&[]), Err(StreamingError::Empty)));
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..700)) {
            let _ = Reply::parse(&bytes);
            let _ = Request::parse(&bytes);
            let _ = partition_name(&bytes);
        }
    }
}
