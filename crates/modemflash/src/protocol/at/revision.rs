//! Firmware revision out of `ATI`, `AT+CGMR` and `AT+QGMR` responses (`docs/facts/quectel.md`). Pure: info lines in, strings out.

/// `ATI` → `Quectel` / `EC20` / `Revision: EC20AQAR02A03E2G`: the text after `Revision:`
/// ([confirmed] QFlash takes it up to the line end; [confirmed] EG25-G answers this way).
pub fn parse_ati_revision<S: AsRef<str>>(lines: &[S]) -> Option<String> {
    lines.iter().find_map(|l| {
        let l = l.as_ref().trim();
        let head = l.get(..9)?;
        if !head.eq_ignore_ascii_case("revision:") {
            return None;
        }
        let value = l.get(9..)?.trim();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// Strip an optional `+NAME:` prefix. [inferred] some firmware prefixes CGMR/QGMR answers.
fn strip_tag<'a>(line: &'a str, tag: &str) -> &'a str {
    let line = line.trim();
    match line.get(..tag.len()) {
        Some(head) if head.eq_ignore_ascii_case(tag) => line.get(tag.len()..).unwrap_or_default().trim(),
        _ => line,
    }
}

/// `AT+CGMR` (or `AT+GMR`) → the bare revision, e.g. `EC20EQAR02A04E2G` [inferred].
pub fn parse_cgmr<S: AsRef<str>>(lines: &[S]) -> Option<String> {
    let first = lines.first()?.as_ref();
    let value = strip_tag(strip_tag(first, "+CGMR:"), "+GMR:");
    let value = strip_tag(value, "Revision:");
    (!value.is_empty()).then(|| value.to_owned())
}

/// A full firmware version as `AT+QGMR` prints it: `EC25EFAR06A11M4G_01.001.01.001`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullRevision {
    /// The whole string.
    pub full: String,
    /// The part before the first `_`: the revision `ATI` and `AT+CGMR` report.
    pub revision: String,
    /// The part after the first `_`, e.g. `01.001.01.001` or `BETA0416`.
    pub sub_edition: Option<String>,
}

impl FullRevision {
    /// Split a version string at its first `_`.
    pub fn parse(text: &str) -> Option<Self> {
        let full = text.trim();
        if full.is_empty() {
            return None;
        }
        let (revision, sub_edition) = match full.split_once('_') {
            Some((rev, sub)) => (rev, (!sub.is_empty()).then(|| sub.to_owned())),
            None => (full, None),
        };
        Some(Self { full: full.to_owned(), revision: revision.to_owned(), sub_edition })
    }
}

/// `AT+QGMR` → [`FullRevision`] [inferred][confirmed].
pub fn parse_qgmr<S: AsRef<str>>(lines: &[S]) -> Option<FullRevision> {
    FullRevision::parse(strip_tag(lines.first()?.as_ref(), "+QGMR:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ati() {
        assert_eq!(
            parse_ati_revision(&["Quectel", "EC20", "Revision: EC20AQAR02A03E2G"]),
            Some("EC20AQAR02A03E2G".into())
        );
        assert_eq!(
            parse_ati_revision(&["Quectel", "EG25", "Revision: EG25GGBR07A08M2G_BETA0416"]),
            Some("EG25GGBR07A08M2G_BETA0416".into())
        );
        assert_eq!(parse_ati_revision(&["Quectel", "EC20"]), None);
        assert_eq!(parse_ati_revision(&["Revision:   "]), None);
        assert_eq!(parse_ati_revision::<&str>(&[]), None);
    }

    #[test]
    fn cgmr() {
        assert_eq!(parse_cgmr(&["EC20EQAR02A04E2G"]), Some("EC20EQAR02A04E2G".into()));
        assert_eq!(parse_cgmr(&["+CGMR: EC25EFAR06A11M4G"]), Some("EC25EFAR06A11M4G".into()));
        assert_eq!(parse_cgmr(&["Revision: EC25EFAR06A11M4G"]), Some("EC25EFAR06A11M4G".into()));
        assert_eq!(parse_cgmr::<&str>(&[]), None);
    }

    #[test]
    fn qgmr() {
        let r = parse_qgmr(&["EC25EFAR06A11M4G_01.001.01.001"]).unwrap();
        assert_eq!(r.revision, "EC25EFAR06A11M4G");
        assert_eq!(r.sub_edition.as_deref(), Some("01.001.01.001"));
        assert_eq!(r.full, "EC25EFAR06A11M4G_01.001.01.001");
        let r = parse_qgmr(&["EG25GGCR07A02M1G_30.202.30.202"]).unwrap();
        assert_eq!(
            (r.revision.as_str(), r.sub_edition.as_deref()),
            ("EG25GGCR07A02M1G", Some("30.202.30.202"))
        );
        let r = parse_qgmr(&["+QGMR: EC20EQAR02A04E2G"]).unwrap();
        assert_eq!((r.revision.as_str(), r.sub_edition), ("EC20EQAR02A04E2G", None));
        assert_eq!(parse_qgmr(&[""]), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panic(lines in proptest::collection::vec("\\PC{0,40}", 0..4)) {
            let _ = parse_ati_revision(&lines);
            let _ = parse_cgmr(&lines);
            let _ = parse_qgmr(&lines);
        }
    }
}
