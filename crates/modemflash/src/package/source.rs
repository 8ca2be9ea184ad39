//! Where a package's files come from: a directory, or a `.zip` that is unpacked into a
//! private temporary directory first.
//!
//! Unpacking checks every entry before any byte is written: zip-slip (`..` or absolute
//! names), absurd declared sizes, entry count, and names that are not valid UTF-8. Data
//! is streamed through a bounded copy, so an entry that lies about its size is caught.
//! Flashing needs seekable files (Sahara reads at random offsets), which a deflate stream
//! cannot give; the temporary copy is removed when the `Package` is dropped.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::PackageError;

/// Largest uncompressed size accepted for one zip entry (4 GiB). Real packages stay far
/// below this; a larger declared size is hostile or corrupt.
pub const MAX_ZIP_ENTRY: u64 = 4 << 30;
/// Largest total uncompressed size accepted for a zip (16 GiB).
pub const MAX_ZIP_TOTAL: u64 = 16 << 30;
/// Most entries accepted in a zip or directory tree.
pub const MAX_FILES: usize = 10_000;
/// Deepest directory nesting walked.
const MAX_DEPTH: usize = 16;

/// One regular file of a package, by its path relative to the package root with `/`
/// separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub size: u64,
}

/// A package's file store: always a directory on disk.
#[derive(Debug)]
pub struct Source {
    /// What the user gave (directory or zip).
    pub given: PathBuf,
    /// Directory the files are read from.
    pub dir: PathBuf,
    /// Keeps an unpacked zip alive.
    _temp: Option<tempfile::TempDir>,
    /// Names that could not be represented (non-UTF-8), as lossy strings.
    pub bad_names: Vec<String>,
}

impl Source {
    /// Open a directory or a zip file.
    pub fn open(path: &Path) -> Result<Self, PackageError> {
        let meta = fs::metadata(path).map_err(|e| PackageError::Open { path: path.to_owned(), source: e })?;
        if meta.is_dir() {
            return Ok(Source {
                given: path.to_owned(),
                dir: path.to_owned(),
                _temp: None,
                bad_names: Vec::new(),
            });
        }
        let mut magic = [0u8; 4];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut magic))
            .map_err(|e| PackageError::Open { path: path.to_owned(), source: e })?;
        if n == 4 && magic == *b"PK\x03\x04"
            || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        {
            return unzip(path);
        }
        Err(PackageError::NotAPackage {
            path: path.to_owned(),
            why: "it is a single file, not a directory or a .zip archive".into(),
        })
    }

    /// Every regular file, sorted by path.
    pub fn list(&mut self) -> Result<Vec<SourceFile>, PackageError> {
        let mut out = Vec::new();
        walk(&self.dir, &self.dir, 0, &mut out, &mut self.bad_names)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Absolute path of a file in the store.
    pub fn path_of(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Open a buffered stream over one file.
    pub fn open_file(&self, rel: &str) -> io::Result<BufReader<File>> {
        Ok(BufReader::with_capacity(64 * 1024, File::open(self.path_of(rel))?))
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<SourceFile>,
    bad: &mut Vec<String>,
) -> Result<(), PackageError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let rd = fs::read_dir(dir).map_err(|e| PackageError::Open { path: dir.to_owned(), source: e })?;
    for entry in rd {
        let entry = entry.map_err(|e| PackageError::Open { path: dir.to_owned(), source: e })?;
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else { continue };
        let Some(rel_str) = rel.to_str() else {
            bad.push(rel.to_string_lossy().into_owned());
            continue;
        };
        let ft = entry.file_type().map_err(|e| PackageError::Open { path: path.clone(), source: e })?;
        if ft.is_dir() {
            walk(root, &path, depth + 1, out, bad)?;
        } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
            if out.len() >= MAX_FILES {
                return Err(PackageError::TooManyFiles { path: root.to_owned(), max: MAX_FILES });
            }
            let size = fs::metadata(&path).map_or(0, |m| m.len());
            out.push(SourceFile { path: rel_str.replace('\\', "/"), size });
        }
    }
    Ok(())
}

/// What is wrong with a zip, in words for people: no crate-internal type names, no
/// repetition of "not a zip".
fn zip_why(e: &zip::result::ZipError) -> String {
    use zip::result::ZipError;
    match e {
        ZipError::Io(e) => format!("it cannot be read to the end ({})", plain(&e.to_string())),
        ZipError::InvalidArchive(m)
            if m.contains("EOCD") || m.to_ascii_lowercase().contains("end of central") =>
        {
            "its end-of-archive record is missing: the file is of another kind, or its download was cut short"
                .into()
        }
        ZipError::InvalidArchive(m) => format!("its directory is damaged ({})", plain(m)),
        ZipError::UnsupportedArchive(m) => {
            format!("it uses a zip feature modemflash cannot read ({})", plain(m))
        }
        ZipError::FileNotFound => "an entry its directory lists is missing".into(),
        ZipError::InvalidPassword => "it is password-protected".into(),
        ZipError::CompressionMethodNotSupported(n) => {
            format!("an entry is compressed with method {n}; only stored and deflate are supported")
        }
        _ => "it is damaged".into(),
    }
}

/// `text` without Rust paths such as `zip::format::blocks::Zip32CDEBlock` (their last
/// segment is kept).
fn plain(text: &str) -> String {
    text.split(' ')
        .map(|w| if w.contains("::") { w.rsplit("::").next().unwrap_or(w) } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

fn unzip(path: &Path) -> Result<Source, PackageError> {
    let zerr = |why: String| PackageError::BadZip { path: path.to_owned(), why };
    let file = File::open(path).map_err(|e| PackageError::Open { path: path.to_owned(), source: e })?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| zerr(zip_why(&e)))?;
    if archive.len() > MAX_FILES {
        return Err(PackageError::TooManyFiles { path: path.to_owned(), max: MAX_FILES });
    }
    // First pass: names and declared sizes only, so nothing is written for a bad archive.
    let mut total: u64 = 0;
    let mut bad_names = Vec::new();
    let mut plan = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| zerr(format!("entry {}: {}", i + 1, zip_why(&e))))?;
        let raw = entry.name_raw().to_vec();
        let name = entry
            .name()
            .map_or_else(|_| String::from_utf8_lossy(&raw).into_owned(), std::borrow::Cow::into_owned);
        if std::str::from_utf8(&raw).is_err() {
            // zip decodes legacy names as CP437; keep them but report that they were
            // not UTF-8, since other tools would see different bytes.
            bad_names.push(name.clone());
        }
        let unsafe_name = name.starts_with('/')
            || name.starts_with('\\')
            || name.get(1..2) == Some(":")
            || name.split(['/', '\\']).any(|c| c == "..");
        let Some(safe) = entry.enclosed_name().filter(|_| !unsafe_name) else {
            return Err(PackageError::UnsafeZipPath { path: path.to_owned(), entry: name });
        };
        if entry.size() > MAX_ZIP_ENTRY {
            return Err(PackageError::ZipTooLarge {
                path: path.to_owned(),
                entry: name,
                declared: entry.size(),
                limit: MAX_ZIP_ENTRY,
            });
        }
        total = total.saturating_add(entry.size());
        if total > MAX_ZIP_TOTAL {
            return Err(PackageError::ZipTooLarge {
                path: path.to_owned(),
                entry: name,
                declared: total,
                limit: MAX_ZIP_TOTAL,
            });
        }
        plan.push((i, safe, entry.is_dir(), entry.size()));
    }
    let temp = tempfile::Builder::new()
        .prefix("modemflash-pkg-")
        .tempdir()
        .map_err(|e| PackageError::Open { path: std::env::temp_dir(), source: e })?;
    for (i, rel, is_dir, size) in plan {
        let dest = temp.path().join(&rel);
        if is_dir {
            fs::create_dir_all(&dest).map_err(|e| PackageError::Open { path: dest.clone(), source: e })?;
            continue;
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| PackageError::Open { path: parent.to_owned(), source: e })?;
        }
        let mut entry =
            archive.by_index(i).map_err(|e| zerr(format!("{}: {}", rel.display(), zip_why(&e))))?;
        let mut out =
            File::create(&dest).map_err(|e| PackageError::Open { path: dest.clone(), source: e })?;
        // Never write more than declared, whatever the stream says.
        let copied = io::copy(&mut (&mut entry).take(size.saturating_add(1)), &mut out).map_err(|e| {
            zerr(format!("{}: its data is damaged ({})", rel.display(), plain(&e.to_string())))
        })?;
        if copied != size {
            return Err(zerr(format!("{}: declared {size} bytes but holds {copied}", rel.display())));
        }
        out.flush().map_err(|e| PackageError::Open { path: dest.clone(), source: e })?;
    }
    Ok(Source { given: path.to_owned(), dir: temp.path().to_owned(), _temp: Some(temp), bad_names })
}

#[cfg(test)]
mod zip_words {
    use super::plain;

    #[test]
    fn rust_paths_are_cut_to_their_last_name() {
        assert_eq!(
            plain("failed to read zip::format::blocks::Zip32CDEBlock"),
            "failed to read Zip32CDEBlock"
        );
        assert_eq!(plain("plain words"), "plain words");
    }
}
