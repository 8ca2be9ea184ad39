//! Host commands as the device side reads them (the virtual module's Firehose target, and
//! the scanner's [`next_command`](super::Scanner::next_command)).

use super::FirehoseError;
use super::xml::{Element, attr_in, parse_bool, parse_document};

/// Which host command a document carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandKind {
    Configure,
    Program,
    Erase,
    Patch,
    Power,
    Nop,
    GetStorageInfo,
    Read,
    /// Any other element (`setbootablestoragedrive`, `peek`, vendor lines…), by name.
    Other(String),
}

impl CommandKind {
    fn from_name(name: &str) -> Self {
        match name {
            "configure" => Self::Configure,
            "program" => Self::Program,
            "erase" => Self::Erase,
            "patch" => Self::Patch,
            "power" => Self::Power,
            "nop" => Self::Nop,
            "getstorageinfo" => Self::GetStorageInfo,
            "read" => Self::Read,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One parsed host command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub kind: CommandKind,
    /// Element name as sent.
    pub name: String,
    pub attrs: Vec<(String, String)>,
}

impl Command {
    /// Classify an element.
    pub fn from_element(el: Element) -> Self {
        Self { kind: CommandKind::from_name(&el.name), name: el.name, attrs: el.attrs }
    }

    /// Attribute value (case-insensitive fallback, see [`Element::attr`]).
    pub fn attr(&self, name: &str) -> Option<&str> {
        attr_in(&self.attrs, name)
    }

    /// Attribute as an unsigned number (decimal, or `0x` hex). Missing → `Ok(None)`.
    pub fn attr_u64(&self, name: &str) -> Result<Option<u64>, FirehoseError> {
        self.attr(name).map(|v| parse_u64_attr(name, v)).transpose()
    }

    /// Attribute as a boolean (`true`/`false`/`1`/`0`). Missing → `Ok(None)`.
    pub fn attr_bool(&self, name: &str) -> Result<Option<bool>, FirehoseError> {
        self.attr(name).map(|v| parse_bool(name, v)).transpose()
    }
}

/// Parse an unsigned attribute value: decimal or `0x` hex, surrounding spaces and one
/// trailing `.` (rawprogram style `640.`) allowed.
pub fn parse_u64_attr(attr: &str, v: &str) -> Result<u64, FirehoseError> {
    let t = v.trim();
    let t = t.strip_suffix('.').unwrap_or(t);
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => t.parse::<u64>().ok(),
    };
    parsed.ok_or_else(|| FirehoseError::BadAttribute {
        attr: attr.into(),
        value: v.into(),
        expected: "an unsigned number",
    })
}

/// Parse one host document (device side). It must hold exactly one element.
pub fn parse_command(doc: &[u8]) -> Result<Command, FirehoseError> {
    let mut elements = parse_document(doc)?.into_iter();
    match (elements.next(), elements.next()) {
        (Some(el), None) => Ok(Command::from_element(el)),
        (None, _) => Err(FirehoseError::BadXml {
            expected: "one command element inside <data>".into(),
            found: "no element".into(),
        }),
        (Some(_), Some(second)) => Err(FirehoseError::BadXml {
            expected: "one command element inside <data>".into(),
            found: format!("a second element <{}>", second.name),
        }),
    }
}
