//! Intel HEX, as used for the MDM9615 DMSS programmers `NPRG9x15.hex`/`ENPRG9x15.hex`
//! (`docs/facts/packages.md`, `docs/facts/dmss.md`).
//!
//! All six record types are parsed and every checksum is verified. Quectel's own loader
//! concatenates data records blindly [confirmed]; we keep real addresses, merge adjacent records
//! into segments and report whether the image is contiguous, so a gap is visible before
//! anything is uploaded.

use std::io::BufRead;

use serde::Serialize;

/// Longest line accepted (a record holds at most 255 data bytes: 1+2·(5+255) chars).
const MAX_LINE: usize = 600;
/// Largest image accepted (the 9615 programmers are a few hundred KiB).
pub const MAX_IMAGE: usize = 16 << 20;

/// A problem in a HEX file, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("line {line}: {what}")]
    Syntax { line: usize, what: String },
    #[error("line {line}: checksum {got:#04x}, expected {expected:#04x}")]
    Checksum { line: usize, expected: u8, got: u8 },
    #[error("no end-of-file record (type 01): the file is truncated")]
    Truncated,
    #[error("line {line}: data after the end-of-file record")]
    AfterEof { line: usize },
    #[error("image larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("no data records")]
    Empty,
    #[error("read error: {0}")]
    Io(String),
}

/// A run of contiguous bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub address: u32,
    #[serde(skip)]
    pub data: Vec<u8>,
    pub len: usize,
}

/// A parsed HEX image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HexImage {
    pub segments: Vec<Segment>,
    /// Start linear address (type 05), the DMSS GO address.
    pub start_linear: Option<u32>,
    /// Start segment address (type 03) as CS:IP folded to a linear address.
    pub start_segment: Option<u32>,
    pub records: usize,
}

impl HexImage {
    /// First and one-past-last load address.
    pub fn load_range(&self) -> Option<(u32, u64)> {
        let first = self.segments.first()?.address;
        let end = self.segments.iter().map(|s| u64::from(s.address) + s.len as u64).max()?;
        Some((first, end))
    }

    /// True when all data forms one segment.
    pub fn is_contiguous(&self) -> bool {
        self.segments.len() == 1
    }

    /// Total data bytes.
    pub fn data_len(&self) -> usize {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// The address to GO to: the start linear address, else the start segment address,
    /// else the first load address.
    pub fn entry(&self) -> Option<u32> {
        self.start_linear.or(self.start_segment).or_else(|| self.segments.first().map(|s| s.address))
    }
}

fn hex_byte(s: &[u8]) -> Option<u8> {
    let d = |c: u8| (c as char).to_digit(16);
    match s {
        [a, b] => Some((d(*a)? * 16 + d(*b)?) as u8),
        _ => None,
    }
}

/// Parse a HEX stream.
pub fn parse(reader: impl BufRead) -> Result<HexImage, HexError> {
    let mut segments: Vec<Segment> = Vec::new();
    let mut upper: u32 = 0;
    let mut start_linear = None;
    let mut start_segment = None;
    let mut eof = false;
    let mut records = 0;
    let mut total = 0usize;
    let mut bytes = Vec::with_capacity(64);
    for (idx, line) in reader.split(b'\n').enumerate() {
        let line_no = idx + 1;
        let line = line.map_err(|e| HexError::Io(e.to_string()))?;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if eof {
            return Err(HexError::AfterEof { line: line_no });
        }
        let syn = |what: &str| HexError::Syntax { line: line_no, what: what.to_owned() };
        if text.len() > MAX_LINE {
            return Err(syn("line too long for a HEX record"));
        }
        let Some(body) = text.strip_prefix(b":") else { return Err(syn("record does not start with ':'")) };
        if body.len() % 2 != 0 || body.len() < 10 {
            return Err(syn("record has an odd or too short number of hex digits"));
        }
        bytes.clear();
        for pair in body.chunks(2) {
            bytes.push(hex_byte(pair).ok_or_else(|| syn("non-hex character"))?);
        }
        let (count, rest) = bytes.split_first().ok_or_else(|| syn("empty record"))?;
        let count = usize::from(*count);
        if rest.len() != count + 4 {
            return Err(syn(&format!(
                "byte count says {count} data bytes, record holds {}",
                rest.len().saturating_sub(4)
            )));
        }
        let sum = bytes.iter().take(bytes.len() - 1).fold(0u8, |a, b| a.wrapping_add(*b));
        let expected = 0u8.wrapping_sub(sum);
        let got = *bytes.last().unwrap_or(&0);
        if got != expected {
            return Err(HexError::Checksum { line: line_no, expected, got });
        }
        let (Some(&ah), Some(&al), Some(&rtype)) = (rest.first(), rest.get(1), rest.get(2)) else {
            return Err(syn("short record"));
        };
        let offset = u32::from(u16::from_be_bytes([ah, al]));
        let data = rest.get(3..3 + count).unwrap_or_default();
        records += 1;
        match rtype {
            0x00 => {
                let addr = upper.wrapping_add(offset);
                total += data.len();
                if total > MAX_IMAGE {
                    return Err(HexError::TooLarge { max: MAX_IMAGE });
                }
                match segments.last_mut() {
                    Some(seg) if u64::from(seg.address) + seg.len as u64 == u64::from(addr) => {
                        seg.data.extend_from_slice(data);
                        seg.len = seg.data.len();
                    }
                    _ => segments.push(Segment { address: addr, data: data.to_vec(), len: data.len() }),
                }
            }
            0x01 => eof = true,
            0x02 => {
                let [a, b] = data else { return Err(syn("type 02 needs 2 data bytes")) };
                upper = u32::from(u16::from_be_bytes([*a, *b])) << 4;
            }
            0x03 => {
                let [a, b, c, d] = data else { return Err(syn("type 03 needs 4 data bytes")) };
                let cs = u32::from(u16::from_be_bytes([*a, *b]));
                let ip = u32::from(u16::from_be_bytes([*c, *d]));
                start_segment = Some((cs << 4).wrapping_add(ip));
            }
            0x04 => {
                let [a, b] = data else { return Err(syn("type 04 needs 2 data bytes")) };
                upper = u32::from(u16::from_be_bytes([*a, *b])) << 16;
            }
            0x05 => {
                let d: [u8; 4] = data.try_into().map_err(|_| syn("type 05 needs 4 data bytes"))?;
                start_linear = Some(u32::from_be_bytes(d));
            }
            other => return Err(syn(&format!("unknown record type {other:#04x}"))),
        }
    }
    if !eof {
        return Err(HexError::Truncated);
    }
    if segments.is_empty() {
        return Err(HexError::Empty);
    }
    // Records may come out of order; present segments by address and merge neighbours.
    segments.sort_by_key(|s| s.address);
    let mut merged: Vec<Segment> = Vec::with_capacity(segments.len());
    for seg in segments {
        match merged.last_mut() {
            Some(last) if u64::from(last.address) + last.len as u64 == u64::from(seg.address) => {
                last.data.extend_from_slice(&seg.data);
                last.len = last.data.len();
            }
            _ => merged.push(seg),
        }
    }
    Ok(HexImage { segments: merged, start_linear, start_segment, records })
}

/// Write `data` at `address` as Intel HEX (type 04 + 00 records, type 05 start, EOF).
/// Used by the package builder and by tests.
pub fn write(address: u32, data: &[u8], start: Option<u32>) -> String {
    fn rec(out: &mut String, rtype: u8, offset: u16, data: &[u8]) {
        let mut sum = (data.len() as u8)
            .wrapping_add((offset >> 8) as u8)
            .wrapping_add(offset as u8)
            .wrapping_add(rtype);
        out.push_str(&format!(":{:02X}{offset:04X}{rtype:02X}", data.len()));
        for b in data {
            sum = sum.wrapping_add(*b);
            out.push_str(&format!("{b:02X}"));
        }
        out.push_str(&format!("{:02X}\n", 0u8.wrapping_sub(sum)));
    }
    let mut out = String::with_capacity(data.len() * 2 + data.len() / 16 * 12 + 64);
    let mut upper = None;
    for (i, chunk) in data.chunks(16).enumerate() {
        let addr = address.wrapping_add((i * 16) as u32);
        let hi = (addr >> 16) as u16;
        if upper != Some(hi) {
            rec(&mut out, 0x04, 0, &hi.to_be_bytes());
            upper = Some(hi);
        }
        rec(&mut out, 0x00, addr as u16, chunk);
    }
    if let Some(s) = start {
        rec(&mut out, 0x05, 0, &s.to_be_bytes());
    }
    rec(&mut out, 0x01, 0, &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_start_address() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let text = write(0x4170_fff0, &data, Some(0x4170_0000));
        let img = parse(text.as_bytes()).unwrap();
        assert!(img.is_contiguous());
        assert_eq!(img.segments[0].data, data);
        assert_eq!(img.load_range(), Some((0x4170_fff0, 0x4170_fff0 + 1000)));
        assert_eq!(img.entry(), Some(0x4170_0000));
    }

    #[test]
    fn reference_records() {
        // Classic examples: data, extended segment, start segment, EOF.
        let text = ":020000021000EC\n:0300300002337A1E\n:0400000300003800C1\n:00000001FF\n";
        let img = parse(text.as_bytes()).unwrap();
        assert_eq!(img.segments[0].address, 0x10030);
        assert_eq!(img.segments[0].data, vec![0x02, 0x33, 0x7a]);
        assert_eq!(img.start_segment, Some(0x3800));
    }

    #[test]
    fn gaps_are_reported() {
        let mut text = write(0x1000, &[1, 2, 3], None);
        text = text.replace(":00000001FF\n", "");
        text.push_str(&write(0x2000, &[4], Some(0x1000)));
        let img = parse(text.as_bytes()).unwrap();
        assert!(!img.is_contiguous());
        assert_eq!(img.segments.len(), 2);
    }

    #[test]
    fn bad_checksum_truncation_and_syntax() {
        let text = write(0x1000, &[1, 2, 3], Some(0x1000));
        let bad = text.replacen(":03100000010203", ":03100000010204", 1);
        assert!(matches!(parse(bad.as_bytes()), Err(HexError::Checksum { line: 2, .. })));
        let truncated: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        assert_eq!(parse(truncated.as_bytes()), Err(HexError::Truncated));
        assert!(matches!(parse("hello\n".as_bytes()), Err(HexError::Syntax { line: 1, .. })));
        assert!(matches!(parse(":0G\n".as_bytes()), Err(HexError::Syntax { .. })));
        assert!(matches!(parse(":05000000010203FF\n".as_bytes()), Err(HexError::Syntax { .. })));
        assert_eq!(parse(":00000001FF\n".as_bytes()), Err(HexError::Empty));
        assert!(matches!(
            parse(":00000001FF\n:00000001FF\n".as_bytes()),
            Err(HexError::AfterEof { line: 2 })
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(data.as_slice());
        }
        #[test]
        fn never_panics_on_hexish_text(s in "(:[0-9A-F]{0,20}\n){0,10}") {
            let _ = parse(s.as_bytes());
        }
    }
}
