//! Quectel's mode probe ("send_sync"): write a raw DMSS NOP to the DM port and tell from the
//! first bytes that come back what is listening (`docs/facts/dmss.md`)
//! [confirmed]. Pure: the client collects bytes, this module judges them.

/// The raw bytes QFlash writes: a DMSS NOP with a leading flag.
pub const PROBE_NOP: [u8; 5] = [0x7E, 0x06, 0x4E, 0x95, 0x7E];

/// Most bytes QFlash reads for the verdict (`docs/facts/dmss.md`) [confirmed].
pub const PROBE_MAX_READ: usize = 100;

/// DMSS ACK frame without its leading flag.
const ACK_FRAME: [u8; 4] = [0x02, 0x6A, 0xD3, 0x7E];
/// DIAG bad-command reply to `06`: opcode 0x13, then the echoed NOP.
const BAD_CMD_PREFIX: [u8; 2] = [0x13, 0x06];
/// First payload byte of a streaming-download LOG packet.
const STREAMING_LOG: u8 = 0x0E;
/// Size of a Sahara HELLO packet.
const SAHARA_HELLO_LEN: usize = 48;
/// Size of a Sahara END_IMAGE_TX packet.
const SAHARA_END_IMAGE_LEN: usize = 16;

/// What answered the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbedMode {
    /// DMSS download mode (PBL/SBL "QDL"): the NOP was ACKed.
    Dload,
    /// The application is running and its DIAG task rejected 0x06 as a bad command.
    NormalDiag,
    /// A streaming-download programmer is running (it answers with a LOG packet, `7E 0E …`).
    StreamingProgrammer,
    /// The boot ROM speaks Sahara: a 48-byte HELLO (first LE32 = 1).
    SaharaHello,
    /// Sahara END_IMAGE_TX (first LE32 = 4): the target is in an error state.
    SaharaEndImageTx,
    /// Nothing recognisable; the bytes that came (possibly none).
    Unknown(Vec<u8>),
}

fn le32_first(raw: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(raw.get(..4)?.try_into().ok()?))
}

/// Judge the bytes read so far. `None` means "not decided yet: read more"; once the caller
/// stops reading it reports [`ProbedMode::Unknown`] with the bytes.
pub fn classify_probe(raw: &[u8]) -> Option<ProbedMode> {
    // Sahara packets are raw little-endian structs, not HDLC: check them on the raw bytes.
    match le32_first(raw) {
        Some(1) if raw.len() >= SAHARA_HELLO_LEN => return Some(ProbedMode::SaharaHello),
        Some(4) if raw.len() >= SAHARA_END_IMAGE_LEN => return Some(ProbedMode::SaharaEndImageTx),
        _ => {}
    }
    // [inferred] duplicate leading flags are tolerated, as every HDLC receiver must.
    let start = raw.iter().position(|&b| b != 0x7E)?;
    let rest = raw.get(start..).unwrap_or_default();
    if rest.starts_with(&ACK_FRAME) {
        return Some(ProbedMode::Dload);
    }
    if rest.starts_with(&BAD_CMD_PREFIX) {
        return Some(ProbedMode::NormalDiag);
    }
    // QFlash requires the leading flag before 0x0E (the programmer always sends one).
    if start > 0 && rest.first() == Some(&STREAMING_LOG) {
        return Some(ProbedMode::StreamingProgrammer);
    }
    let could_grow = ACK_FRAME.starts_with(rest)
        || BAD_CMD_PREFIX.starts_with(rest)
        || match le32_first(raw) {
            Some(first) => first == 1 || first == 4,
            None => [1, 0, 0, 0].starts_with(raw) || [4, 0, 0, 0].starts_with(raw),
        };
    if could_grow && raw.len() < PROBE_MAX_READ { None } else { Some(ProbedMode::Unknown(raw.to_vec())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::hex;

    #[test]
    fn probe_nop_is_the_worked_frame() {
        assert_eq!(PROBE_NOP.to_vec(), hex("7e 06 4e 95 7e"));
    }

    #[test]
    fn classifies_the_documented_replies() {
        assert_eq!(classify_probe(&hex("7e 02 6a d3 7e")), Some(ProbedMode::Dload));
        assert_eq!(classify_probe(&hex("7e 7e 02 6a d3 7e")), Some(ProbedMode::Dload));
        assert_eq!(classify_probe(&hex("13 06 88 d5 7e")), Some(ProbedMode::NormalDiag));
        let log = hex("7e 0e 49 6e 76 61 6c 69 64");
        assert_eq!(classify_probe(&log), Some(ProbedMode::StreamingProgrammer));
        let mut hello = vec![0u8; 48];
        hello[0] = 1;
        hello[4] = 48;
        assert_eq!(classify_probe(&hello), Some(ProbedMode::SaharaHello));
        let mut end = vec![0u8; 16];
        end[0] = 4;
        end[4] = 16;
        assert_eq!(classify_probe(&end), Some(ProbedMode::SaharaEndImageTx));
    }

    #[test]
    fn partial_replies_ask_for_more() {
        assert_eq!(classify_probe(&[]), None);
        assert_eq!(classify_probe(&hex("7e")), None);
        assert_eq!(classify_probe(&hex("7e 02 6a")), None);
        assert_eq!(classify_probe(&hex("13")), None);
        assert_eq!(classify_probe(&hex("01 00 00 00 30 00")), None);
    }

    #[test]
    fn garbage_is_unknown_with_its_bytes() {
        assert_eq!(classify_probe(&hex("41 54 0d")), Some(ProbedMode::Unknown(hex("41 54 0d"))));
        assert_eq!(classify_probe(&hex("7e 03 00 06")), Some(ProbedMode::Unknown(hex("7e 03 00 06"))));
        // 0x0E without the programmer's leading flag is not the streaming LOG QFlash expects.
        assert_eq!(classify_probe(&hex("0e 41 42 43")), Some(ProbedMode::Unknown(hex("0e 41 42 43"))));
    }

    #[test]
    fn long_undecided_input_gives_up() {
        let raw = vec![0x7E; PROBE_MAX_READ];
        assert_eq!(classify_probe(&raw), None, "only flags: nothing said yet");
        let mut raw = vec![1u8, 0, 0, 0];
        raw.resize(47, 0);
        assert_eq!(classify_probe(&raw), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = classify_probe(&data);
        }
    }
}
