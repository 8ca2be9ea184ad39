//! DIAG NV_READ (0x26): one NV item, both directions (the simulator answers with the
//! same layout), the IMEI's BCD layout in item 550, and the host-side read.
//!
//! Layout (docs/facts/hdlc-diag.md) [confirmed, libqcdm, edl, QFlash]: request and reply are
//! both `26, item u16 LE, data[128], status u16 LE` (133 bytes); the request's data and
//! status are zeros. Status 0 is OK, 5 "inactive" (the item was never written).
//!
//! Item 550 (`NV_UE_IMEI_I`) [confirmed: Qualcomm's own `nv_items_enum_type` as seen in
//! public trees and several QCDM tools]: byte 0 the number of BCD bytes (8), byte 1 the
//! first digit in its high nibble and the identity type `0xA` in its low nibble, then two
//! digits per byte, low nibble first (docs/facts/hdlc-diag.md).

use super::DiagError;
use super::client::DiagClient;
use super::codec::DiagReply;
use crate::transport::Transport;

/// NV_READ command code.
pub const CMD_NV_READ: u8 = 0x26;
/// Bytes of item data in a request or reply.
pub const NV_DATA_LEN: usize = 128;
/// Whole packet: code, item, data, status.
pub const NV_PACKET_LEN: usize = 1 + 2 + NV_DATA_LEN + 2;
/// `NV_UE_IMEI_I`.
pub const NV_UE_IMEI_I: u16 = 550;
/// The identity-type nibble of an IMEI in item 550.
const IMEI_TYPE_NIBBLE: u8 = 0x0a;

/// An NV status word (libqcdm `DMNVStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NvStatus {
    Ok,
    Busy,
    BadCommand,
    MemoryFull,
    Failed,
    /// Never written (or wiped).
    Inactive,
    BadParameter,
    ReadOnly,
    Other(u16),
}

impl NvStatus {
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => NvStatus::Ok,
            1 => NvStatus::Busy,
            2 => NvStatus::BadCommand,
            3 => NvStatus::MemoryFull,
            4 => NvStatus::Failed,
            5 => NvStatus::Inactive,
            6 => NvStatus::BadParameter,
            7 => NvStatus::ReadOnly,
            n => NvStatus::Other(n),
        }
    }

    pub fn code(self) -> u16 {
        match self {
            NvStatus::Ok => 0,
            NvStatus::Busy => 1,
            NvStatus::BadCommand => 2,
            NvStatus::MemoryFull => 3,
            NvStatus::Failed => 4,
            NvStatus::Inactive => 5,
            NvStatus::BadParameter => 6,
            NvStatus::ReadOnly => 7,
            NvStatus::Other(n) => n,
        }
    }
}

/// One NV item as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvItem {
    pub item: u16,
    pub data: [u8; NV_DATA_LEN],
    pub status: NvStatus,
}

/// Encode a packet (a request has zero data and status OK).
pub fn encode_nv(code: u8, item: u16, data: &[u8], status: NvStatus) -> Vec<u8> {
    let mut out = Vec::with_capacity(NV_PACKET_LEN);
    out.push(code);
    out.extend_from_slice(&item.to_le_bytes());
    let mut body = [0u8; NV_DATA_LEN];
    let n = data.len().min(NV_DATA_LEN);
    if let (Some(dst), Some(src)) = (body.get_mut(..n), data.get(..n)) {
        dst.copy_from_slice(src);
    }
    out.extend_from_slice(&body);
    out.extend_from_slice(&status.code().to_le_bytes());
    out
}

/// The NV_READ request for `item`.
pub fn nv_read_request(item: u16) -> Vec<u8> {
    encode_nv(CMD_NV_READ, item, &[], NvStatus::Ok)
}

/// Parse an NV packet (either direction). Longer packets are refused; a reply cut short
/// is `Short`.
pub fn parse_nv(payload: &[u8]) -> Result<NvItem, DiagError> {
    if payload.len() < NV_PACKET_LEN {
        return Err(DiagError::Short { what: "NV packet", expected: NV_PACKET_LEN, got: payload.len() });
    }
    if payload.len() > NV_PACKET_LEN {
        return Err(DiagError::Long { what: "NV packet", expected: NV_PACKET_LEN, got: payload.len() });
    }
    let u16_at = |at: usize| payload.get(at..at + 2).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes);
    let item = u16_at(1).ok_or(DiagError::Malformed { what: "NV packet", detail: "no item" })?;
    let status =
        u16_at(1 + 2 + NV_DATA_LEN).ok_or(DiagError::Malformed { what: "NV packet", detail: "no status" })?;
    let mut data = [0u8; NV_DATA_LEN];
    if let Some(src) = payload.get(3..3 + NV_DATA_LEN) {
        data.copy_from_slice(src);
    }
    Ok(NvItem { item, data, status: NvStatus::from_code(status) })
}

/// Item 550's data for a 15-digit IMEI; `None` unless 15 ASCII digits.
pub fn imei_to_nv(imei: &str) -> Option<[u8; 9]> {
    let d: Vec<u8> = imei.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    if d.len() != 15 || d.iter().any(|&x| x > 9) {
        return None;
    }
    let mut out = [0u8; 9];
    out[0] = 8;
    out[1] = (d.first()? << 4) | IMEI_TYPE_NIBBLE;
    for (i, pair) in d.get(1..)?.chunks(2).enumerate() {
        let lo = *pair.first()?;
        let hi = pair.get(1).copied().unwrap_or(0x0f);
        *out.get_mut(2 + i)? = (hi << 4) | lo;
    }
    Some(out)
}

/// The IMEI in item 550's data; `None` when the layout does not hold one.
pub fn imei_from_nv(data: &[u8]) -> Option<String> {
    let (&len, rest) = data.split_first()?;
    if len != 8 {
        return None;
    }
    let bytes = rest.get(..8)?;
    let (&first, others) = bytes.split_first()?;
    if first & 0x0f != IMEI_TYPE_NIBBLE {
        return None;
    }
    let mut digits = vec![first >> 4];
    for b in others {
        digits.push(b & 0x0f);
        digits.push(b >> 4);
    }
    if digits.iter().any(|&x| x > 9) {
        return None;
    }
    Some(digits.iter().map(|d| char::from(b'0' + d)).collect())
}

impl<T: Transport> DiagClient<T> {
    /// NV_READ one item. A device that refuses the command (BAD_PARM for an unreadable
    /// item) is an error; an item answered with a non-OK status is returned as such.
    pub fn nv_read(&mut self, item: u16) -> Result<NvItem, DiagError> {
        match self.request(&nv_read_request(item), "NV_READ")? {
            DiagReply::Other(frame) => {
                let nv = parse_nv(&frame)?;
                if nv.item != item {
                    return Err(DiagError::Unexpected {
                        command: "NV_READ",
                        expected: "the item asked for",
                        got: frame,
                    });
                }
                Ok(nv)
            }
            other => Err(DiagError::Unexpected {
                command: "NV_READ",
                expected: "an NV_READ reply",
                got: super::encode_reply(&other),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imei_round_trip_and_layout() {
        let nv = imei_to_nv("490154203237518").unwrap();
        // 4 | type A, then 9 0, 1 5, 4 2, 0 3, 2 3, 7 5, 1 8 low nibble first.
        assert_eq!(nv, [0x08, 0x4a, 0x09, 0x51, 0x24, 0x30, 0x32, 0x57, 0x81]);
        assert_eq!(imei_from_nv(&nv).as_deref(), Some("490154203237518"));
        assert_eq!(imei_to_nv("12345"), None);
        assert_eq!(imei_from_nv(&[0u8; 128]), None);
        assert_eq!(imei_from_nv(&[8, 0x4a]), None);
    }

    #[test]
    fn packets_are_133_bytes_and_parse_back() {
        let req = nv_read_request(NV_UE_IMEI_I);
        assert_eq!(req.len(), 133);
        assert_eq!(&req[..3], &[0x26, 0x26, 0x02]);
        let reply = encode_nv(CMD_NV_READ, 550, &[1, 2, 3], NvStatus::Inactive);
        let p = parse_nv(&reply).unwrap();
        assert_eq!((p.item, p.status, &p.data[..4]), (550, NvStatus::Inactive, &[1, 2, 3, 0][..]));
        assert!(parse_nv(&reply[..100]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = parse_nv(&bytes);
            let _ = imei_from_nv(&bytes);
        }
    }
}
