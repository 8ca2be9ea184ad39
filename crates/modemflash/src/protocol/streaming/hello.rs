//! HELLO request and response (`docs/facts/streaming.md`). Pure.

use super::codes::cmd;
use super::error::StreamingError;

/// Host magic, 32 bytes, no NUL.
pub const HOST_MAGIC: &[u8; 32] = b"QCOM fast download protocol host";
/// Target magic, 32 bytes, no NUL.
pub const TARGET_MAGIC: &[u8; 32] = b"QCOM fast download protocol targ";
/// Length of a HELLO request payload: command, magic, max, min, features.
pub const HELLO_REQUEST_LEN: usize = 36;
/// Bytes of a HELLO response up to and including the flash-id length (offset 43).
pub const HELLO_RESPONSE_FIXED_LEN: usize = 44;
/// Largest sector count accepted in a HELLO response. A streaming programmer's reply
/// fits 1024 bytes (docs/facts/hdlc-diag.md), so no honest reply lists more than ~245 sectors.
pub const MAX_HELLO_SECTORS: usize = 256;

/// Feature bits (docs/facts/streaming.md).
pub mod feature {
    pub const UNCOMPRESSED_DOWNLOAD: u8 = 0x01;
    pub const NAND_PRIMARY_IMAGE: u8 = 0x02;
    pub const NAND_BOOTLOADER_IMAGE: u8 = 0x04;
    pub const NAND_MULTI_IMAGE: u8 = 0x08;
    pub const SECTOR_ADDRESSES: u8 = 0x10;
}

/// What the host offers in HELLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloOptions {
    /// Highest protocol version the host speaks ("version").
    pub max_version: u8,
    /// Lowest protocol version the host accepts ("compatible version"; targets require ≥ 2).
    pub min_version: u8,
    /// Requested feature bits.
    pub features: u8,
}

impl HelloOptions {
    /// QFlash for MDM9615 (EC20 R1): 3 / 3 / 0x09 (uncompressed + multi-image) [confirmed].
    pub const QFLASH_9615: Self = Self {
        max_version: 3,
        min_version: 3,
        features: feature::UNCOMPRESSED_DOWNLOAD | feature::NAND_MULTI_IMAGE,
    };
    /// QFirehose's streaming path: 4 / 2 / 0 [confirmed].
    pub const QFIREHOSE: Self = Self { max_version: 4, min_version: 2, features: 0 };
}

impl Default for HelloOptions {
    fn default() -> Self {
        Self::QFLASH_9615
    }
}

/// Encode a HELLO request payload (36 bytes, before HDLC framing).
pub fn encode_hello(opts: &HelloOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(HELLO_REQUEST_LEN);
    out.push(cmd::HELLO);
    out.extend_from_slice(HOST_MAGIC);
    out.extend_from_slice(&[opts.max_version, opts.min_version, opts.features]);
    out
}

/// Device side: parse a HELLO request payload. Extra feature bytes after byte 35 are
/// allowed and ignored.
pub fn parse_hello(payload: &[u8]) -> Result<HelloOptions, StreamingError> {
    check_cmd(payload, cmd::HELLO, "HELLO")?;
    let magic = field(payload, 1, 32, "HELLO request")?;
    if magic != HOST_MAGIC {
        return Err(bad_magic(HOST_MAGIC, magic));
    }
    match payload.get(33..36) {
        Some(&[max_version, min_version, features]) => {
            Ok(HelloOptions { max_version, min_version, features })
        }
        _ => Err(StreamingError::Truncated {
            what: "HELLO request",
            expected: HELLO_REQUEST_LEN,
            got: payload.len(),
        }),
    }
}

/// The target's HELLO response.
///
/// Fields after the flash id are optional: some programmers end the reply early, so a
/// parser takes what is there. The encoder writes the optional fields in order and stops
/// at the first `None`, so a device side can reproduce such short replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloResponse {
    /// Target protocol version (4 if host max ≥ 4 over USB, else 3).
    pub version: u8,
    /// Target minimum ("compatible") version, 2.
    pub min_version: u8,
    /// Preferred (max) data bytes per STREAM_WRITE; 1024 in 9x07 hostdl builds.
    pub max_block_size: u32,
    /// Flash base address (0).
    pub flash_base: u32,
    /// Flash identification string as sent (ASCII, no NUL expected).
    pub flash_id: Vec<u8>,
    /// Number of receive buffers (2).
    pub window_size: Option<u16>,
    /// Sector count as announced (may exceed `sector_sizes.len()` if the reply is short).
    pub sector_count: Option<u16>,
    /// Sector sizes present in the reply.
    pub sector_sizes: Vec<u32>,
    /// Granted feature bits.
    pub features: Option<u8>,
}

impl HelloResponse {
    /// The flash id as text (lossy; trailing NULs dropped).
    pub fn flash_id_str(&self) -> String {
        String::from_utf8_lossy(&self.flash_id).trim_end_matches('\0').to_string()
    }

    /// Encode the response payload (device side). A flash id longer than 255 bytes is cut
    /// to 255 (its length is one byte on the wire).
    pub fn encode(&self) -> Vec<u8> {
        let id = self.flash_id.get(..self.flash_id.len().min(255)).unwrap_or_default();
        let mut out =
            Vec::with_capacity(HELLO_RESPONSE_FIXED_LEN + id.len() + 5 + 4 * self.sector_sizes.len());
        out.push(cmd::HELLO_RESP);
        out.extend_from_slice(TARGET_MAGIC);
        out.push(self.version);
        out.push(self.min_version);
        out.extend_from_slice(&self.max_block_size.to_le_bytes());
        out.extend_from_slice(&self.flash_base.to_le_bytes());
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        let Some(window) = self.window_size else { return out };
        out.extend_from_slice(&window.to_le_bytes());
        let Some(count) = self.sector_count else { return out };
        out.extend_from_slice(&count.to_le_bytes());
        for size in &self.sector_sizes {
            out.extend_from_slice(&size.to_le_bytes());
        }
        if let Some(features) = self.features {
            out.push(features);
        }
        out
    }

    /// Parse a HELLO response payload (host side). Mandatory: everything up to and
    /// including the flash id. A sector count above [`MAX_HELLO_SECTORS`] is an error;
    /// fewer sector sizes than announced are tolerated (the list is cut short and the
    /// feature byte is then absent). Trailing bytes after the feature byte are ignored.
    pub fn parse(payload: &[u8]) -> Result<Self, StreamingError> {
        check_cmd(payload, cmd::HELLO_RESP, "HELLO response")?;
        let magic = field(payload, 1, 32, "HELLO response")?;
        if magic != TARGET_MAGIC {
            return Err(bad_magic(TARGET_MAGIC, magic));
        }
        let fixed = field(payload, 33, 11, "HELLO response")?;
        let Some((&[version, min_version], rest)) = fixed.split_first_chunk::<2>() else {
            return Err(short("HELLO response", HELLO_RESPONSE_FIXED_LEN, payload.len()));
        };
        let max_block_size = le32(rest.get(..4)).unwrap_or_default();
        let flash_base = le32(rest.get(4..8)).unwrap_or_default();
        let id_len = rest.get(8).copied().unwrap_or_default() as usize;
        let flash_id = field(payload, HELLO_RESPONSE_FIXED_LEN, id_len, "HELLO response flash id")?.to_vec();

        let mut rsp = Self {
            version,
            min_version,
            max_block_size,
            flash_base,
            flash_id,
            window_size: None,
            sector_count: None,
            sector_sizes: Vec::new(),
            features: None,
        };
        let tail = payload.get(HELLO_RESPONSE_FIXED_LEN + id_len..).unwrap_or_default();
        let Some((window, tail)) = split_le16(tail) else { return Ok(rsp) };
        rsp.window_size = Some(window);
        let Some((count, tail)) = split_le16(tail) else { return Ok(rsp) };
        rsp.sector_count = Some(count);
        if count as usize > MAX_HELLO_SECTORS {
            return Err(StreamingError::TooManySectors { count, max: MAX_HELLO_SECTORS });
        }
        let mut chunks = tail.chunks_exact(4);
        rsp.sector_sizes = chunks.by_ref().take(count as usize).filter_map(|c| le32(Some(c))).collect();
        if rsp.sector_sizes.len() == count as usize {
            let after = tail.get(4 * count as usize..).unwrap_or_default();
            rsp.features = after.first().copied();
        }
        Ok(rsp)
    }
}

fn check_cmd(payload: &[u8], want: u8, what: &'static str) -> Result<(), StreamingError> {
    match payload.first() {
        None => Err(StreamingError::Empty),
        Some(&c) if c == want => Ok(()),
        Some(&c) => Err(StreamingError::Unexpected {
            expected: what,
            got: super::codes::command_name(c),
            cmd: c,
            len: payload.len(),
        }),
    }
}

fn field<'a>(
    payload: &'a [u8],
    at: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], StreamingError> {
    payload.get(at..at + len).ok_or(short(what, at + len, payload.len()))
}

fn short(what: &'static str, expected: usize, got: usize) -> StreamingError {
    StreamingError::Truncated { what, expected, got }
}

fn bad_magic(expected: &'static [u8; 32], got: &[u8]) -> StreamingError {
    StreamingError::BadMagic {
        expected: std::str::from_utf8(expected).unwrap_or_default(),
        got: String::from_utf8_lossy(got).into_owned(),
    }
}

pub(super) fn le32(b: Option<&[u8]>) -> Option<u32> {
    b.and_then(|b| b.try_into().ok()).map(u32::from_le_bytes)
}

fn split_le16(b: &[u8]) -> Option<(u16, &[u8])> {
    let (v, rest) = b.split_first_chunk::<2>()?;
    Some((u16::from_le_bytes(*v), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HelloResponse {
        HelloResponse {
            version: 3,
            min_version: 2,
            max_block_size: 1024,
            flash_base: 0,
            flash_id: b"NAND 256MiB".to_vec(),
            window_size: Some(2),
            sector_count: Some(2),
            sector_sizes: vec![0x20000, 0x40000],
            features: Some(0x09),
        }
    }

    #[test]
    fn hello_request_bytes_qflash_9615() {
        let p = encode_hello(&HelloOptions::default());
        assert_eq!(p.len(), 36);
        assert_eq!(p[0], 0x01);
        assert_eq!(&p[1..33], b"QCOM fast download protocol host");
        assert_eq!(&p[33..], &[3, 3, 0x09]);
        assert_eq!(parse_hello(&p).unwrap(), HelloOptions::QFLASH_9615);
        let q = encode_hello(&HelloOptions::QFIREHOSE);
        assert_eq!(&q[33..], &[4, 2, 0]);
    }

    #[test]
    fn hello_request_extra_bytes_ok_short_and_bad_magic_fail() {
        let mut p = encode_hello(&HelloOptions::QFIREHOSE);
        p.extend_from_slice(&[0xAA, 0xBB]);
        assert_eq!(parse_hello(&p).unwrap(), HelloOptions::QFIREHOSE);
        assert!(matches!(
            parse_hello(&p[..35]),
            Err(StreamingError::Truncated { expected: 36, got: 35, .. })
        ));
        p[5] = b'X';
        assert!(matches!(parse_hello(&p), Err(StreamingError::BadMagic { .. })));
        assert!(matches!(parse_hello(&[]), Err(StreamingError::Empty)));
        assert!(matches!(parse_hello(&[0x02]), Err(StreamingError::Unexpected { cmd: 0x02, .. })));
    }

    #[test]
    fn hello_response_byte_layout() {
        let b = sample().encode();
        assert_eq!(b[0], 0x02);
        assert_eq!(&b[1..33], b"QCOM fast download protocol targ");
        assert_eq!(&b[33..35], &[3, 2]);
        assert_eq!(&b[35..39], &[0x00, 0x04, 0x00, 0x00]);
        assert_eq!(&b[39..43], &[0, 0, 0, 0]);
        assert_eq!(b[43], 11);
        assert_eq!(&b[44..55], b"NAND 256MiB");
        assert_eq!(&b[55..57], &[2, 0]);
        assert_eq!(&b[57..59], &[2, 0]);
        assert_eq!(&b[59..67], &[0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00]);
        assert_eq!(b[67], 0x09);
        assert_eq!(b.len(), 68);
        let parsed = HelloResponse::parse(&b).unwrap();
        assert_eq!(parsed, sample());
        assert_eq!(parsed.flash_id_str(), "NAND 256MiB");
    }

    #[test]
    fn hello_response_truncated_tails_are_tolerated() {
        let full = sample().encode();
        // Ends right after the flash id.
        let r = HelloResponse::parse(&full[..55]).unwrap();
        assert_eq!((r.window_size, r.sector_count, r.features), (None, None, None));
        // Window only, then half a sector count.
        let r = HelloResponse::parse(&full[..58]).unwrap();
        assert_eq!((r.window_size, r.sector_count), (Some(2), None));
        // One and a half sectors: list cut, no features.
        let r = HelloResponse::parse(&full[..65]).unwrap();
        assert_eq!(r.sector_count, Some(2));
        assert_eq!(r.sector_sizes, vec![0x20000]);
        assert_eq!(r.features, None);
        // Trailing junk ignored.
        let mut long = full.clone();
        long.extend_from_slice(&[1, 2, 3]);
        assert_eq!(HelloResponse::parse(&long).unwrap(), sample());
    }

    #[test]
    fn hello_response_mandatory_fields_and_caps() {
        let full = sample().encode();
        assert!(matches!(
            HelloResponse::parse(&full[..43]),
            Err(StreamingError::Truncated { expected: 44, got: 43, .. })
        ));
        assert!(matches!(
            HelloResponse::parse(&full[..50]),
            Err(StreamingError::Truncated { expected: 55, got: 50, .. })
        ));
        let mut bad = full.clone();
        bad[1] = b'q';
        assert!(matches!(HelloResponse::parse(&bad), Err(StreamingError::BadMagic { .. })));
        let mut huge = full[..57].to_vec();
        huge.extend_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(matches!(
            HelloResponse::parse(&huge),
            Err(StreamingError::TooManySectors { count: 0xFFFF, max: MAX_HELLO_SECTORS })
        ));
        // Encoder stops at the first missing optional field.
        let mut short = sample();
        short.sector_count = None;
        assert_eq!(short.encode().len(), 57);
    }

    proptest::proptest! {
        #[test]
        fn hello_parsers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = HelloResponse::parse(&bytes);
            let _ = parse_hello(&bytes);
            let mut with_hdr = sample().encode()[..44].to_vec();
            with_hdr.extend_from_slice(&bytes);
            let _ = HelloResponse::parse(&with_hdr);
        }
    }
}
