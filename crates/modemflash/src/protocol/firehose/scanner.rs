//! Streaming splitter for Firehose input: bytes arrive in any split, documents end at
//! `</data>` (`docs/facts/firehose.md`: several documents may share one read). Raw data may
//! share a read with XML: after `rawmode="true"` the host sends sectors, and after a
//! `read` ACK the target does; the caller then takes raw bytes with
//! [`Scanner::take_raw`] instead of asking for documents.
//!
//! Used by both sides: the host turns documents into [`Event`]s, the device into
//! [`Command`](super::Command)s. Pure and bounded: the buffer never grows past its
//! capacity.

use std::collections::VecDeque;

use super::FirehoseError;
use super::command::Command;
use super::xml::{Element, parse_bool, parse_document};

/// Default bound on bytes buffered without a `</data>`.
pub const DEFAULT_SCANNER_CAPACITY: usize = 64 * 1024;

const END_TAG: &[u8] = b"</data>";

/// What the target says, one value per element of its documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `<log value="…"/>`, value unescaped.
    Log(String),
    /// `<response value="ACK|NAK" [rawmode="true|false"] …/>`. `attrs` holds every
    /// attribute except `value` and `rawmode`, in order.
    Response { ack: bool, rawmode: Option<bool>, attrs: Vec<(String, String)> },
    /// Any other element (kept, not fatal: a newer programmer may add elements).
    Other(Element),
}

impl Event {
    /// Classify one element.
    pub fn from_element(el: Element) -> Result<Self, FirehoseError> {
        match el.name.as_str() {
            "log" => {
                let value = el.attrs.into_iter().find(|(k, _)| k == "value").map(|(_, v)| v);
                Ok(Self::Log(value.unwrap_or_default()))
            }
            "response" => {
                let mut ack = None;
                let mut rawmode = None;
                let mut attrs = Vec::with_capacity(el.attrs.len());
                for (k, v) in el.attrs {
                    match k.as_str() {
                        "value" => ack = Some(parse_ack(&v)?),
                        "rawmode" => rawmode = Some(parse_bool("rawmode", &v)?),
                        _ => attrs.push((k, v)),
                    }
                }
                let ack = ack.ok_or(FirehoseError::MissingAttribute {
                    element: "response".into(),
                    attr: "value".into(),
                })?;
                Ok(Self::Response { ack, rawmode, attrs })
            }
            _ => Ok(Self::Other(el)),
        }
    }
}

fn parse_ack(v: &str) -> Result<bool, FirehoseError> {
    if v.eq_ignore_ascii_case("ACK") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("NAK") {
        Ok(false)
    } else {
        Err(FirehoseError::BadAttribute { attr: "value".into(), value: v.into(), expected: "ACK or NAK" })
    }
}

/// Splits a byte stream into documents and raw data.
#[derive(Debug)]
pub struct Scanner {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for `</data>` without a match.
    searched: usize,
    capacity: usize,
    events: VecDeque<Event>,
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new(DEFAULT_SCANNER_CAPACITY)
    }
}

impl Scanner {
    /// A scanner that buffers at most `capacity` bytes (at least 64).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(64);
        Self {
            buf: Vec::with_capacity(capacity.min(16 * 1024)),
            searched: 0,
            capacity,
            events: VecDeque::new(),
        }
    }

    /// Append received bytes. Fails, keeping nothing new, if the buffer would exceed
    /// its capacity.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), FirehoseError> {
        if self.buf.len().saturating_add(data.len()) > self.capacity {
            return Err(FirehoseError::DocumentTooLong { limit: self.capacity });
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Room left before [`feed`](Self::feed) would fail.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    /// Most bytes the scanner buffers.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes buffered and not yet consumed (raw data or part of a document).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether parsed events are waiting.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Forget everything buffered.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.searched = 0;
        self.events.clear();
    }

    /// Move up to `out.len()` raw bytes from the front of the buffer into `out`.
    /// Returns how many were moved. Call only when raw data is expected and no events
    /// are pending (events come from bytes already consumed).
    pub fn take_raw(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.buf.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), self.buf.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        n
    }

    /// Drop up to `n` raw bytes from the front of the buffer; returns how many.
    pub fn skip_raw(&mut self, n: usize) -> usize {
        let n = n.min(self.buf.len());
        self.consume(n);
        n
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.searched = self.searched.saturating_sub(n);
    }

    /// Cut the next complete document off the front of the buffer and return its
    /// elements. `Ok(None)`: no `</data>` yet, feed more. Only the first document is
    /// touched, so raw data after it stays in the buffer.
    pub fn next_document(&mut self) -> Result<Option<Vec<Element>>, FirehoseError> {
        let start = self.searched.saturating_sub(END_TAG.len() - 1);
        let found = self
            .buf
            .get(start..)
            .and_then(|tail| tail.windows(END_TAG.len()).position(|w| w == END_TAG))
            .map(|p| start + p + END_TAG.len());
        let Some(end) = found else {
            self.searched = self.buf.len();
            if self.buf.len() >= self.capacity {
                return Err(FirehoseError::DocumentTooLong { limit: self.capacity });
            }
            return Ok(None);
        };
        let parsed = parse_document(self.buf.get(..end).unwrap_or(&[]));
        self.consume(end);
        self.searched = 0;
        parsed.map(Some)
    }

    /// Device side: the next host command (a document holding exactly one element).
    /// `Ok(None)`: feed more bytes.
    pub fn next_command(&mut self) -> Result<Option<Command>, FirehoseError> {
        let Some(elements) = self.next_document()? else {
            return Ok(None);
        };
        let count = elements.len();
        let mut it = elements.into_iter();
        match (it.next(), count) {
            (Some(el), 1) => Ok(Some(Command::from_element(el))),
            _ => Err(FirehoseError::BadXml {
                expected: "one command element inside <data>".into(),
                found: format!("{count} elements"),
            }),
        }
    }

    /// The next target event, parsing one more document when none is pending.
    /// `Ok(None)`: feed more bytes.
    pub fn next_event(&mut self) -> Result<Option<Event>, FirehoseError> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Ok(Some(ev));
            }
            let Some(elements) = self.next_document()? else {
                return Ok(None);
            };
            for el in elements {
                self.events.push_back(Event::from_element(el)?);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Real 9x07 framing (`docs/facts/firehose.md`): logs without a space before
    /// `/>`, responses with one; no trailing newline after `</data>`.
    const SESSION: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<log value=\"Finished sector address 13952\"/>\n</data>\
<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"ACK\" rawmode=\"false\" />\n</data>\
<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<log value=\"Inside handlePower() - Requested POWER_RESET\"/>\n</data>\
<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"ACK\" />\n</data>\
<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"NAK\" rawmode=\"false\" AttemptRetry=\"1\" />\n</data>";

    fn expected() -> Vec<Event> {
        vec![
            Event::Log("Finished sector address 13952".into()),
            Event::Response { ack: true, rawmode: Some(false), attrs: vec![] },
            Event::Log("Inside handlePower() - Requested POWER_RESET".into()),
            Event::Response { ack: true, rawmode: None, attrs: vec![] },
            Event::Response {
                ack: false,
                rawmode: Some(false),
                attrs: vec![("AttemptRetry".into(), "1".into())],
            },
        ]
    }

    fn collect(splits: &[usize]) -> Vec<Event> {
        let mut s = Scanner::default();
        let mut out = Vec::new();
        let mut rest = SESSION;
        for &cut in splits {
            let (a, b) = rest.split_at(cut.min(rest.len()));
            s.feed(a).unwrap();
            rest = b;
            while let Some(ev) = s.next_event().unwrap() {
                out.push(ev);
            }
        }
        s.feed(rest).unwrap();
        while let Some(ev) = s.next_event().unwrap() {
            out.push(ev);
        }
        out
    }

    #[test]
    fn real_framing_in_one_read() {
        assert_eq!(collect(&[]), expected());
    }

    #[test]
    fn byte_by_byte() {
        assert_eq!(collect(&vec![1; SESSION.len()]), expected());
    }

    #[test]
    fn raw_data_after_read_ack_is_left_for_the_caller() {
        let mut s = Scanner::default();
        let mut input = b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"ACK\" rawmode=\"true\" />\n</data>".to_vec();
        input.extend_from_slice(b"</data>RAW!");
        input.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"ACK\" rawmode=\"false\" />\n</data>");
        s.feed(&input).unwrap();
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Response { ack: true, rawmode: Some(true), attrs: vec![] })
        );
        let mut raw = [0u8; 11];
        assert_eq!(s.take_raw(&mut raw), 11);
        assert_eq!(&raw, b"</data>RAW!");
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Response { ack: true, rawmode: Some(false), attrs: vec![] })
        );
        assert_eq!(s.next_event().unwrap(), None);
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn configure_reply_fields_are_kept_in_order() {
        let mut s = Scanner::default();
        s.feed(b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"NAK\" MemoryName=\"NAND\" MaxPayloadSizeFromTargetInBytes=\"2048\" MaxPayloadSizeToTargetInBytes=\"8192\" MaxPayloadSizeToTargetInBytesSupported=\"8192\" TargetName=\"9x55\" />\n</data>").unwrap();
        let Some(Event::Response { ack, rawmode, attrs }) = s.next_event().unwrap() else { panic!() };
        assert!(!ack);
        assert_eq!(rawmode, None);
        let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "MemoryName",
                "MaxPayloadSizeFromTargetInBytes",
                "MaxPayloadSizeToTargetInBytes",
                "MaxPayloadSizeToTargetInBytesSupported",
                "TargetName"
            ]
        );
    }

    #[test]
    fn sdx_style_log_with_space() {
        let mut s = Scanner::default();
        s.feed(b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<log value=\"INFO: Calling handler for configure\" />\n</data>\n").unwrap();
        assert_eq!(s.next_event().unwrap(), Some(Event::Log("INFO: Calling handler for configure".into())));
        assert_eq!(s.next_event().unwrap(), None);
    }

    #[test]
    fn bounded_buffer() {
        let mut s = Scanner::new(100);
        s.feed(&[b'x'; 100]).unwrap();
        assert!(matches!(s.next_event(), Err(FirehoseError::DocumentTooLong { limit: 100 })));
        assert!(matches!(s.feed(b"y"), Err(FirehoseError::DocumentTooLong { limit: 100 })));
    }

    #[test]
    fn bad_response_value_and_missing_value() {
        let mut s = Scanner::default();
        s.feed(b"<data><response value=\"MAYBE\" /></data>").unwrap();
        assert!(matches!(s.next_event(), Err(FirehoseError::BadAttribute { .. })));
        s.feed(b"<data><response rawmode=\"true\" /></data>").unwrap();
        assert!(matches!(s.next_event(), Err(FirehoseError::MissingAttribute { .. })));
        s.feed(b"<data><response value=\"ACK\" rawmode=\"perhaps\" /></data>").unwrap();
        assert!(matches!(s.next_event(), Err(FirehoseError::BadAttribute { .. })));
        s.feed(b"<data><response value=\"ack\" rawmode=\"TRUE\" /></data>").unwrap();
        assert!(matches!(s.next_event(), Ok(Some(Event::Response { ack: true, rawmode: Some(true), .. }))));
    }

    #[test]
    fn device_reads_commands_then_raw_data() {
        let mut s = Scanner::default();
        let mut input = b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" start_sector=\"0\" />\n</data>".to_vec();
        input.extend_from_slice(&[0xAB; 512]);
        input.extend_from_slice(b"<data><nop /><nop /></data>");
        s.feed(&input).unwrap();
        let cmd = s.next_command().unwrap().unwrap();
        assert_eq!(cmd.kind, crate::protocol::firehose::CommandKind::Program);
        let mut raw = [0u8; 512];
        assert_eq!(s.take_raw(&mut raw), 512);
        assert!(raw.iter().all(|&b| b == 0xAB));
        assert!(matches!(s.next_command(), Err(FirehoseError::BadXml { .. })));
        assert_eq!(s.next_command().unwrap(), None);
    }

    #[test]
    fn unknown_element_is_kept() {
        let mut s = Scanner::default();
        s.feed(b"<data><foo a=\"1\"/></data>").unwrap();
        let Some(Event::Other(el)) = s.next_event().unwrap() else { panic!() };
        assert_eq!(el.name, "foo");
    }

    proptest! {
        #[test]
        fn random_splits_yield_the_same_events(mut cuts in proptest::collection::vec(0usize..80, 0..40)) {
            cuts.retain(|&c| c > 0);
            prop_assert_eq!(collect(&cuts), expected());
        }

        #[test]
        fn never_panics_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
            let mut s = Scanner::new(256);
            let (a, b) = data.split_at(cut.min(data.len()));
            for part in [a, b] {
                if s.feed(part).is_err() { s.clear(); }
                for _ in 0..8 {
                    match s.next_event() {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => { let mut sink = [0u8; 64]; s.take_raw(&mut sink); }
                    }
                }
            }
        }

        #[test]
        fn never_panics_on_xmlish_text(data in "[<>/=\"' a-z&;#x0-9?!-]{0,200}") {
            let mut s = Scanner::default();
            let mut doc = data.into_bytes();
            doc.extend_from_slice(b"</data>");
            s.feed(&doc).unwrap();
            while let Ok(Some(_)) = s.next_event() {}
        }
    }
}
