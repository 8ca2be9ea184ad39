//! Quectel `md5.txt` (`quectel-flows.md` §3.2) [C].
//!
//! Each useful line holds a Windows path after `:\`, then `:`, then 32 hex digits, e.g.
//! `D:\update\firehose\sbl1.mbn:0123…`. QFirehose resolves the path after `:\` against
//! the package root (its log prints `md5 checking: <root>/update/NON-HLOS.ubi pass`) and
//! compares digests without regard to case [C]. Lines written on the build machine may
//! also start with the package's own folder (`E:\EC25EFAR06A11M4G\update\…`); see
//! [`candidates`]. Lines naming `targetfiles.zip` are skipped, as QFirehose does.
//!
//! [`digest_all`] hashes many files in parallel (one worker per core, bounded), each
//! streamed through a fixed buffer: `md5sum` uses one core.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Package-relative paths an entry may mean, in order: the path as written, then — when
/// its first directory is one of `folders` (the package's own folder names) — the path
/// without it.
pub fn candidates(entry_path: &str, folders: &[&str]) -> Vec<String> {
    let mut out = vec![entry_path.to_owned()];
    if let Some((first, rest)) = entry_path.split_once('/')
        && !rest.is_empty()
        && folders.iter().any(|f| !f.is_empty() && f.eq_ignore_ascii_case(first))
    {
        out.push(rest.to_owned());
    }
    out
}

/// Read buffer of each hashing worker.
const HASH_BUFFER: usize = 128 * 1024;
/// Most hashing workers, whatever the machine.
const MAX_WORKERS: usize = 16;

/// MD5 of many files, in parallel: one worker per available core (at most
/// [`MAX_WORKERS`], at most one per file), each streaming its files through a fixed
/// buffer. Results are in the order of `paths`. Larger files are started first so the
/// workers finish together.
pub fn digest_all(paths: &[(PathBuf, u64)]) -> Vec<std::io::Result<String>> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    digest_all_with(paths, cores.min(MAX_WORKERS))
}

/// [`digest_all`] with a given number of workers (≥ 1).
pub fn digest_all_with(paths: &[(PathBuf, u64)], workers: usize) -> Vec<std::io::Result<String>> {
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(paths.get(i).map_or(0, |p| p.1)));
    let results: Mutex<Vec<Option<std::io::Result<String>>>> =
        Mutex::new((0..paths.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let workers = workers.clamp(1, paths.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut buf = vec![0u8; HASH_BUFFER];
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = order.get(k) else { break };
                    let Some((path, _)) = paths.get(i) else { break };
                    let r = std::fs::File::open(path).and_then(|f| digest_with(f, &mut buf));
                    if let Ok(mut all) = results.lock()
                        && let Some(slot) = all.get_mut(i)
                    {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(std::io::Error::other("not hashed"))))
        .collect()
}

/// MD5 of a stream, as lower-case hex.
pub fn digest(reader: impl Read) -> std::io::Result<String> {
    digest_with(reader, &mut vec![0u8; 256 * 1024])
}

fn digest_with(mut reader: impl Read, buf: &mut [u8]) -> std::io::Result<String> {
    let mut h = Md5::new();
    loop {
        let n = match reader.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
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
    fn paths_may_start_with_the_package_folder() {
        let (e, _) = parse("E:\\EC25EFAR06A11M4G\\update\\NON-HLOS.ubi:d41d8cd98f00b204e9800998ecf8427e\n");
        assert_eq!(e[0].path, "EC25EFAR06A11M4G/update/NON-HLOS.ubi");
        assert_eq!(
            candidates(&e[0].path, &["ec25efar06a11m4g"]),
            vec!["EC25EFAR06A11M4G/update/NON-HLOS.ubi".to_owned(), "update/NON-HLOS.ubi".to_owned()]
        );
        assert_eq!(candidates("update/x", &["fw"]), vec!["update/x".to_owned()]);
    }

    #[test]
    fn parallel_digests_match_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (i, n) in [0usize, 1, 3 << 20, 70_000].iter().enumerate() {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, vec![i as u8; *n]).unwrap();
            paths.push((p, *n as u64));
        }
        paths.push((dir.path().join("missing"), 0));
        for workers in [1, 2, 8] {
            let got = digest_all_with(&paths, workers);
            for ((p, _), r) in paths.iter().zip(&got) {
                match std::fs::read(p) {
                    Ok(data) => assert_eq!(r.as_ref().unwrap(), &digest(&data[..]).unwrap()),
                    Err(_) => assert!(r.is_err()),
                }
            }
        }
        assert!(digest_all(&[]).is_empty());
    }

    #[test]
    fn digest_of_empty_and_abc() {
        assert_eq!(digest(&b""[..]).unwrap(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(digest(&b"abc"[..]).unwrap(), "900150983cd24fb0d6963f7d28e17f72");
    }
}
