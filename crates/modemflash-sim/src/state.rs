//! Optional persistence of the NAND to a state file, so a module survives a process
//! restart (written atomically: temp file + rename, so a crash never leaves half a file).

use std::io;
use std::path::Path;

use crate::nand::Nand;

/// Load a saved NAND; `None` when there is no (readable) state file.
pub fn load(path: &Path) -> Option<Nand> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Save the NAND.
pub fn save(path: &Path, nand: &Nand) -> io::Result<()> {
    let text = serde_json::to_string_pretty(nand).map_err(io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
