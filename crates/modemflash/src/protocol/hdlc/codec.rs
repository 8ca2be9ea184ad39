//! Pure HDLC encoder and streaming decoder. No I/O, no clock.

use crc::{CRC_16_IBM_SDLC, Crc, Table};

/// CRC-16/X-25 (alias CRC-16/IBM-SDLC): poly 0x1021 reflected, init and xorout 0xFFFF.
/// Slice-by-16 tables: the CRC runs over every byte of every DLOAD frame.
const X25: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_IBM_SDLC);

/// Position of the first byte that needs escaping (or ends a frame).
#[inline]
fn find_special(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == FLAG || b == ESCAPE)
}

/// Frame flag.
pub const FLAG: u8 = 0x7E;
/// Escape byte.
pub const ESCAPE: u8 = 0x7D;
/// XOR applied to an escaped byte.
pub const ESCAPE_XOR: u8 = 0x20;

/// Largest unescaped frame (payload + CRC) the decoder accepts by default. The streaming
/// programmer's limit is 1040 bytes (`docs/facts/hdlc-diag.md`); DIAG replies are smaller. A
/// generous bound keeps a hostile peer from growing the buffer without end.
pub const DEFAULT_MAX_FRAME: usize = 4096;

/// CRC-16/X-25 of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    X25.checksum(data)
}

/// Errors found while decoding a frame. The decoder resynchronises on the next flag
/// after each of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HdlcError {
    /// A frame shorter than the 2-byte CRC plus one payload byte.
    #[error("HDLC frame too short ({len} bytes after unescaping; at least 3 needed)")]
    TooShort { len: usize },
    /// The CRC did not match.
    #[error("HDLC CRC mismatch: frame carries {got:#06x}, payload computes {expected:#06x}")]
    BadCrc { expected: u16, got: u16 },
    /// More than the configured maximum arrived before a closing flag.
    #[error("HDLC frame longer than {max} bytes without a closing flag")]
    TooLong { max: usize },
    /// `0x7D` followed directly by a flag.
    #[error("HDLC escape byte 0x7D directly before a flag")]
    BadEscape,
}

fn push_escaped(out: &mut Vec<u8>, byte: u8) {
    if byte == FLAG || byte == ESCAPE {
        out.push(ESCAPE);
        out.push(byte ^ ESCAPE_XOR);
    } else {
        out.push(byte);
    }
}

/// Append the frame for `payload` to `out`: optional leading flag, escaped payload and
/// CRC (low byte first), trailing flag.
pub fn encode_into(payload: &[u8], leading_flag: bool, out: &mut Vec<u8>) {
    out.reserve(payload.len() + payload.len() / 16 + 6);
    if leading_flag {
        out.push(FLAG);
    }
    // Copy runs of ordinary bytes at once; only 2 byte values in 256 need escaping.
    let mut rest = payload;
    while let Some(i) = find_special(rest) {
        let (run, tail) = rest.split_at(i);
        out.extend_from_slice(run);
        if let Some((&b, tail)) = tail.split_first() {
            out.push(ESCAPE);
            out.push(b ^ ESCAPE_XOR);
            rest = tail;
        } else {
            rest = tail;
        }
    }
    out.extend_from_slice(rest);
    let [lo, hi] = crc16(payload).to_le_bytes();
    push_escaped(out, lo);
    push_escaped(out, hi);
    out.push(FLAG);
}

/// The frame for `payload`, as a new buffer.
pub fn encode(payload: &[u8], leading_flag: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(payload, leading_flag, &mut out);
    out
}

/// A streaming decoder: feed it bytes as they arrive, in any split, and take frames out.
///
/// It tolerates garbage before the first flag (it is taken as a frame and usually fails
/// its CRC, which the caller may ignore), duplicate flags and empty frames (`7E 7E`).
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
    escaped: bool,
    max: usize,
    overflow: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder {
    /// A decoder that rejects frames longer than `max_frame` unescaped bytes.
    pub fn new(max_frame: usize) -> Self {
        Self { buf: Vec::new(), escaped: false, max: max_frame.max(3), overflow: false }
    }

    /// Bytes of an unfinished frame held so far.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Forget any partial frame.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.escaped = false;
        self.overflow = false;
    }

    /// Feed `input`; call `on_frame` with each complete frame's payload (CRC stripped) or
    /// error, in order. Returns how many frames or errors were reported.
    pub fn feed(&mut self, input: &[u8], mut on_frame: impl FnMut(Result<&[u8], HdlcError>)) -> usize {
        let mut count = 0;
        let mut rest = input;
        while !rest.is_empty() {
            // Fast path: copy the run of ordinary bytes up to the next flag or escape.
            if !self.escaped {
                let run_len = find_special(rest).unwrap_or(rest.len());
                let (run, tail) = rest.split_at(run_len);
                self.push_run(run);
                rest = tail;
            }
            let Some((&b, tail)) = rest.split_first() else { break };
            rest = tail;
            if b == FLAG {
                if let Some(result) = self.finish() {
                    count += 1;
                    match result {
                        Ok(len) => on_frame(Ok(self.buf.get(..len).unwrap_or_default())),
                        Err(e) => on_frame(Err(e)),
                    }
                }
                self.reset();
            } else if self.escaped {
                self.escaped = false;
                self.push_run(&[b ^ ESCAPE_XOR]);
            } else {
                // b == ESCAPE
                self.escaped = true;
            }
        }
        count
    }

    /// Append unescaped bytes, stopping at the frame-size bound.
    fn push_run(&mut self, run: &[u8]) {
        if self.overflow || run.is_empty() {
            return;
        }
        let room = self.max - self.buf.len();
        if run.len() > room {
            self.buf.extend_from_slice(run.get(..room).unwrap_or_default());
            self.overflow = true;
        } else {
            self.buf.extend_from_slice(run);
        }
    }

    /// Convenience: feed `input` and collect owned results.
    pub fn feed_collect(&mut self, input: &[u8]) -> Vec<Result<Vec<u8>, HdlcError>> {
        let mut out = Vec::new();
        self.feed(input, |r| out.push(r.map(<[u8]>::to_vec)));
        out
    }

    /// Validate the buffered frame at a flag. `None` for an empty frame.
    fn finish(&self) -> Option<Result<usize, HdlcError>> {
        if self.overflow {
            return Some(Err(HdlcError::TooLong { max: self.max }));
        }
        if self.escaped {
            return Some(Err(HdlcError::BadEscape));
        }
        let len = self.buf.len();
        if len == 0 {
            return None;
        }
        if len < 3 {
            return Some(Err(HdlcError::TooShort { len }));
        }
        let body = len - 2;
        let (payload, tail) = self.buf.split_at(body);
        let got = match tail {
            [lo, hi] => u16::from_le_bytes([*lo, *hi]),
            _ => return Some(Err(HdlcError::TooShort { len })),
        };
        let expected = crc16(payload);
        if got == expected { Some(Ok(body)) } else { Some(Err(HdlcError::BadCrc { expected, got })) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::hex;

    /// Worked frames from `docs/facts/hdlc-diag.md`.
    const WORKED: &[(&str, bool, &str)] = &[
        ("06", true, "7e 06 4e 95 7e"),
        ("02", true, "7e 02 6a d3 7e"),
        ("05 41 70 00 00", true, "7e 05 41 70 00 00 f7 63 7e"),
        ("05 20 01 20 00", true, "7e 05 20 01 20 00 9f 1f 7e"),
        ("0b", true, "7e 0b ab 4e 7e"),
        ("17 01", true, "7e 17 01 57 c6 7e"),
        ("3a", false, "3a a1 6e 7e"),
        ("4b 65 01 00", false, "4b 65 01 00 54 0f 7e"),
        ("7c", true, "7e 7c 93 49 7e"),
        ("13 06", false, "13 06 88 d5 7e"),
        ("7e 7d", true, "7e 7d 5e 7d 5d f1 cd 7e"),
    ];

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16(b"123456789"), 0x906E);
    }

    #[test]
    fn worked_frames_encode_byte_exactly() {
        for (payload, lead, wire) in WORKED {
            assert_eq!(encode(&hex(payload), *lead), hex(wire), "payload {payload}");
        }
    }

    #[test]
    fn worked_frames_decode() {
        for (payload, _, wire) in WORKED {
            let mut d = Decoder::default();
            let frames = d.feed_collect(&hex(wire));
            assert_eq!(frames, vec![Ok(hex(payload))], "wire {wire}");
        }
    }

    #[test]
    fn duplicate_flags_and_split_reads() {
        let wire = hex("7e 7e 7e 05 41 70 00 00 f7 63 7e 7e 13 06 88 d5 7e");
        let mut d = Decoder::default();
        let mut frames = Vec::new();
        for b in &wire {
            frames.extend(d.feed_collect(std::slice::from_ref(b)));
        }
        assert_eq!(frames, vec![Ok(hex("05 41 70 00 00")), Ok(hex("13 06"))]);
    }

    #[test]
    fn garbage_before_first_flag_is_an_error_then_resyncs() {
        let mut d = Decoder::default();
        let frames = d.feed_collect(&hex("11 22 33 44 7e 06 4e 95 7e"));
        assert!(matches!(frames[0], Err(HdlcError::BadCrc { .. })));
        assert_eq!(frames[1], Ok(vec![0x06]));
    }

    #[test]
    fn short_bad_crc_long_and_bad_escape() {
        let mut d = Decoder::new(8);
        assert_eq!(d.feed_collect(&hex("06 4e 7e")), vec![Err(HdlcError::TooShort { len: 2 })]);
        assert_eq!(
            d.feed_collect(&hex("06 4e 96 7e")),
            vec![Err(HdlcError::BadCrc { expected: 0x954e, got: 0x964e })]
        );
        assert_eq!(d.feed_collect(&[0u8; 20]), vec![]);
        assert_eq!(d.feed_collect(&[FLAG]), vec![Err(HdlcError::TooLong { max: 8 })]);
        assert_eq!(d.feed_collect(&hex("06 7d 7e")), vec![Err(HdlcError::BadEscape)]);
        assert_eq!(d.feed_collect(&hex("06 4e 95 7e")), vec![Ok(vec![6])]);
    }

    proptest::proptest! {
        #[test]
        fn round_trip_under_random_chunking(
            payloads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..300), 1..8),
            cuts in proptest::collection::vec(1usize..64, 1..40),
            lead in proptest::bool::ANY,
        ) {
            let mut wire = Vec::new();
            for p in &payloads {
                encode_into(p, lead, &mut wire);
            }
            let mut d = Decoder::default();
            let mut got = Vec::new();
            let mut rest: &[u8] = &wire;
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                got.extend(d.feed_collect(chunk));
                rest = tail;
                i += 1;
            }
            let want: Vec<_> = payloads.iter().cloned().map(Ok).collect();
            proptest::prop_assert_eq!(got, want);
        }

        #[test]
        fn decoder_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
            let mut d = Decoder::new(64);
            let _ = d.feed_collect(&data);
        }
    }
}
