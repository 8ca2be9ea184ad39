//! The 9x07 programmer's `<getstorageinfo>` answer: one `<log>` whose value is a JSON object
//! `{"storage_info": {"total_blocks":N, "block_size":N, "page_size":N, "mem_type":"NAND",
//! "prod_name":"…"}}` (the template is in the real programmer, docs/facts/firehose.md).
//!
//! `block_size` is read as bytes per erase block, as edl reads it (it divides it by the
//! page size for pages per block, and multiplies `total_blocks` by that for the sector
//! count) [inferred: no real 9x07 value is recorded]. Pure; a few fields read by hand, so
//! no JSON dependency and no panic on any input.

/// What `getstorageinfo` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageInfo {
    pub total_blocks: u64,
    /// Bytes per erase block.
    pub block_size: u64,
    /// Bytes per page (the Firehose sector on NAND).
    pub page_size: u64,
    pub mem_type: Option<String>,
    pub prod_name: Option<String>,
}

impl StorageInfo {
    /// Pages per block, when the numbers divide.
    pub fn pages_per_block(&self) -> Option<u64> {
        (self.page_size > 0 && self.block_size.is_multiple_of(self.page_size))
            .then(|| self.block_size / self.page_size)
    }

    /// The whole device in bytes.
    pub fn total_bytes(&self) -> Option<u64> {
        self.total_blocks.checked_mul(self.block_size)
    }
}

fn number(json: &str, key: &str) -> Option<u64> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json.get(at..)?.trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn string(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json.get(at..)?.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(rest.get(..rest.find('"')?)?.to_owned())
}

/// The storage report among `log` lines (already unescaped), if one is there.
pub fn parse_storage_info(log: &[String]) -> Option<StorageInfo> {
    let line = log.iter().find(|l| l.contains("\"storage_info\""))?;
    Some(StorageInfo {
        total_blocks: number(line, "total_blocks")?,
        block_size: number(line, "block_size")?,
        page_size: number(line, "page_size")?,
        mem_type: string(line, "mem_type"),
        prod_name: string(line, "prod_name"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ec25_e_report() {
        let log = vec![
            "INFO: something else".to_owned(),
            r#"{"storage_info": {"total_blocks":2048, "block_size":262144, "page_size":4096, "mem_type":"NAND", "prod_name":"KSLCMBL2VA2M2A"}}"#.to_owned(),
        ];
        let s = parse_storage_info(&log).unwrap();
        assert_eq!((s.total_blocks, s.block_size, s.page_size), (2048, 262_144, 4096));
        assert_eq!(s.pages_per_block(), Some(64));
        assert_eq!(s.total_bytes(), Some(512 << 20), "512 MiB, the EC25-E's NAND");
        assert_eq!(s.prod_name.as_deref(), Some("KSLCMBL2VA2M2A"));
    }

    #[test]
    fn junk_is_none() {
        assert_eq!(parse_storage_info(&["\"storage_info\": {\"total_blocks\":".into()]), None);
        assert_eq!(parse_storage_info(&[]), None);
        let s =
            parse_storage_info(&[r#""storage_info" "total_blocks":1,"block_size":3,"page_size":0"#.into()]);
        assert_eq!(s.unwrap().pages_per_block(), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = parse_storage_info(&[format!("\"storage_info\"{s}")]);
        }
    }
}
