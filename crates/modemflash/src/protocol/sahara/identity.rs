//! Decoding EXECUTE answers of Sahara command mode (`docs/facts/sahara.md`). Pure.

use super::codes::{exec, exec_name};
use super::error::SaharaError;

/// MSM hardware id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HwId {
    pub msm_id: u32,
    pub oem_id: u16,
    pub model_id: u16,
}

impl HwId {
    /// From the LE64 of MSM_HW_ID_READ: MSM_ID bits 63..32, OEM_ID 31..16, MODEL_ID 15..0.
    pub fn from_u64(v: u64) -> Self {
        Self { msm_id: (v >> 32) as u32, oem_id: (v >> 16) as u16, model_id: v as u16 }
    }

    /// Back to the 64-bit form (`0x000480E100000000` for an MDM9x07).
    pub fn as_u64(self) -> u64 {
        (u64::from(self.msm_id) << 32) | (u64::from(self.oem_id) << 16) | u64::from(self.model_id)
    }
}

/// What command mode tells about the chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Sahara version of the target's HELLO.
    pub sahara_version: u32,
    pub serial: u32,
    pub hw_id: HwId,
    /// OEM public-key hash, repetition trimmed (32 or 48 bytes usually).
    pub pk_hash: Vec<u8>,
}

impl Identity {
    /// The PK hash as lowercase hex.
    pub fn pk_hash_hex(&self) -> String {
        use std::fmt::Write;
        self.pk_hash.iter().fold(String::with_capacity(2 * self.pk_hash.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

fn need(data: &[u8], cmd: u32, n: usize) -> Result<(), SaharaError> {
    if data.len() < n {
        return Err(SaharaError::ExecuteData { name: exec_name(cmd), expected: n, got: data.len() });
    }
    Ok(())
}

fn le_at<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at + N)?.try_into().ok()
}

/// SERIAL_NUM_READ: LE32.
pub fn parse_serial(data: &[u8]) -> Result<u32, SaharaError> {
    need(data, exec::SERIAL_NUM_READ, 4)?;
    Ok(le_at::<4>(data, 0).map(u32::from_le_bytes).unwrap_or_default())
}

/// MSM_HW_ID_READ: LE64.
pub fn parse_msm_hw_id(data: &[u8]) -> Result<HwId, SaharaError> {
    need(data, exec::MSM_HW_ID_READ, 8)?;
    Ok(HwId::from_u64(le_at::<8>(data, 0).map(u64::from_le_bytes).unwrap_or_default()))
}

/// READ_CHIP_ID_V3: ≥ 44 bytes; MSM_ID LE32 @36, OEM_ID LE16 @40 (or @44 when that is 0
/// and present), MODEL_ID LE16 @42.
pub fn parse_chip_id_v3(data: &[u8]) -> Result<HwId, SaharaError> {
    need(data, exec::READ_CHIP_ID_V3, 44)?;
    let u16_at = |at| le_at::<2>(data, at).map(u16::from_le_bytes);
    let msm_id = le_at::<4>(data, 36).map(u32::from_le_bytes).unwrap_or_default();
    let mut oem_id = u16_at(40).unwrap_or_default();
    if oem_id == 0 {
        oem_id = u16_at(44).unwrap_or_default();
    }
    Ok(HwId { msm_id, oem_id, model_id: u16_at(42).unwrap_or_default() })
}

/// OEM_PK_HASH_READ answers often repeat the hash to fill the buffer: keep one copy when
/// the data is a whole number (≥ 2) of identical 32-, 48- or 64-byte blocks.
pub fn trim_pk_hash(data: &[u8]) -> &[u8] {
    for size in [32, 48, 64] {
        if data.len() > size && data.len().is_multiple_of(size) {
            let first = data.get(..size).unwrap_or_default();
            if data.chunks_exact(size).all(|c| c == first) {
                return first;
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EC25-E test-root hash (`docs/facts/sahara.md`).
    const PK: &str = "cc3153a80293939b90d02d3bf8b23e0292e452fef662c74998421adad42a380f";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn mdm9x07_identity() {
        let hw = parse_msm_hw_id(&0x0004_80E1_0000_0000u64.to_le_bytes()).unwrap();
        assert_eq!(hw, HwId { msm_id: 0x0004_80E1, oem_id: 0, model_id: 0 });
        assert_eq!(hw.as_u64(), 0x0004_80E1_0000_0000);
        assert_eq!(
            HwId::from_u64(0x1122_3344_5566_7788),
            HwId { msm_id: 0x1122_3344, oem_id: 0x5566, model_id: 0x7788 }
        );
        assert_eq!(parse_serial(&[0x64, 0x4C, 0xF9, 0x0C]).unwrap(), 0x0CF9_4C64);
        let pk = unhex(PK);
        let repeated: Vec<u8> = pk.iter().copied().cycle().take(32 * 3).collect();
        assert_eq!(trim_pk_hash(&repeated), &pk[..]);
        let id = Identity { sahara_version: 2, serial: 1, hw_id: hw, pk_hash: pk };
        assert_eq!(id.pk_hash_hex(), PK);
    }

    #[test]
    fn pk_hash_trimming_edge_cases() {
        let h48: Vec<u8> = (0..48).collect();
        let two: Vec<u8> = h48.iter().chain(&h48).copied().collect();
        assert_eq!(trim_pk_hash(&two), &h48[..]);
        assert_eq!(trim_pk_hash(&h48), &h48[..]);
        let mut not_repeated = two.clone();
        not_repeated[60] ^= 1;
        assert_eq!(trim_pk_hash(&not_repeated), &not_repeated[..]);
        assert_eq!(trim_pk_hash(&[]), &[] as &[u8]);
    }

    #[test]
    fn chip_id_v3_and_short_answers() {
        let mut d = vec![0u8; 46];
        d[36..40].copy_from_slice(&0x0004_80E1u32.to_le_bytes());
        d[42..44].copy_from_slice(&7u16.to_le_bytes());
        d[44..46].copy_from_slice(&0x51u16.to_le_bytes());
        assert_eq!(parse_chip_id_v3(&d).unwrap(), HwId { msm_id: 0x0004_80E1, oem_id: 0x51, model_id: 7 });
        d[40] = 3;
        assert_eq!(parse_chip_id_v3(&d).unwrap().oem_id, 3);
        assert!(matches!(
            parse_chip_id_v3(&d[..43]),
            Err(SaharaError::ExecuteData { expected: 44, got: 43, .. })
        ));
        assert!(matches!(parse_serial(&[1, 2, 3]), Err(SaharaError::ExecuteData { .. })));
        assert!(matches!(parse_msm_hw_id(&[0; 7]), Err(SaharaError::ExecuteData { .. })));
    }
}
