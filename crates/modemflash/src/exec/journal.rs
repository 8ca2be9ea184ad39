//! The journal: which steps of which plan are done, for which package **and which
//! module**, so a rerun after any interruption continues where the last one stopped, and
//! only on the module it stopped on. Saved after every step, atomically (temporary file +
//! rename): a power cut never leaves half a journal.
//!
//! One file per package holds one record per module (`docs/journal.md`): a rerun on
//! another module starts over on it and keeps the first module's record for that module.
//! [`Journal::select`] decides which record, if any, this module may resume; the policy is
//! in `journal_match.rs`.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::FailureKind;
pub use super::journal_match::{Basis, JournalMatch};
pub use super::journal_record::{FailureRecord, JournalRecord};
use crate::discovery::module_id::ModuleIdentity;
use crate::plan::{DeviceMode, Flow};

/// Records kept per package file; the oldest finished ones go first.
pub const MAX_RECORDS: usize = 32;
/// Version of the file layout (1: a bare record, before module identities).
const FILE_VERSION: u32 = 2;

#[derive(Debug, Serialize, Deserialize)]
struct JournalFile {
    version: u32,
    modules: Vec<JournalRecord>,
}

/// A journal file.
#[derive(Debug)]
pub struct Journal {
    path: Option<PathBuf>,
    records: Vec<JournalRecord>,
    /// The record this run works on.
    active: Option<usize>,
    /// What [`Journal::select`] saw of the module, for a record `begin` creates.
    seen: ModuleIdentity,
    /// The active record as it was last read from or written to the file: the one a save
    /// replaces there (other writers' records stay as they are on disk).
    synced: Option<JournalRecord>,
    /// Records this journal dropped since its last save, to drop from the file too.
    removed: Vec<JournalRecord>,
}

/// Saves in this process one at a time (several modules updated at once share a file);
/// other processes are kept out by a lock file next to the journal.
static SAVE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn read_records(path: &Path) -> Vec<JournalRecord> {
    let text = std::fs::read_to_string(path).ok();
    text.as_deref()
        .and_then(|t| {
            serde_json::from_str::<JournalFile>(t)
                .map(|f| f.modules)
                .or_else(|_| serde_json::from_str::<JournalRecord>(t).map(|r| vec![r]))
                .ok()
        })
        .unwrap_or_default()
}

/// Drop finished records (else the oldest) until one more fits.
fn prune_to_fit(records: &mut Vec<JournalRecord>) -> Vec<JournalRecord> {
    let mut dropped = Vec::new();
    while records.len() >= MAX_RECORDS {
        let i = records.iter().position(|r| r.completed).unwrap_or(0);
        dropped.push(records.remove(i));
    }
    dropped
}

impl Journal {
    /// A journal kept only in memory (tests, the demo).
    pub fn in_memory() -> Self {
        Journal {
            path: None,
            records: Vec::new(),
            active: None,
            seen: ModuleIdentity::default(),
            synced: None,
            removed: Vec::new(),
        }
    }

    /// Open (or start) the journal at `path`. An unreadable or foreign file is ignored:
    /// a journal can only ever save work, never block an update. A version-1 file (one
    /// record, no identity) is read as a record of a module of unknown identity.
    pub fn open(path: &Path) -> Self {
        Journal { path: Some(path.to_owned()), records: read_records(path), ..Journal::in_memory() }
    }

    /// Default location: `$XDG_STATE_HOME/modemflash/` or `~/.local/state/modemflash/`,
    /// one file per package fingerprint, holding a record per module.
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

    /// How far identification must go for [`Journal::select`]: all the way (Sahara
    /// command mode) only when an unfinished record of this package exists, since a
    /// module's first run needs no identity to decide anything.
    pub fn depth_needed(&self, fingerprint: &str) -> super::Depth {
        if self.records.iter().any(|r| r.package == fingerprint && !r.completed) {
            super::Depth::Full
        } else {
            super::Depth::Light
        }
    }

    /// Every record in the file.
    pub fn records(&self) -> &[JournalRecord] {
        &self.records
    }

    /// The record this run works on.
    pub fn active(&self) -> Option<&JournalRecord> {
        self.active.and_then(|i| self.records.get(i))
    }

    /// Choose the record this module may resume (see `journal_match.rs` and
    /// `docs/journal.md`). With `fresh`, the record that would be resumed is discarded
    /// and the update starts over; other modules' records stay.
    pub fn select(
        &mut self,
        fingerprint: &str,
        seen: &ModuleIdentity,
        mode: DeviceMode,
        fresh: bool,
    ) -> io::Result<JournalMatch> {
        self.seen = seen.clone();
        let (index, mut m) = super::journal_match::decide(&self.records, fingerprint, seen, mode);
        m.path = self.path.as_ref().map(|p| p.display().to_string());
        self.active = index;
        self.synced = index.and_then(|i| self.records.get(i)).cloned();
        if fresh && let Some(i) = index {
            self.removed.push(self.records.remove(i));
            self.active = None;
            self.synced = None;
            m = m.discarded();
            self.save()?;
        }
        Ok(m)
    }

    /// The flow and steps done for this package by an unfinished earlier run on the
    /// record chosen by [`Journal::select`] (or the one the last `begin` used).
    pub fn resume_for(&self, fingerprint: &str) -> Option<(Flow, Vec<String>)> {
        let r = self.active()?;
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
        let keep = self.active().is_some_and(|r| r.package == fingerprint && !r.completed && r.flow == flow);
        if !keep {
            let last_failure = self.active().and_then(|r| r.last_failure.clone());
            let record = JournalRecord {
                package: fingerprint.to_owned(),
                package_path: package_path.to_owned(),
                flow,
                revision_before,
                done: Vec::new(),
                completed: false,
                module: self.active().map_or_else(|| self.seen.clone(), |r| r.module.clone()),
                expect_mode: None,
                last_failure,
            };
            if let Some(slot) = self.active.and_then(|i| self.records.get_mut(i)) {
                *slot = record;
            } else {
                self.prune();
                self.records.push(record);
                self.active = Some(self.records.len() - 1);
            }
        }
        self.save()
    }

    fn prune(&mut self) {
        let dropped = prune_to_fit(&mut self.records);
        if !dropped.is_empty() {
            self.active = None;
            self.synced = None;
        }
        self.removed.extend(dropped);
    }

    fn with_active(&mut self, f: impl FnOnce(&mut JournalRecord)) -> io::Result<()> {
        if let Some(r) = self.active.and_then(|i| self.records.get_mut(i)) {
            f(r);
        }
        self.save()
    }

    /// Record a finished step.
    pub fn mark(&mut self, step: &str) -> io::Result<()> {
        self.with_active(|r| {
            if !r.done.iter().any(|d| d == step) {
                r.done.push(step.to_owned());
            }
        })
    }

    /// Record what the run learnt about the module (only when it changes anything).
    pub fn learn(&mut self, identity: &ModuleIdentity) -> io::Result<()> {
        let Some(r) = self.active.and_then(|i| self.records.get(i)) else { return Ok(()) };
        let mut merged = r.module.clone();
        merged.merge(identity);
        if merged == r.module {
            return Ok(());
        }
        self.with_active(|r| r.module = merged)
    }

    /// Record the mode the module is in, or is being sent to.
    pub fn expect(&mut self, mode: DeviceMode) -> io::Result<()> {
        if self.active().is_some_and(|r| r.expect_mode == Some(mode)) {
            return Ok(());
        }
        self.with_active(|r| r.expect_mode = Some(mode))
    }

    /// Record a failure; returns how many runs in a row failed at this step this way.
    pub fn fail(&mut self, step: &str, kind: FailureKind) -> io::Result<u32> {
        let mut count = 1;
        self.with_active(|r| {
            count = match &r.last_failure {
                Some(f) if f.step == step && f.kind == kind => f.count.saturating_add(1),
                _ => 1,
            };
            r.last_failure = Some(FailureRecord { step: step.to_owned(), kind, count });
        })?;
        Ok(count)
    }

    /// The update finished and was verified.
    pub fn complete(&mut self) -> io::Result<()> {
        self.with_active(|r| {
            r.completed = true;
            r.last_failure = None;
        })
    }

    /// Write the file: what is on disk now (other modules' records, written meanwhile by
    /// another run on the same package), with this run's record in place of its last
    /// synced version and the records it dropped taken out.
    fn save(&mut self) -> io::Result<()> {
        let Some(path) = self.path.clone() else { return Ok(()) };
        if self.records.is_empty() && self.removed.is_empty() && !path.exists() {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _in_process = SAVE_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.with_extension("lock"));
        // A file system without locks still gets the in-process exclusion.
        let _lock = lock.inspect(|f| {
            let _ = f.lock();
        });
        let mut merged = read_records(&path);
        for gone in self.removed.drain(..) {
            if let Some(i) = merged.iter().position(|r| *r == gone) {
                merged.remove(i);
            }
        }
        let mine = self.active.and_then(|i| self.records.get(i)).cloned();
        let mut active = None;
        if let Some(mine) = &mine {
            let at = self.synced.as_ref().and_then(|s| merged.iter().position(|r| r == s));
            if let Some(slot) = at.and_then(|i| merged.get_mut(i)) {
                *slot = mine.clone();
                active = at;
            } else {
                prune_to_fit(&mut merged);
                merged.push(mine.clone());
                active = Some(merged.len() - 1);
            }
        }
        let file = JournalFile { version: FILE_VERSION, modules: merged };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&file).map_err(io::Error::other)?)?;
        std::fs::rename(tmp, &path)?;
        self.records = file.modules;
        self.active = active;
        self.synced = mine;
        Ok(())
    }
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
