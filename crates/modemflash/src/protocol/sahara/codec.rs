//! Pure Sahara packet codec (`docs/facts/sahara.md`): every packet is `cmd LE32, length LE32`
//! (length includes the 8-byte header) and LE32/LE64 fields. Encoders and decoders exist
//! for both directions, so a device side (the simulator's boot ROM) can reuse them.
//! Reassembly from reads is in [`super::framer`].

use super::codes::{cmd, command_name};
use super::error::SaharaError;

/// Header bytes.
pub const HEADER_LEN: usize = 8;
/// Largest packet length accepted by the framer. Every defined packet is ≤ 0x30 bytes;
/// openpst's SAHARA_MAX_PACKET_SIZE is 0x400.
pub const MAX_PACKET_LEN: u32 = 0x400;
/// Full HELLO / HELLO_RESP length (v2+).
pub const HELLO_LEN: u32 = 0x30;
/// v1 HELLO / HELLO_RESP length (docs/facts/sahara.md "Versions").
pub const HELLO_V1_LEN: u32 = 0x14;

/// HELLO (target → host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub version: u32,
    pub version_supported: u32,
    pub max_cmd_len: u32,
    pub mode: u32,
    pub reserved: [u32; 6],
    /// Length on the wire: [`HELLO_LEN`], or [`HELLO_V1_LEN`] for v1 targets. Fields past
    /// it read as 0. A parser reports longer packets as `HELLO_LEN`. [inferred] the v1 layout is the first three words of the v2 one.
    pub len: u32,
}

/// HELLO_RESP (host → target). Same shape as [`Hello`], with `status` in word 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloResp {
    pub version: u32,
    pub version_supported: u32,
    pub status: u32,
    pub mode: u32,
    pub reserved: [u32; 6],
    /// Length on the wire, as for [`Hello::len`].
    pub len: u32,
}

/// One Sahara packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Hello(Hello),
    HelloResp(HelloResp),
    ReadData {
        image_id: u32,
        offset: u32,
        length: u32,
    },
    EndImageTx {
        image_id: u32,
        status: u32,
    },
    Done,
    /// 0 = more images pending, 1 = complete.
    DoneResp {
        status: u32,
    },
    Reset,
    ResetResp,
    MemoryDebug {
        table_addr: u32,
        table_len: u32,
    },
    MemoryRead {
        addr: u32,
        len: u32,
    },
    CmdReady,
    SwitchMode {
        mode: u32,
    },
    Execute {
        client_cmd: u32,
    },
    ExecuteResp {
        client_cmd: u32,
        len: u32,
    },
    ExecuteData {
        client_cmd: u32,
    },
    MemoryDebug64 {
        table_addr: u64,
        table_len: u64,
    },
    MemoryRead64 {
        addr: u64,
        len: u64,
    },
    ReadData64 {
        image_id: u64,
        offset: u64,
        length: u64,
    },
    ResetStateMachine,
    /// Any other command (including WRITE_DATA, whose layout is unknown), body kept.
    Unknown {
        cmd: u32,
        body: Vec<u8>,
    },
}

impl Packet {
    /// The command ID.
    pub fn cmd(&self) -> u32 {
        match self {
            Self::Hello(_) => cmd::HELLO,
            Self::HelloResp(_) => cmd::HELLO_RESP,
            Self::ReadData { .. } => cmd::READ_DATA,
            Self::EndImageTx { .. } => cmd::END_IMAGE_TX,
            Self::Done => cmd::DONE,
            Self::DoneResp { .. } => cmd::DONE_RESP,
            Self::Reset => cmd::RESET,
            Self::ResetResp => cmd::RESET_RESP,
            Self::MemoryDebug { .. } => cmd::MEMORY_DEBUG,
            Self::MemoryRead { .. } => cmd::MEMORY_READ,
            Self::CmdReady => cmd::CMD_READY,
            Self::SwitchMode { .. } => cmd::SWITCH_MODE,
            Self::Execute { .. } => cmd::EXECUTE,
            Self::ExecuteResp { .. } => cmd::EXECUTE_RESP,
            Self::ExecuteData { .. } => cmd::EXECUTE_DATA,
            Self::MemoryDebug64 { .. } => cmd::MEMORY_DEBUG_64,
            Self::MemoryRead64 { .. } => cmd::MEMORY_READ_64,
            Self::ReadData64 { .. } => cmd::READ_DATA_64,
            Self::ResetStateMachine => cmd::RESET_STATE_MACHINE,
            Self::Unknown { cmd, .. } => *cmd,
        }
    }

    /// The command's name.
    pub fn name(&self) -> &'static str {
        command_name(self.cmd())
    }

    /// Encode the packet, header included.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Words::default();
        match self {
            Self::Hello(h) => {
                let words = [h.version, h.version_supported, h.max_cmd_len, h.mode];
                return encode_hello_like(cmd::HELLO, words, h.reserved, h.len);
            }
            Self::HelloResp(h) => {
                let words = [h.version, h.version_supported, h.status, h.mode];
                return encode_hello_like(cmd::HELLO_RESP, words, h.reserved, h.len);
            }
            Self::ReadData { image_id, offset, length } => w.u32s(&[*image_id, *offset, *length]),
            Self::EndImageTx { image_id, status } => w.u32s(&[*image_id, *status]),
            Self::DoneResp { status } => w.u32s(&[*status]),
            Self::MemoryDebug { table_addr: a, table_len: l } | Self::MemoryRead { addr: a, len: l } => {
                w.u32s(&[*a, *l]);
            }
            Self::SwitchMode { mode: v }
            | Self::Execute { client_cmd: v }
            | Self::ExecuteData { client_cmd: v } => {
                w.u32s(&[*v]);
            }
            Self::ExecuteResp { client_cmd, len } => w.u32s(&[*client_cmd, *len]),
            Self::MemoryDebug64 { table_addr: a, table_len: l } | Self::MemoryRead64 { addr: a, len: l } => {
                w.u64s(&[*a, *l]);
            }
            Self::ReadData64 { image_id, offset, length } => w.u64s(&[*image_id, *offset, *length]),
            Self::Unknown { body, .. } => w.0.extend_from_slice(body),
            Self::Done | Self::Reset | Self::ResetResp | Self::CmdReady | Self::ResetStateMachine => {}
        }
        with_header(self.cmd(), &w.0)
    }

    /// Parse exactly one packet: `bytes` must be as long as its length field says.
    pub fn parse(bytes: &[u8]) -> Result<Self, SaharaError> {
        let (id, length) = header(bytes).ok_or(SaharaError::Truncated {
            what: "Sahara header",
            expected: HEADER_LEN,
            got: bytes.len(),
        })?;
        check_frame_length(id, length)?;
        if bytes.len() != length as usize {
            return Err(SaharaError::Truncated {
                what: command_name(id),
                expected: length as usize,
                got: bytes.len(),
            });
        }
        let body = bytes.get(HEADER_LEN..).unwrap_or_default();
        let w = |i: usize| le32(body, i);
        let d = |i: usize| le64(body, i);
        let fixed = |expected: u32| -> Result<(), SaharaError> {
            if length == expected {
                Ok(())
            } else {
                Err(SaharaError::BadLength { cmd: id, name: command_name(id), expected, got: length })
            }
        };
        Ok(match id {
            cmd::HELLO | cmd::HELLO_RESP => {
                if length < HELLO_V1_LEN {
                    return Err(SaharaError::BadLength {
                        cmd: id,
                        name: command_name(id),
                        expected: HELLO_LEN,
                        got: length,
                    });
                }
                let reserved = [w(4), w(5), w(6), w(7), w(8), w(9)];
                // Longer (future) HELLOs are read up to the known words.
                let len = (length & !3).min(HELLO_LEN);
                if id == cmd::HELLO {
                    Self::Hello(Hello {
                        version: w(0),
                        version_supported: w(1),
                        max_cmd_len: w(2),
                        mode: w(3),
                        reserved,
                        len,
                    })
                } else {
                    Self::HelloResp(HelloResp {
                        version: w(0),
                        version_supported: w(1),
                        status: w(2),
                        mode: w(3),
                        reserved,
                        len,
                    })
                }
            }
            cmd::READ_DATA => {
                fixed(0x14)?;
                Self::ReadData { image_id: w(0), offset: w(1), length: w(2) }
            }
            cmd::END_IMAGE_TX => {
                fixed(0x10)?;
                Self::EndImageTx { image_id: w(0), status: w(1) }
            }
            cmd::DONE => fixed(0x08).map(|()| Self::Done)?,
            cmd::DONE_RESP => fixed(0x0C).map(|()| Self::DoneResp { status: w(0) })?,
            cmd::RESET => fixed(0x08).map(|()| Self::Reset)?,
            cmd::RESET_RESP => fixed(0x08).map(|()| Self::ResetResp)?,
            cmd::MEMORY_DEBUG => {
                fixed(0x10).map(|()| Self::MemoryDebug { table_addr: w(0), table_len: w(1) })?
            }
            cmd::MEMORY_READ => fixed(0x10).map(|()| Self::MemoryRead { addr: w(0), len: w(1) })?,
            cmd::CMD_READY => fixed(0x08).map(|()| Self::CmdReady)?,
            cmd::SWITCH_MODE => fixed(0x0C).map(|()| Self::SwitchMode { mode: w(0) })?,
            cmd::EXECUTE => fixed(0x0C).map(|()| Self::Execute { client_cmd: w(0) })?,
            cmd::EXECUTE_RESP => fixed(0x10).map(|()| Self::ExecuteResp { client_cmd: w(0), len: w(1) })?,
            cmd::EXECUTE_DATA => fixed(0x0C).map(|()| Self::ExecuteData { client_cmd: w(0) })?,
            cmd::MEMORY_DEBUG_64 => {
                fixed(0x18).map(|()| Self::MemoryDebug64 { table_addr: d(0), table_len: d(1) })?
            }
            cmd::MEMORY_READ_64 => fixed(0x18).map(|()| Self::MemoryRead64 { addr: d(0), len: d(1) })?,
            cmd::READ_DATA_64 => {
                fixed(0x20).map(|()| Self::ReadData64 { image_id: d(0), offset: d(1), length: d(2) })?
            }
            cmd::RESET_STATE_MACHINE => fixed(0x08).map(|()| Self::ResetStateMachine)?,
            other => Self::Unknown { cmd: other, body: body.to_vec() },
        })
    }
}

#[derive(Default)]
struct Words(Vec<u8>);

impl Words {
    fn u32s(&mut self, v: &[u32]) {
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn u64s(&mut self, v: &[u64]) {
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
}

fn encode_hello_like(id: u32, words: [u32; 4], reserved: [u32; 6], len: u32) -> Vec<u8> {
    let len = len.clamp(HELLO_V1_LEN, HELLO_LEN) & !3;
    let count = (len as usize - HEADER_LEN) / 4;
    let mut w = Words::default();
    let all: Vec<u32> = words.into_iter().chain(reserved).take(count).collect();
    w.u32s(&all);
    with_header(id, &w.0)
}

fn with_header(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_le_bytes());
    out.extend_from_slice(body);
    out
}

pub(super) fn header(buf: &[u8]) -> Option<(u32, u32)> {
    let h = buf.get(..HEADER_LEN)?;
    Some((le32(h, 0), le32(h, 1)))
}

pub(super) fn check_frame_length(id: u32, length: u32) -> Result<(), SaharaError> {
    if (HEADER_LEN as u32..=MAX_PACKET_LEN).contains(&length) {
        Ok(())
    } else {
        Err(SaharaError::BadFrameLength {
            cmd: id,
            name: command_name(id),
            length,
            min: HEADER_LEN as u32,
            max: MAX_PACKET_LEN,
        })
    }
}

/// Word `i` (LE32) of `b`, 0 if absent.
fn le32(b: &[u8], i: usize) -> u32 {
    b.get(4 * i..4 * i + 4).and_then(|s| s.try_into().ok()).map_or(0, u32::from_le_bytes)
}

/// Double word `i` (LE64) of `b`, 0 if absent.
fn le64(b: &[u8], i: usize) -> u64 {
    b.get(8 * i..8 * i + 8).and_then(|s| s.try_into().ok()).map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use crate::testutil::hex;

    /// The HELLO a 9x07 boot ROM sends (`docs/facts/firehose.md`).
    pub(crate) fn mdm9607_hello() -> Hello {
        Hello {
            version: 2,
            version_supported: 1,
            max_cmd_len: 0x400,
            mode: 0,
            reserved: [0; 6],
            len: HELLO_LEN,
        }
    }

    #[test]
    fn hello_bytes() {
        let b = Packet::Hello(mdm9607_hello()).encode();
        assert_eq!(b.len(), 0x30);
        assert_eq!(
            b[..24],
            hex("01 00 00 00 30 00 00 00 02 00 00 00 01 00 00 00 00 04 00 00 00 00 00 00")[..]
        );
        assert!(b[24..].iter().all(|&x| x == 0));
        assert_eq!(Packet::parse(&b).unwrap(), Packet::Hello(mdm9607_hello()));
        let rsp = HelloResp {
            version: 2,
            version_supported: 1,
            status: 0,
            mode: 3,
            reserved: [1, 2, 3, 4, 5, 6],
            len: 0x30,
        };
        let b = Packet::HelloResp(rsp).encode();
        assert_eq!(
            b,
            hex("02 00 00 00 30 00 00 00 02 00 00 00 01 00 00 00 00 00 00 00 03 00 00 00 \
                 01 00 00 00 02 00 00 00 03 00 00 00 04 00 00 00 05 00 00 00 06 00 00 00")
        );
        assert_eq!(Packet::parse(&b).unwrap(), Packet::HelloResp(rsp));
    }

    #[test]
    fn v1_hello_is_short() {
        let b = hex("01 00 00 00 14 00 00 00 01 00 00 00 01 00 00 00 00 02 00 00");
        let Packet::Hello(h) = Packet::parse(&b).unwrap() else { panic!() };
        assert_eq!((h.version, h.version_supported, h.max_cmd_len, h.mode, h.len), (1, 1, 0x200, 0, 0x14));
        assert_eq!(Packet::Hello(h).encode(), b);
        assert!(matches!(
            Packet::parse(&hex("01 00 00 00 10 00 00 00 01 00 00 00 01 00 00 00")),
            Err(SaharaError::BadLength { cmd: 1, got: 0x10, .. })
        ));
    }

    #[test]
    fn fixed_packet_bytes() {
        let cases: Vec<(Packet, &str)> = vec![
            (
                Packet::ReadData { image_id: 13, offset: 0, length: 0x34 },
                "03 00 00 00 14 00 00 00 0d 00 00 00 00 00 00 00 34 00 00 00",
            ),
            (
                Packet::EndImageTx { image_id: 13, status: 0x25 },
                "04 00 00 00 10 00 00 00 0d 00 00 00 25 00 00 00",
            ),
            (Packet::Done, "05 00 00 00 08 00 00 00"),
            (Packet::DoneResp { status: 1 }, "06 00 00 00 0c 00 00 00 01 00 00 00"),
            (Packet::Reset, "07 00 00 00 08 00 00 00"),
            (Packet::ResetResp, "08 00 00 00 08 00 00 00"),
            (
                Packet::MemoryDebug { table_addr: 0x1000, table_len: 0x34 },
                "09 00 00 00 10 00 00 00 00 10 00 00 34 00 00 00",
            ),
            (
                Packet::MemoryRead { addr: 0x8000_0000, len: 4 },
                "0a 00 00 00 10 00 00 00 00 00 00 80 04 00 00 00",
            ),
            (Packet::CmdReady, "0b 00 00 00 08 00 00 00"),
            (Packet::SwitchMode { mode: 0 }, "0c 00 00 00 0c 00 00 00 00 00 00 00"),
            (Packet::Execute { client_cmd: 1 }, "0d 00 00 00 0c 00 00 00 01 00 00 00"),
            (
                Packet::ExecuteResp { client_cmd: 1, len: 4 },
                "0e 00 00 00 10 00 00 00 01 00 00 00 04 00 00 00",
            ),
            (Packet::ExecuteData { client_cmd: 1 }, "0f 00 00 00 0c 00 00 00 01 00 00 00"),
            (
                Packet::MemoryDebug64 { table_addr: 0x1_0000_0000, table_len: 0x40 },
                "10 00 00 00 18 00 00 00 00 00 00 00 01 00 00 00 40 00 00 00 00 00 00 00",
            ),
            (
                Packet::MemoryRead64 { addr: 2, len: 3 },
                "11 00 00 00 18 00 00 00 02 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00",
            ),
            (
                Packet::ReadData64 { image_id: 13, offset: 0x1000, length: 0x578 },
                "12 00 00 00 20 00 00 00 0d 00 00 00 00 00 00 00 00 10 00 00 00 00 00 00 78 05 00 00 00 00 00 00",
            ),
            (Packet::ResetStateMachine, "13 00 00 00 08 00 00 00"),
            (Packet::Unknown { cmd: 0x14, body: vec![1, 2] }, "14 00 00 00 0a 00 00 00 01 02"),
        ];
        for (p, h) in cases {
            let b = hex(h);
            assert_eq!(p.encode(), b, "{p:?}");
            assert_eq!(Packet::parse(&b).unwrap(), p);
            assert_eq!(
                crate::protocol::sahara::framer::decode(&b).map(|(r, n)| (r.unwrap(), n)),
                Some((p, b.len()))
            );
        }
    }

    #[test]
    fn bad_lengths_are_typed() {
        // DONE with a body.
        assert!(matches!(
            Packet::parse(&hex("05 00 00 00 0c 00 00 00 00 00 00 00")),
            Err(SaharaError::BadLength { cmd: 5, expected: 8, got: 12, .. })
        ));
        // Length field disagrees with the bytes given.
        assert!(matches!(
            Packet::parse(&hex("05 00 00 00 0c 00 00 00")),
            Err(SaharaError::Truncated { expected: 12, got: 8, .. })
        ));
        assert!(matches!(Packet::parse(&[1, 0, 0]), Err(SaharaError::Truncated { .. })));
        // Impossible header lengths.
        for len in [0u32, 7, MAX_PACKET_LEN + 1, u32::MAX] {
            let mut b = vec![3, 0, 0, 0];
            b.extend_from_slice(&len.to_le_bytes());
            assert!(matches!(Packet::parse(&b), Err(SaharaError::BadFrameLength { .. })));
            let (r, used) = crate::protocol::sahara::framer::decode(&b).unwrap();
            assert!(r.is_err());
            assert_eq!(used, b.len());
        }
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Packet::parse(&bytes);
        }

        #[test]
        fn decode_accepts_any_body_for_known_header(id in 0u32..0x16, body in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let b = with_header(id, &body);
            let _ = Packet::parse(&b);
            if let Ok(p) = Packet::parse(&b) {
                // Whatever parses re-encodes to something that parses the same.
                proptest::prop_assert_eq!(Packet::parse(&p.encode()).unwrap(), p);
            }
        }
    }
}
