//! The journal: which steps of which plan are done, for which package, so a rerun after
//! any interruption continues where the last one stopped. Saved after every step,
//! atomically (temporary file + rename): a power cut never leaves half a journal.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::Flow;

/// What is on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Package fingerprint (`plan::fingerprint`).
    pub package: String,
    pub package_path: String,
    pub flow: Flow,
    /// Revision the module reported when the update began.
    pub revision_before: Option<String>,
    /// Step ids completed, in order.
    pub done: Vec<String>,
    /// Set once the update finished and was verified.
    pub completed: bool,
}

/// A journal file.
#[derive(Debug)]
pub struct Journal {
    path: Option<PathBuf>,
    pub record: Option<JournalRecord>,
}

impl Journal {
    /// A journal kept only in memory (tests, the demo).
    pub fn in_memory() -> Self {
        Journal { path: None, record: None }
    }

    /// Open (or start) the journal at `path`. An unreadable or foreign file is ignored:
    /// a journal can only ever save work, never block an update.
    pub fn open(path: &Path) -> Self {
        let record = std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok());
        Journal { path: Some(path.to_owned()), record }
    }

    /// Default location: `$XDG_STATE_HOME/modemflash/` or `~/.local/state/modemflash/`,
    /// one file per package fingerprint.
    pub fn default_path(fingerprint: &str) -> PathBuf {
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("modemflash").join(format!("journal-{fingerprint}.json"))
    }

    /// Where it is saved.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The flow and steps done for this package by an unfinished earlier run.
    pub fn resume_for(&self, fingerprint: &str) -> Option<(Flow, Vec<String>)> {
        let r = self.record.as_ref()?;
        (r.package == fingerprint && !r.completed).then(|| (r.flow, r.done.clone()))
    }

    /// Begin (or continue) a run.
    pub fn begin(
        &mut self,
        fingerprint: &str,
        package_path: &str,
        flow: Flow,
        revision_before: Option<String>,
    ) -> io::Result<()> {
        let keep =
            self.record.as_ref().is_some_and(|r| r.package == fingerprint && !r.completed && r.flow == flow);
        if !keep {
            self.record = Some(JournalRecord {
                package: fingerprint.to_owned(),
                package_path: package_path.to_owned(),
                flow,
                revision_before,
                done: Vec::new(),
                completed: false,
            });
        }
        self.save()
    }

    /// Record a finished step.
    pub fn mark(&mut self, step: &str) -> io::Result<()> {
        if let Some(r) = &mut self.record
            && !r.done.iter().any(|d| d == step)
        {
            r.done.push(step.to_owned());
        }
        self.save()
    }

    /// The update finished and was verified.
    pub fn complete(&mut self) -> io::Result<()> {
        if let Some(r) = &mut self.record {
            r.completed = true;
        }
        self.save()
    }

    fn save(&self) -> io::Result<()> {
        let (Some(path), Some(r)) = (&self.path, &self.record) else { return Ok(()) };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(r).map_err(io::Error::other)?)?;
        std::fs::rename(tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_only_for_the_same_unfinished_package() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.json");
        let mut j = Journal::open(&p);
        j.begin("abc", "/pkg", Flow::LegacyA, Some("EC20AQAR02A03E2G".into())).unwrap();
        j.mark("diag:dload").unwrap();
        let j2 = Journal::open(&p);
        assert_eq!(j2.resume_for("abc"), Some((Flow::LegacyA, vec!["diag:dload".to_string()])));
        assert_eq!(j2.resume_for("other"), None);
        let mut j3 = Journal::open(&p);
        j3.complete().unwrap();
        assert_eq!(Journal::open(&p).resume_for("abc"), None);
        std::fs::write(&p, "not json").unwrap();
        assert_eq!(Journal::open(&p).resume_for("abc"), None);
    }
}
