//! Optional persistence of the NAND and the module's identity to a state file, so a module
//! survives a process restart as the same module (written atomically: temp file + rename,
//! so a crash never leaves half a file). Files without an identity (older ones) load
//! with the configured one.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::core::SimIdentity;
use crate::nand::Nand;

#[derive(Serialize, Deserialize)]
struct Saved<N> {
    #[serde(flatten)]
    nand: N,
    #[serde(default)]
    identity: Option<SimIdentity>,
}

/// Load a saved NAND and identity; `None` when there is no (readable) state file.
pub fn load(path: &Path) -> Option<(Nand, Option<SimIdentity>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let s: Saved<Nand> = serde_json::from_str(&text).ok()?;
    Some((s.nand, s.identity))
}

/// Save the NAND and the identity.
pub fn save(path: &Path, nand: &Nand, identity: &SimIdentity) -> io::Result<()> {
    let saved = Saved { nand, identity: Some(identity.clone()) };
    let text = serde_json::to_string_pretty(&saved).map_err(io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
