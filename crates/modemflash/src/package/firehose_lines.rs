//! The lines of rawprogram and patch XML as typed values, checked when the package opens
//! (`docs/facts/firehose.md`): numbers are numbers, a sector address is a number or an
//! expression the programmer evaluates (`NUM_DISK_SECTORS-6.`), and a line that is
//! neither is refused with the attribute it gets wrong, before any device is touched.
//! The executor sends these values as they are; it parses nothing.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::protocol::firehose::{EraseSpec, PatchSpec, ProgramSpec};

/// A sector address as a rawprogram or patch line gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Sector {
    /// A sector number.
    At(u64),
    /// An expression the programmer evaluates, such as `NUM_DISK_SECTORS-6.`
    /// (`docs/facts/firehose.md`): a name in capitals, optionally `+`/`-` a number, and an
    /// optional trailing dot.
    Expr(String),
}

impl Sector {
    /// A sector number, or a well-formed expression; `None` for anything else.
    #[must_use]
    pub fn parse(text: &str) -> Option<Sector> {
        let t = text.trim();
        if let Ok(n) = t.parse::<u64>() {
            return Some(Sector::At(n));
        }
        let body = t.strip_suffix('.').unwrap_or(t);
        let (name, offset) = match body.find(['+', '-']) {
            Some(i) => (body.get(..i)?, Some(body.get(i + 1..)?)),
            None => (body, None),
        };
        let name_ok = name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        let offset_ok = offset.is_none_or(|o| !o.is_empty() && o.chars().all(|c| c.is_ascii_digit()));
        (name_ok && offset_ok).then(|| Sector::Expr(t.to_owned()))
    }

    /// The sector number, when the line gives one.
    #[must_use]
    pub fn number(&self) -> Option<u64> {
        match self {
            Sector::At(n) => Some(*n),
            Sector::Expr(_) => None,
        }
    }
}

impl fmt::Display for Sector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sector::At(n) => write!(f, "{n}"),
            Sector::Expr(e) => f.write_str(e),
        }
    }
}

pub(super) fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
}

/// Attributes other than `skip`, sent on verbatim.
fn rest(attrs: &[(String, String)], skip: &[&str]) -> Vec<(String, String)> {
    attrs.iter().filter(|(k, _)| !skip.iter().any(|s| k.eq_ignore_ascii_case(s))).cloned().collect()
}

/// A required number.
fn num<T: std::str::FromStr>(attrs: &[(String, String)], name: &str, element: &str) -> Result<T, String> {
    attr(attrs, name).and_then(|v| v.parse().ok()).ok_or_else(|| {
        format!("<{element}> needs a numeric {name}, got {:?}", attr(attrs, name).unwrap_or("nothing"))
    })
}

/// An optional number: absent is `None`, present and not a number is refused.
fn opt_num<T: std::str::FromStr>(
    attrs: &[(String, String)],
    name: &str,
    element: &str,
) -> Result<Option<T>, String> {
    match attr(attrs, name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| format!("<{element}> has a non-numeric {name} {v:?}")),
    }
}

/// A sector address; `default` when the attribute is absent (`None`: required).
fn sector(
    attrs: &[(String, String)],
    name: &str,
    element: &str,
    default: Option<u64>,
) -> Result<Sector, String> {
    match (attr(attrs, name), default) {
        (None, Some(d)) => Ok(Sector::At(d)),
        (None, None) => Err(format!("<{element}> needs a {name}")),
        (Some(v), _) => Sector::parse(v).ok_or_else(|| {
            format!("<{element}> has {name} {v:?}, which is neither a sector number nor an expression such as NUM_DISK_SECTORS-6.")
        }),
    }
}

/// One `<program>` line, resolved and typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramEntry {
    pub label: String,
    /// Package-relative path of the image.
    pub file: String,
    pub file_size: u64,
    /// The `filename` attribute as written (informational on the target).
    pub filename: String,
    pub sector_size: u32,
    pub start_sector: Sector,
    pub physical_partition_number: u32,
    /// Sectors the image needs (recomputed from the file, as QFirehose does).
    pub num_partition_sectors: u64,
    pub sparse: bool,
    /// The other attributes as written (NAND `PAGES_PER_BLOCK`, `last_sector`, `sparse`),
    /// sent on verbatim.
    pub extra: Vec<(String, String)>,
}

impl ProgramEntry {
    /// The typed parts of a line whose file is already resolved.
    pub(super) fn parse(
        attrs: &[(String, String)],
        file: String,
        file_size: u64,
        sector_size: u32,
    ) -> Result<Self, String> {
        let start_sector = sector(attrs, "start_sector", "program", None)?;
        let sparse = attr(attrs, "sparse").is_some_and(|s| s.eq_ignore_ascii_case("true"));
        if sparse && start_sector.number().is_none() {
            return Err(format!(
                "<program sparse=\"true\"> has start_sector {start_sector:?}: it must be a number to place the image's pieces"
            ));
        }
        Ok(ProgramEntry {
            label: attr(attrs, "label").unwrap_or("?").to_owned(),
            filename: attr(attrs, "filename").unwrap_or(&file).to_owned(),
            file,
            file_size,
            sector_size,
            start_sector,
            physical_partition_number: opt_num(attrs, "physical_partition_number", "program")?.unwrap_or(0),
            num_partition_sectors: file_size.div_ceil(u64::from(sector_size.max(1))),
            sparse,
            extra: rest(
                attrs,
                &[
                    "SECTOR_SIZE_IN_BYTES",
                    "filename",
                    "label",
                    "num_partition_sectors",
                    "physical_partition_number",
                    "start_sector",
                ],
            ),
        })
    }

    /// The Firehose command's attributes.
    #[must_use]
    pub fn spec(&self) -> ProgramSpec {
        ProgramSpec {
            sector_size: self.sector_size,
            start_sector: self.start_sector.to_string(),
            physical_partition_number: self.physical_partition_number,
            label: self.label.clone(),
            filename: self.filename.clone(),
            extra: self.extra.clone(),
        }
    }
}

/// One `<erase>` line, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EraseLine {
    pub sector_size: u32,
    pub num_partition_sectors: u64,
    pub start_sector: Sector,
    /// `None` leaves the attribute out, as the NAND rawprogram lines do.
    pub physical_partition_number: Option<u32>,
    /// NAND: `PAGES_PER_BLOCK`, `last_sector`; sent on verbatim.
    pub extra: Vec<(String, String)>,
}

impl EraseLine {
    pub(super) fn parse(attrs: &[(String, String)]) -> Result<Self, String> {
        Ok(EraseLine {
            sector_size: num(attrs, "SECTOR_SIZE_IN_BYTES", "erase")?,
            num_partition_sectors: num(attrs, "num_partition_sectors", "erase")?,
            start_sector: sector(attrs, "start_sector", "erase", None)?,
            physical_partition_number: opt_num(attrs, "physical_partition_number", "erase")?,
            extra: rest(
                attrs,
                &[
                    "SECTOR_SIZE_IN_BYTES",
                    "num_partition_sectors",
                    "start_sector",
                    "physical_partition_number",
                ],
            ),
        })
    }

    /// The sector range `[start, start + count)`, when the start is a number.
    #[must_use]
    pub fn range(&self) -> Option<(u64, u64)> {
        let start = self.start_sector.number()?;
        Some((start, start.saturating_add(self.num_partition_sectors)))
    }

    /// The Firehose command's attributes.
    #[must_use]
    pub fn spec(&self) -> EraseSpec {
        EraseSpec {
            sector_size: self.sector_size,
            num_partition_sectors: self.num_partition_sectors,
            start_sector: self.start_sector.to_string(),
            physical_partition_number: self.physical_partition_number,
            extra: self.extra.clone(),
        }
    }
}

/// One DISK `<patch>` line, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchLine {
    pub sector_size: u32,
    pub byte_offset: u64,
    pub filename: String,
    pub physical_partition_number: u32,
    pub size_in_bytes: u32,
    pub start_sector: Sector,
    /// May be an expression the programmer evaluates (`CRC32(2,4096)`): sent as written.
    pub value: String,
    /// The line's `what`, for people.
    pub what: Option<String>,
    /// Other attributes, sent on verbatim.
    pub extra: Vec<(String, String)>,
}

impl PatchLine {
    pub(super) fn parse(attrs: &[(String, String)]) -> Result<Self, String> {
        Ok(PatchLine {
            sector_size: num(attrs, "SECTOR_SIZE_IN_BYTES", "patch")?,
            byte_offset: num(attrs, "byte_offset", "patch")?,
            filename: attr(attrs, "filename").unwrap_or("DISK").to_owned(),
            physical_partition_number: opt_num(attrs, "physical_partition_number", "patch")?.unwrap_or(0),
            size_in_bytes: num(attrs, "size_in_bytes", "patch")?,
            start_sector: sector(attrs, "start_sector", "patch", Some(0))?,
            value: attr(attrs, "value").unwrap_or("0").to_owned(),
            what: attr(attrs, "what").map(str::to_owned),
            extra: rest(
                attrs,
                &[
                    "SECTOR_SIZE_IN_BYTES",
                    "byte_offset",
                    "filename",
                    "physical_partition_number",
                    "size_in_bytes",
                    "start_sector",
                    "value",
                ],
            ),
        })
    }

    /// The Firehose command's attributes.
    #[must_use]
    pub fn spec(&self) -> PatchSpec {
        PatchSpec {
            sector_size: self.sector_size,
            byte_offset: self.byte_offset,
            filename: self.filename.clone(),
            physical_partition_number: self.physical_partition_number,
            size_in_bytes: self.size_in_bytes,
            start_sector: self.start_sector.to_string(),
            value: self.value.clone(),
            extra: self.extra.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn sectors_are_numbers_or_expressions() {
        assert_eq!(Sector::parse(" 13952 "), Some(Sector::At(13952)));
        assert_eq!(Sector::parse("NUM_DISK_SECTORS-6."), Some(Sector::Expr("NUM_DISK_SECTORS-6.".into())));
        assert_eq!(
            Sector::parse("NUM_DISK_BLOCKS-1458."),
            Some(Sector::Expr("NUM_DISK_BLOCKS-1458.".into()))
        );
        for bad in ["", "12ab", "-5", "abc", "NUM_DISK_SECTORS-", "NUM-6-7", "1 2"] {
            assert_eq!(Sector::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Sector::Expr("X-1.".into()).to_string(), "X-1.");
    }

    #[test]
    fn an_erase_line_is_typed_and_keeps_its_other_attributes_in_order() {
        let line = EraseLine::parse(&a(&[
            ("PAGES_PER_BLOCK", "64"),
            ("SECTOR_SIZE_IN_BYTES", "4096"),
            ("num_partition_sectors", "320"),
            ("start_sector", "0"),
            ("last_sector", "319"),
        ]))
        .unwrap();
        assert_eq!(line.range(), Some((0, 320)));
        assert_eq!(line.extra, a(&[("PAGES_PER_BLOCK", "64"), ("last_sector", "319")]));
        let e = EraseLine::parse(&a(&[("SECTOR_SIZE_IN_BYTES", "4096"), ("num_partition_sectors", "x")]))
            .unwrap_err();
        assert!(e.contains("numeric num_partition_sectors"), "{e}");
    }

    #[test]
    fn a_malformed_program_line_is_refused() {
        let attrs = a(&[("SECTOR_SIZE_IN_BYTES", "4096"), ("start_sector", "12ab"), ("label", "modem")]);
        let e = ProgramEntry::parse(&attrs, "update/modem.ubi".into(), 4096, 4096).unwrap_err();
        assert!(e.contains("start_sector \"12ab\""), "{e}");
        let attrs = a(&[("start_sector", "NUM_DISK_SECTORS-6."), ("sparse", "true")]);
        assert!(ProgramEntry::parse(&attrs, "f".into(), 1, 4096).is_err());
        let attrs = a(&[("start_sector", "1"), ("physical_partition_number", "zero")]);
        assert!(ProgramEntry::parse(&attrs, "f".into(), 1, 4096).is_err());
    }
}
