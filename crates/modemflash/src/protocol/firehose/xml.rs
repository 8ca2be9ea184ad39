//! The small XML subset Firehose speaks: one document per message, flat elements with
//! quoted attributes. A hand parser is used instead of a full XML parser because device
//! output is only "XML-like": values may hold raw newlines (`Binary build date: %s @ %s\n`,
//! `docs/facts/firehose.md`) that a conforming parser would normalise, and a lenient reader
//! must not reject a whole log line for one stray `&`.
//!
//! Pure: no I/O, allocations bounded by the input length.

use super::FirehoseError;

/// The XML declaration every Firehose document starts with (`docs/facts/firehose.md`).
pub const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>";

/// One flat element: its name and attributes in document order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
}

impl Element {
    /// The value of attribute `name` (exact, case-sensitive match first, then
    /// case-insensitive: edl spells `ZLPAwareHost`, QFirehose `ZlpAwareHost`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        attr_in(&self.attrs, name)
    }
}

/// Look `name` up in an attribute list (exact match first, then ASCII case-insensitive).
pub fn attr_in<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .or_else(|| attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .map(|(_, v)| v.as_str())
}

/// Whether `name` is usable as an element or attribute name: ASCII letter or `_` first,
/// then letters, digits, `_`, `-`, `.` or `:`.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Append `value` to `out` with `& < > " '` written as entities.
pub fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
}

/// Replace the five predefined entities and numeric character references. Anything
/// else that starts with `&` is kept as written (lenient towards device output).
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('&') {
        let (before, from_amp) = rest.split_at(pos);
        out.push_str(before);
        let decoded = from_amp
            .get(1..)
            .and_then(|tail| tail.find(';').filter(|&end| end <= 10).map(|end| (tail, end)))
            .and_then(|(tail, end)| {
                let name = tail.get(..end)?;
                decode_entity(name).map(|c| (c, end + 2))
            });
        if let Some((c, used)) = decoded {
            out.push(c);
            rest = from_amp.get(used..).unwrap_or("");
        } else {
            out.push('&');
            rest = from_amp.get(1..).unwrap_or("");
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse::<u32>().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// Write `<name a="v" b="w" />` (values escaped) into `out`. With `space_before_close`
/// false the element ends in `"/>` as 9x07 `<log>` lines do (`docs/facts/firehose.md`).
pub fn write_element<K: AsRef<str>, V: AsRef<str>>(
    name: &str,
    attrs: &[(K, V)],
    space_before_close: bool,
    out: &mut String,
) -> Result<(), FirehoseError> {
    if !is_valid_name(name) {
        return Err(FirehoseError::InvalidName { what: "element", name: name.to_owned() });
    }
    out.push('<');
    out.push_str(name);
    for (k, v) in attrs {
        let k = k.as_ref();
        if !is_valid_name(k) {
            return Err(FirehoseError::InvalidName { what: "attribute", name: k.to_owned() });
        }
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        escape_into(v.as_ref(), out);
        out.push('"');
    }
    out.push_str(if space_before_close { " />" } else { "/>" });
    Ok(())
}

/// Wrap one element line as a full document:
/// `<?xml version="1.0" encoding="UTF-8" ?>\n<data>\n{element}\n</data>`.
pub fn wrap_document(element: &str) -> Vec<u8> {
    let mut doc = String::with_capacity(XML_DECL.len() + element.len() + 17);
    doc.push_str(XML_DECL);
    doc.push_str("\n<data>\n");
    doc.push_str(element);
    doc.push_str("\n</data>");
    doc.into_bytes()
}

/// Parse every element inside one document (the bytes up to and including `</data>`).
/// The declaration, `<data>`/`</data>`, comments and text between elements are skipped.
/// An element that is not self-closing (`<log value="x"></log>`) is accepted too.
pub fn parse_document(doc: &[u8]) -> Result<Vec<Element>, FirehoseError> {
    let text = String::from_utf8_lossy(doc);
    let mut p = Cursor { s: &text, pos: 0 };
    let mut elements = Vec::new();
    while let Some(lt) = p.rest().find('<') {
        p.pos += lt;
        let rest = p.rest();
        if rest.starts_with("<?") {
            p.skip_past("?>", "end of the XML declaration `?>`")?;
        } else if rest.starts_with("<!--") {
            p.skip_past("-->", "end of a comment `-->`")?;
        } else if rest.starts_with("</") {
            p.skip_past(">", "`>` closing an end tag")?;
        } else {
            p.pos += 1;
            let el = p.element()?;
            if el.name != "data" {
                elements.push(el);
            }
        }
    }
    Ok(elements)
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn err(&self, expected: &str) -> FirehoseError {
        let snippet: String = self.rest().chars().take(40).collect();
        FirehoseError::BadXml { expected: expected.to_owned(), found: snippet }
    }

    fn skip_past(&mut self, pat: &str, expected: &str) -> Result<(), FirehoseError> {
        match self.rest().find(pat) {
            Some(i) => {
                self.pos += i + pat.len();
                Ok(())
            }
            None => Err(self.err(expected)),
        }
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn name(&mut self, what: &str) -> Result<String, FirehoseError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
            .unwrap_or(rest.len());
        let name = rest.get(..len).unwrap_or("");
        if !is_valid_name(name) {
            return Err(self.err(what));
        }
        self.pos += len;
        Ok(name.to_owned())
    }

    /// After `<`: name, attributes, then `/>` or `>`.
    fn element(&mut self) -> Result<Element, FirehoseError> {
        let name = self.name("an element name after `<`")?;
        let mut attrs = Vec::new();
        loop {
            self.skip_ws();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.pos += 2;
                break;
            }
            if rest.starts_with('>') {
                self.pos += 1;
                break;
            }
            let key = self.name("an attribute name, `/>` or `>`")?;
            self.skip_ws();
            if !self.rest().starts_with('=') {
                return Err(self.err("`=` after an attribute name"));
            }
            self.pos += 1;
            self.skip_ws();
            let Some(quote @ ('"' | '\'')) = self.rest().chars().next() else {
                return Err(self.err("a quoted attribute value"));
            };
            self.pos += 1;
            let rest = self.rest();
            let Some(end) = rest.find(quote) else {
                return Err(self.err("the closing quote of an attribute value"));
            };
            let raw = rest.get(..end).unwrap_or("");
            attrs.push((key, unescape(raw)));
            self.pos += end + 1;
        }
        Ok(Element { name, attrs })
    }
}

/// `true`/`false` (any case) or `1`/`0`.
pub(super) fn parse_bool(attr: &str, v: &str) -> Result<bool, FirehoseError> {
    let t = v.trim();
    if t.eq_ignore_ascii_case("true") || t == "1" {
        Ok(true)
    } else if t.eq_ignore_ascii_case("false") || t == "0" {
        Ok(false)
    } else {
        Err(FirehoseError::BadAttribute { attr: attr.into(), value: v.into(), expected: "true or false" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_unescape_round_trip() {
        let mut s = String::new();
        escape_into(r#"a<b>&"c"'d"#, &mut s);
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;c&quot;&apos;d");
        assert_eq!(unescape(&s), r#"a<b>&"c"'d"#);
    }

    #[test]
    fn unescape_numeric_and_unknown() {
        assert_eq!(unescape("&#65;&#x42;&#X43;"), "ABC");
        assert_eq!(unescape("a & b &bogus; &#xZZ; &"), "a & b &bogus; &#xZZ; &");
        assert_eq!(unescape("&#1114112;"), "&#1114112;");
    }

    #[test]
    fn getstorageinfo_json_is_unescaped() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8" ?>
<data>
<log value="{&quot;storage_info&quot;: {&quot;total_blocks&quot;:1024}}"/>
</data>"#;
        let els = parse_document(doc).unwrap();
        assert_eq!(els[0].attr("value"), Some(r#"{"storage_info": {"total_blocks":1024}}"#));
    }

    #[test]
    fn names() {
        assert!(is_valid_name("MaxPayloadSizeToTargetInBytes"));
        assert!(is_valid_name("_x-1.b:c"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("1abc"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("a\"b"));
    }

    #[test]
    fn write_rejects_bad_names() {
        let mut s = String::new();
        assert!(matches!(
            write_element("bad name", &[("a", "b")], true, &mut s),
            Err(FirehoseError::InvalidName { what: "element", .. })
        ));
        assert!(matches!(
            write_element("ok", &[("a=\"x\" b", "b")], true, &mut s),
            Err(FirehoseError::InvalidName { what: "attribute", .. })
        ));
    }

    #[test]
    fn parse_tolerates_open_close_pairs_comments_and_single_quotes() {
        let doc =
            b"<?xml version='1.0'?><!-- hi --><data><log value='a'></log><response value = \"ACK\"/></data>";
        let els = parse_document(doc).unwrap();
        assert_eq!(els.len(), 2);
        assert_eq!(els[0].name, "log");
        assert_eq!(els[1].attr("value"), Some("ACK"));
    }

    #[test]
    fn parse_errors_are_typed() {
        for bad in [
            &b"<data><log value=\"x/></data>"[..],
            b"<data><log value=x/></data>",
            b"<data><log value/></data>",
            b"<data><1log/></data>",
            b"<?xml <data></data>",
            b"<!-- <data></data>",
        ] {
            assert!(matches!(parse_document(bad), Err(FirehoseError::BadXml { .. })), "{bad:?}");
        }
    }

    #[test]
    fn raw_newline_in_value_is_kept() {
        let doc = b"<data>\n<log value=\"Binary build date: Jan  1 2021 @ 10:00:00\n\"/>\n</data>";
        let els = parse_document(doc).unwrap();
        assert_eq!(els[0].attr("value"), Some("Binary build date: Jan  1 2021 @ 10:00:00\n"));
    }

    #[test]
    fn attr_lookup_is_case_insensitive_as_fallback() {
        let el = Element { name: "configure".into(), attrs: vec![("ZLPAwareHost".into(), "1".into())] };
        assert_eq!(el.attr("ZlpAwareHost"), Some("1"));
    }
}
