//! Quectel firmware revision strings (`quectel-flows.md` §5).
//!
//! `EC25EFAR06A11M4G_01.001.01.001` = model `EC25`, variant `EFA`, release line `R06`,
//! build `A11`, tail `M4G`, sub-edition `01.001.01.001`. The split point is the first
//! `R<2 digits>A<2 digits>`, as QFirehose does [C]. What the parts *mean* (release line =
//! compatibility line, tail = memory) is inferred [I]; the chipset guess comes from a small
//! rule table below so it can be corrected without touching the parser.

use serde::Serialize;

use super::Chipset;

/// A parsed revision. Every field is optional: an unknown string gives a partial parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    /// The string as given, trimmed.
    pub raw: String,
    /// Model, e.g. `EC20`, `EG25`, `RM500Q`.
    pub model: Option<String>,
    /// Variant between the model and the release, e.g. `AQA`, `EFA`, `CEFAG`, `GGB`.
    pub variant: Option<String>,
    /// Release line number (`R06` → 6).
    pub release: Option<u8>,
    /// Build within the line (`A08` → 8).
    pub build: Option<u8>,
    /// Memory/tail code after the build, e.g. `M4G`, `E2G`.
    pub tail: Option<String>,
    /// Sub-edition after `_`, e.g. `01.001.01.001` (from `AT+QGMR`).
    pub sub_edition: Option<String>,
}

/// How a package's revision relates to a module's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevisionFit {
    /// Same model and release line: a normal update.
    SameLine,
    /// Same model, different release line: can leave the module stuck in 9008 [F].
    CrossesLine,
    /// Different model or chipset: refuse.
    DifferentModel,
    /// Not enough information to tell.
    Unsure,
}

/// What an update did to the module's revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevisionChange {
    /// A later build of the same line.
    Newer,
    /// The same revision as before: the same firmware was written again.
    Same,
    /// An earlier build of the same line.
    Older,
    /// Another revision that cannot be ordered against the old one.
    Different,
    /// The module reports what it reported before and the package names no revision, so
    /// whether new firmware was installed cannot be told.
    Unconfirmed,
    /// The revision before (or after) is not known.
    Unknown,
}

impl RevisionChange {
    /// Compare the revision before an update with the one after it; `expected` is what
    /// the package names, if anything.
    pub fn between(before: Option<&str>, after: Option<&str>, expected: Option<&str>) -> Self {
        let (Some(b), Some(a)) = (before, after) else { return RevisionChange::Unknown };
        if a.trim().eq_ignore_ascii_case(b.trim()) {
            return if expected.is_some() { RevisionChange::Same } else { RevisionChange::Unconfirmed };
        }
        let (b, a) = (Revision::parse(b), Revision::parse(a));
        let same_line = a.model.is_some()
            && a.model == b.model
            && a.variant == b.variant
            && a.release.is_some()
            && a.release == b.release;
        match (same_line, a.build, b.build) {
            (true, Some(x), Some(y)) if x > y => RevisionChange::Newer,
            (true, Some(x), Some(y)) if x < y => RevisionChange::Older,
            (true, Some(_), Some(_)) => match a.sub_edition.cmp(&b.sub_edition) {
                std::cmp::Ordering::Greater => RevisionChange::Newer,
                std::cmp::Ordering::Less => RevisionChange::Older,
                std::cmp::Ordering::Equal => RevisionChange::Same,
            },
            _ => RevisionChange::Different,
        }
    }
}

/// Chipset rules: (model, tail prefix or "" for any, chipset). First match wins.
/// [I] inferred from the revision table in `quectel-flows.md` §5: 9615-era EC20 builds end
/// in `E2G`, 9x07 builds in `M4G`/`M2G`.
const CHIPSET_RULES: &[(&str, &str, Chipset)] = &[
    ("EC20", "E", Chipset::Mdm9615),
    ("EC20", "M", Chipset::Mdm9x07),
    ("EC25", "", Chipset::Mdm9x07),
    ("EC21", "", Chipset::Mdm9x07),
    ("EG25", "", Chipset::Mdm9x07),
    ("EG91", "", Chipset::Mdm9x07),
    ("EG95", "", Chipset::Mdm9x07),
];

fn two_digits(b: &[u8]) -> Option<u8> {
    match b {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => Some((a - b'0') * 10 + (b - b'0')),
        _ => None,
    }
}

/// Position of the first `R\d\dA\d\d` in `s`.
fn find_release(s: &str) -> Option<(usize, u8, u8)> {
    let b = s.as_bytes();
    (0..b.len()).find_map(|i| {
        let w = b.get(i..i + 6)?;
        if w.first() != Some(&b'R') || w.get(3) != Some(&b'A') {
            return None;
        }
        Some((i, two_digits(w.get(1..3)?)?, two_digits(w.get(4..6)?)?))
    })
}

/// Split a model off the front: two letters and two digits (`EC20`), or two letters,
/// three digits and an optional letter (`RM500Q`).
fn split_model(prefix: &str) -> (Option<&str>, &str) {
    let b = prefix.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if letters != 2 {
        return (None, prefix);
    }
    let digits = b.iter().skip(2).take_while(|c| c.is_ascii_digit()).count();
    let end = match digits {
        2 => 4,
        3 => {
            if b.get(5).is_some_and(u8::is_ascii_uppercase) {
                6
            } else {
                5
            }
        }
        _ => return (None, prefix),
    };
    match (prefix.get(..end), prefix.get(end..)) {
        (Some(m), Some(rest)) => (Some(m), rest),
        _ => (None, prefix),
    }
}

fn non_empty(s: &str) -> Option<String> {
    if s.is_empty() { None } else { Some(s.to_owned()) }
}

impl Revision {
    /// Parse a revision string. Never fails: unknown parts stay `None`.
    pub fn parse(s: &str) -> Self {
        let raw = s.trim().to_owned();
        let (base, sub) = match raw.split_once('_') {
            Some((b, s)) => (b, non_empty(s)),
            None => (raw.as_str(), None),
        };
        let (prefix, release, build, tail) = match find_release(base) {
            Some((i, r, a)) => {
                (base.get(..i).unwrap_or(""), Some(r), Some(a), base.get(i + 6..).and_then(non_empty))
            }
            None => (base, None, None, None),
        };
        let (model, variant) = split_model(prefix);
        Revision {
            model: model.map(str::to_owned),
            variant: if model.is_some() { non_empty(variant) } else { None },
            release,
            build,
            tail,
            sub_edition: sub,
            raw,
        }
    }

    /// `R06` style release line, if known.
    pub fn release_line(&self) -> Option<String> {
        self.release.map(|r| format!("R{r:02}"))
    }

    /// The chipset this revision most likely runs on ([I], see `CHIPSET_RULES`).
    pub fn chipset(&self) -> Chipset {
        let Some(model) = self.model.as_deref() else { return Chipset::Unknown };
        let tail = self.tail.as_deref().unwrap_or("");
        CHIPSET_RULES
            .iter()
            .find(|(m, t, _)| *m == model && tail.starts_with(t))
            .map_or(Chipset::Unknown, |(_, _, c)| *c)
    }

    /// Compare a package revision (`self`) with a module's.
    pub fn fit(&self, module: &Revision) -> RevisionFit {
        match (&self.model, &module.model) {
            (Some(a), Some(b)) if a != b => return RevisionFit::DifferentModel,
            (Some(_), Some(_)) => {}
            _ => return RevisionFit::Unsure,
        }
        let (pc, mc) = (self.chipset(), module.chipset());
        if pc != Chipset::Unknown && mc != Chipset::Unknown && pc != mc {
            return RevisionFit::DifferentModel;
        }
        match (self.release, module.release) {
            (Some(a), Some(b)) if a == b => RevisionFit::SameLine,
            (Some(_), Some(_)) => RevisionFit::CrossesLine,
            _ => RevisionFit::Unsure,
        }
    }

    /// Find the first thing that looks like a Quectel revision inside free text (a
    /// directory or zip name, `contents.xml`): a model followed by a release marker.
    pub fn find_in(text: &str) -> Option<Revision> {
        let b = text.as_bytes();
        (0..b.len()).find_map(|i| {
            let rest = text.get(i..)?;
            let (model, _) = split_model(rest);
            model?;
            if i > 0 && b.get(i - 1).is_some_and(u8::is_ascii_alphanumeric) {
                return None;
            }
            let mut end = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
            // A sub-edition (`_01.001.01.001`) is digits and dots after an underscore.
            if let Some(sub) = rest.get(end..).and_then(|t| t.strip_prefix('_')) {
                let run = sub.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(sub.len());
                let n = sub.get(..run).map_or(0, |r| r.trim_end_matches('.').len());
                if n > 0 {
                    end += 1 + n;
                }
            }
            let cand = Revision::parse(rest.get(..end)?);
            (cand.release.is_some() && cand.model.is_some()).then_some(cand)
        })
    }
}

/// Most bytes of revision characters looked at before a release marker (`EC20AQA` before
/// `R02A04`) and after it (`E2G_01.001.01.001`).
const BEFORE_MARKER: usize = 32;
const AFTER_MARKER: usize = 48;
/// Bytes kept between two pieces of a stream: more than one whole candidate.
const CARRY: usize = 128;
/// Largest piece looked at in one go (bounds the scanner's buffer).
const PIECE: usize = 64 * 1024;

/// Bytes that can be part of a revision string (`EC25EFAR06A11M4G_01.001.01.001`).
fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

/// `R\d\dA\d\d` at `p`.
fn marker_at(b: &[u8], p: usize) -> bool {
    matches!(b.get(p..p + 6), Some([b'R', r1, r2, b'A', a1, a2])
        if r1.is_ascii_digit() && r2.is_ascii_digit() && a1.is_ascii_digit() && a2.is_ascii_digit())
}

/// Finds the first Quectel revision string in bytes that arrive in pieces (a file read in
/// chunks, a partition written block by block). Memory is bounded (a carry of [`CARRY`]
/// bytes plus one piece of at most 64 KiB), whatever the stream's length. Candidates are
/// found by their release marker `R\d\dA\d\d` and parsed with [`Revision::find_in`].
#[derive(Debug, Clone, Default)]
pub struct RevisionScanner {
    buf: Vec<u8>,
    /// Stream bytes dropped from the front of `buf`.
    dropped: u64,
    found: Option<Revision>,
    scanned: u64,
}

impl RevisionScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The revision found so far.
    pub fn found(&self) -> Option<&Revision> {
        self.found.as_ref()
    }

    /// Bytes fed so far.
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    /// Look for candidates in `buf`. With `last` false, a candidate that reaches the end of
    /// `buf` waits for the next piece (the carry keeps it whole).
    fn scan_buf(&mut self, last: bool) {
        let buf = self.buf.as_slice();
        let mut from = 0;
        while let Some(off) = buf.get(from..).and_then(|rest| rest.iter().position(|&c| c == b'R')) {
            let marker = from + off;
            from = marker + 1;
            if !marker_at(buf, marker) {
                continue;
            }
            let mut start = marker;
            while start > 0
                && marker - start < BEFORE_MARKER
                && buf.get(start - 1).is_some_and(|c| token_byte(*c))
            {
                start -= 1;
            }
            let mut end = marker + 6;
            while end < buf.len()
                && end - marker < AFTER_MARKER
                && buf.get(end).is_some_and(|c| token_byte(*c))
            {
                end += 1;
            }
            if (end == buf.len() && !last) || (start == 0 && self.dropped > 0) {
                // Reaches the end (seen whole with the next piece), or starts in bytes
                // already dropped (seen whole with the previous piece).
                continue;
            }
            if let Some(r) =
                buf.get(start..end).and_then(|t| std::str::from_utf8(t).ok()).and_then(Revision::find_in)
            {
                self.found = Some(r);
                return;
            }
        }
    }

    /// Feed the next piece of the stream.
    pub fn feed(&mut self, data: &[u8]) {
        self.scanned = self.scanned.saturating_add(data.len() as u64);
        for piece in data.chunks(PIECE) {
            if self.found.is_some() {
                return;
            }
            self.buf.extend_from_slice(piece);
            self.scan_buf(false);
            let cut = self.buf.len().saturating_sub(CARRY);
            self.buf.drain(..cut);
            self.dropped = self.dropped.saturating_add(cut as u64);
        }
    }

    /// End of the stream: look at what is left.
    pub fn finish(mut self) -> Option<Revision> {
        if self.found.is_none() {
            self.scan_buf(true);
        }
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> (Option<&'static str>, Revision) {
        (None, Revision::parse(s))
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn reference_strings() {
        let cases: &[(&str, &str, &str, u8, u8, &str, Option<&str>, Chipset)] = &[
            ("EC20AQAR02A03E2G", "EC20", "AQA", 2, 3, "E2G", None, Chipset::Mdm9615),
            ("EC25EFAR06A08M4G", "EC25", "EFA", 6, 8, "M4G", None, Chipset::Mdm9x07),
            ("EC20CEFAGR06A05M4G", "EC20", "CEFAG", 6, 5, "M4G", None, Chipset::Mdm9x07),
            ("EG25GGBR07A08M2G", "EG25", "GGB", 7, 8, "M2G", None, Chipset::Mdm9x07),
            (
                "EC25EFAR06A11M4G_01.001.01.001",
                "EC25",
                "EFA",
                6,
                11,
                "M4G",
                Some("01.001.01.001"),
                Chipset::Mdm9x07,
            ),
        ];
        for (s, model, variant, r, a, tail, sub, chip) in cases {
            let (_, rev) = p(s);
            assert_eq!(rev.model.as_deref(), Some(*model), "{s}");
            assert_eq!(rev.variant.as_deref(), Some(*variant), "{s}");
            assert_eq!(rev.release, Some(*r), "{s}");
            assert_eq!(rev.build, Some(*a), "{s}");
            assert_eq!(rev.tail.as_deref(), Some(*tail), "{s}");
            assert_eq!(rev.sub_edition.as_deref(), *sub, "{s}");
            assert_eq!(rev.chipset(), *chip, "{s}");
        }
        assert_eq!(Revision::parse("EC25EFAR06A08M4G").release_line().as_deref(), Some("R06"));
    }

    #[test]
    fn unknown_strings_give_partial_parses() {
        let r = Revision::parse("RM500QGLABR11A06M4G");
        assert_eq!(r.model.as_deref(), Some("RM500Q"));
        assert_eq!(r.variant.as_deref(), Some("GLAB"));
        assert_eq!(r.chipset(), Chipset::Unknown);
        let r = Revision::parse("EC20 something");
        assert_eq!(r.model.as_deref(), Some("EC20"));
        assert_eq!(r.release, None);
        let r = Revision::parse("garbage");
        assert_eq!((r.model, r.release), (None, None));
        for s in ["", "_", "R", "R0", "R01A", "ÄÖ€R01A02", "EC2", "XXR99A99"] {
            let _ = Revision::parse(s);
        }
    }

    #[test]
    fn fit_between_package_and_module() {
        let module = Revision::parse("EC25EFAR06A08M4G");
        assert_eq!(Revision::parse("EC25EFAR06A11M4G").fit(&module), RevisionFit::SameLine);
        assert_eq!(Revision::parse("EC25EFAR05A03M4G").fit(&module), RevisionFit::CrossesLine);
        assert_eq!(Revision::parse("EG25GGBR07A08M2G").fit(&module), RevisionFit::DifferentModel);
        let r1 = Revision::parse("EC20AQAR02A03E2G");
        assert_eq!(Revision::parse("EC20CEFAGR06A05M4G").fit(&r1), RevisionFit::DifferentModel);
        assert_eq!(Revision::parse("???").fit(&r1), RevisionFit::Unsure);
    }

    #[test]
    fn change_between_revisions() {
        use RevisionChange as C;
        let (a03, a04) = (Some("EC20AQAR02A03E2G"), Some("EC20AQAR02A04E2G"));
        assert_eq!(C::between(a03, a04, a04), C::Newer);
        assert_eq!(C::between(a04, a03, a03), C::Older);
        assert_eq!(C::between(a04, a04, a04), C::Same);
        assert_eq!(C::between(a04, a04, None), C::Unconfirmed);
        assert_eq!(C::between(None, a04, a04), C::Unknown);
        assert_eq!(C::between(a04, Some("EC20AQAR03A01E2G"), None), C::Different);
        let (s1, s2) = (Some("EC25EFAR06A11M4G_01.001.01.001"), Some("EC25EFAR06A11M4G_01.002.01.002"));
        assert_eq!(C::between(s1, s2, s2), C::Newer);
    }

    #[test]
    fn find_inside_names() {
        let r = Revision::find_in("/fw/EC20AQAR02A04E2G_firmware.zip").unwrap();
        assert_eq!(r.raw, "EC20AQAR02A04E2G");
        assert_eq!(r.build, Some(4));
        let r = Revision::find_in("pkg-EC25EFAR06A11M4G_01.001.01.001.zip").unwrap();
        assert_eq!(r.sub_edition.as_deref(), Some("01.001.01.001"));
        assert!(Revision::find_in("update package").is_none());
    }

    #[test]
    fn scanner_finds_a_revision_split_across_pieces() {
        let mut data = vec![0x5au8; 10_000];
        let rev = b"\0EC20AQAR02A04E2G  1  [Jun 30 2017 10:21:29]\0";
        data.splice(4000..4000, rev.iter().copied());
        for piece in [1usize, 7, 4001, 65536] {
            let mut s = RevisionScanner::new();
            for chunk in data.chunks(piece) {
                s.feed(chunk);
            }
            assert_eq!(s.finish().map(|r| r.raw).as_deref(), Some("EC20AQAR02A04E2G"), "piece {piece}");
        }
        // At the very end, with no byte after it.
        let mut s = RevisionScanner::new();
        s.feed(b"xx EC25EFAR06A11M4G_01.001.01.001");
        assert_eq!(s.finish().unwrap().sub_edition.as_deref(), Some("01.001.01.001"));
        // Nothing in a long run without a model, and a candidate cut by the end of a piece
        // waits for the next one.
        let mut s = RevisionScanner::new();
        s.feed(&[b'A'; 1000]);
        s.feed(b"R01A02");
        assert!(s.finish().is_none());
        let mut s = RevisionScanner::new();
        s.feed(b"..EC20AQAR02A04E");
        assert!(s.found().is_none());
        s.feed(b"2G\0\0");
        assert_eq!(s.found().map(|r| r.raw.as_str()), Some("EC20AQAR02A04E2G"));
    }

    proptest::proptest! {
        #[test]
        fn scanner_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300), cut in 0usize..300) {
            let mut s = RevisionScanner::new();
            let (a, b) = data.split_at(cut.min(data.len()));
            s.feed(a);
            s.feed(b);
            let _ = s.finish();
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let r = Revision::parse(&s);
            let _ = r.chipset();
            let _ = Revision::find_in(&s);
        }
    }
}
