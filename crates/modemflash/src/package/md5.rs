//! Quectel `md5.txt` (`quectel-flows.md` §3.2) [C].
//!
//! Each useful line holds a Windows path after `:\`, then `:`, then 32 hex digits, e.g.
//! `D:\update\firehose\sbl1.mbn:0123…`. The path after the drive is relative to the
//! package root. Lines naming `targetfiles.zip` are skipped, as QFirehose does.

use std::io::Read;

use md5::{Digest, Md5};

/// One md5.txt entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Md5Entry {
    pub line: usize,
    /// Package-relative path with `/` separators.
    pub path: String,
    /// Lower-case hex digest.
    pub md5: String,
}

/// A line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Md5Skip {
    pub line: usize,
    pub why: &'static str,
}

/// Parse md5.txt text.
pub fn parse(text: &str) -> (Vec<Md5Entry>, Vec<Md5Skip>) {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.contains("targetfiles.zip") {
            skipped
                .push(Md5Skip { line: line_no, why: "targetfiles.zip lines are not checked (as QFirehose)" });
            continue;
        }
        let Some(pos) = line.find(":\\") else {
            skipped.push(Md5Skip { line: line_no, why: "no ':\\' path marker" });
            continue;
        };
        let rest = line.get(pos + 1..).unwrap_or_default();
        let Some((path, digest)) = rest.rsplit_once(':') else {
            skipped.push(Md5Skip { line: line_no, why: "no ':' before the digest" });
            continue;
        };
        let digest = digest.trim();
        if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            skipped.push(Md5Skip { line: line_no, why: "digest is not 32 hex digits" });
            continue;
        }
        let path = path.replace('\\', "/");
        let path = path.trim_start_matches('/').to_owned();
        entries.push(Md5Entry { line: line_no, path, md5: digest.to_ascii_lowercase() });
    }
    (entries, skipped)
}

/// MD5 of a stream, as lower-case hex.
pub fn digest(mut reader: impl Read) -> std::io::Result<String> {
    let mut h = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quectel_lines() {
        let text = "D:\\update\\firehose\\sbl1.mbn:D41D8CD98F00B204E9800998ECF8427E\r\n\
                    C:\\x\\targetfiles.zip:d41d8cd98f00b204e9800998ecf8427e\n\
                    junk\n\
                    E:\\update\\rpm.mbn:xyz\n";
        let (e, s) = parse(text);
        assert_eq!(
            e,
            vec![Md5Entry {
                line: 1,
                path: "update/firehose/sbl1.mbn".into(),
                md5: "d41d8cd98f00b204e9800998ecf8427e".into()
            }]
        );
        assert_eq!(s.iter().map(|s| s.line).collect::<Vec<_>>(), vec![2, 3, 4]);
    }

    #[test]
    fn digest_of_empty_and_abc() {
        assert_eq!(digest(&b""[..]).unwrap(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(digest(&b"abc"[..]).unwrap(), "900150983cd24fb0d6963f7d28e17f72");
    }
}
