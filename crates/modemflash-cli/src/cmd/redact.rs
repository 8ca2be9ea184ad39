//! What `report` leaves out: IMEIs, serial numbers (fastboot `serialno`, chip serial, USB
//! serial strings, the module's own serial) found in every file it includes.
//!
//! Secrets are gathered first (the identity values the tool knows, from the recording
//! and the USB list, plus 15-digit runs that look like IMEIs), then every occurrence in
//! every file is replaced by a mask of the same length: `X` for text, `58` (hex of `X`)
//! where the value appears hex-encoded, so a redacted recording keeps its shape.

use std::collections::BTreeMap;

use modemflash::record::hex;

/// Keys whose values in JSON are identities.
const ID_KEYS: &[&str] = &["imei", "serial", "serialno", "fastboot_serial", "usb_serial", "chip_serial"];

/// What is redacted, keyed by the value, with what kind it is.
#[derive(Debug, Default)]
pub struct Secrets {
    found: BTreeMap<String, &'static str>,
    chip: Vec<u32>,
}

impl Secrets {
    pub fn add(&mut self, value: &str, kind: &'static str) {
        let v = value.trim();
        // Short values ("0", "1") would mask ordinary text; shared ones are no identity.
        if v.len() >= 4 && modemflash::discovery::module_id::is_distinct_serial(v) {
            self.found.entry(v.to_owned()).or_insert(kind);
        }
    }

    pub fn add_chip(&mut self, v: u32) {
        if v != 0 && !self.chip.contains(&v) {
            self.chip.push(v);
            self.add(&v.to_string(), "chip serial");
            self.add(&format!("0x{v:08x}"), "chip serial");
            self.add(&format!("{v:#x}"), "chip serial");
        }
    }

    /// Gather secrets from `text`: 15-digit runs, `"key": value` for identity keys,
    /// `Chip serial num:` logs and fastboot `serialno` answers.
    pub fn scan(&mut self, text: &str) {
        for run in digit_runs(text) {
            if run.len() == 15 {
                self.add(run, "IMEI");
            }
        }
        for key in ID_KEYS {
            let pat = format!("\"{key}\":");
            let mut rest = text;
            while let Some(i) = rest.find(&pat) {
                rest = rest.get(i + pat.len()..).unwrap_or_default();
                let v = rest.trim_start();
                if let Some(s) = v.strip_prefix('"') {
                    if let Some(end) = s.find('"') {
                        self.add(s.get(..end).unwrap_or_default(), kind_of(key));
                    }
                } else {
                    let num: String = v.chars().take_while(char::is_ascii_digit).collect();
                    if *key == "chip_serial" {
                        if let Ok(n) = num.parse() {
                            self.add_chip(n);
                        }
                    } else if !num.is_empty() {
                        self.add(&num, kind_of(key));
                    }
                }
            }
        }
        let mut rest = text;
        while let Some(i) = rest.find("Chip serial num:") {
            rest = rest.get(i + "Chip serial num:".len()..).unwrap_or_default();
            let num: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = num.parse() {
                self.add_chip(n);
            }
        }
    }

    /// Fastboot `getvar:serialno` answers in a recording: the `OKAY` read after the command.
    pub fn scan_recording(&mut self, text: &str) {
        let mut asked: Option<u64> = None;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let field = |k: &str| v.get(k);
            let ascii = field("ascii").and_then(|a| a.as_str()).unwrap_or_default();
            let ep = field("ep").and_then(serde_json::Value::as_u64);
            match field("ev").and_then(|e| e.as_str()) {
                Some("out") if ascii.contains("getvar:serialno") => asked = ep,
                Some("in") if asked.is_some() && ep == asked => {
                    if let Some(s) = ascii.strip_prefix("OKAY") {
                        self.add(s, "fastboot serialno");
                    }
                    asked = None;
                }
                _ => {}
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Mask every secret in `text`; returns the text and how many replacements were made.
    pub fn apply(&self, text: &str) -> (String, usize) {
        let mut out = text.to_owned();
        let mut n = 0;
        // Longest first, so a value inside another is not half-masked.
        let mut values: Vec<&String> = self.found.keys().collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for v in values {
            n += replace(&mut out, v, &"X".repeat(v.len()));
            n += replace(&mut out, &hex(v.as_bytes()), &"58".repeat(v.len()));
        }
        for c in &self.chip {
            // The chip serial as Sahara sends it: four bytes, little-endian.
            n += replace(&mut out, &hex(&c.to_le_bytes()), "00000000");
        }
        (out, n)
    }

    /// One line per secret, masked for the reader: kind and the first and last digits.
    pub fn summary(&self) -> Vec<String> {
        self.found
            .iter()
            .map(|(v, kind)| {
                let shown: String = v.chars().take(2).collect();
                format!("{kind}: {shown}… ({} characters)", v.chars().count())
            })
            .collect()
    }
}

fn kind_of(key: &str) -> &'static str {
    match key {
        "imei" => "IMEI",
        "serialno" | "fastboot_serial" => "fastboot serialno",
        "usb_serial" => "USB serial string",
        "chip_serial" => "chip serial",
        _ => "serial number",
    }
}

fn replace(text: &mut String, from: &str, to: &str) -> usize {
    if from.is_empty() {
        return 0;
    }
    let n = text.matches(from).count();
    if n > 0 {
        *text = text.replace(from, to);
    }
    n
}

/// Maximal runs of ASCII digits.
fn digit_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn imeis_serials_and_their_hex_forms_are_masked() {
        let mut s = Secrets::default();
        let rec = "{\"ev\":\"out\",\"ep\":2,\"ascii\":\"getvar:serialno\"}\n{\"ev\":\"in\",\"ep\":2,\"ascii\":\"OKAYab12cd34\"}\n";
        s.scan("+GSN\r\n861234567890123\r\nOK {\"usb_serial\":\"QX9-777\",\"chip_serial\":305419896} 1234567890123456");
        s.scan_recording(rec);
        let text =
            format!("{rec} imei 861234567890123 hex {} chip 78563412 usb QX9-777", hex(b"861234567890123"));
        let (out, n) = s.apply(&text);
        assert!(!out.contains("861234567890123"), "{out}");
        assert!(!out.contains(&hex(b"861234567890123")), "{out}");
        assert!(!out.contains("ab12cd34") && !out.contains("QX9-777") && !out.contains("78563412"), "{out}");
        assert!(n >= 5);
        // 16 digits are no IMEI; the text keeps its length.
        assert!(!s.summary().iter().any(|l| l.contains("16 characters")));
        assert_eq!(out.len(), text.len());
    }
}
