//! Which journal record a module may resume: the policy of `docs/journal.md`.
//!
//! 1. An identity recorded for the module and seen now (IMEI, serial, chip serial, fastboot
//!    or USB serial; shared values such as `MDM9615` are none) decides: all equal → the
//!    same module, resume; one differs → another module, start over (its record stays).
//! 2. When nothing can be compared (9615 DLOAD and streaming, an LK whose serial is
//!    `MDM9615`, a Firehose programmer already running), the record is resumed only when
//!    the module is at the recorded port path **and** in the mode the record expects (the
//!    mode the interrupted run was in, or had sent the module to). Anything else starts
//!    over: redoing durable steps on the same module costs time, skipping them on another
//!    one leaves it half-written.
//! 3. A finished record is never resumed.

use serde::Serialize;

use super::journal_record::{FailureRecord, JournalRecord};
use crate::discovery::module_id::{Comparison, IdKind, ModuleIdentity};
use crate::plan::DeviceMode;

/// Why the journal is trusted, or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "basis", rename_all = "kebab-case")]
pub enum Basis {
    /// No record for this package.
    NoRecord,
    /// The module is positively the one the record was made on.
    Identity { matched: Vec<(IdKind, String)> },
    /// No identity to compare; same port path and the mode the record expects.
    PortAndMode { port_path: String, mode: DeviceMode },
    /// The module is positively another one than every unfinished record's.
    OtherModule { kind: IdKind, recorded: String, seen: String },
    /// Records exist, but nothing shows this is their module (no identity to compare, and
    /// the port path or the mode differ).
    Unidentified { recorded: String, seen: String },
    /// The module's record says its update finished.
    Completed,
    /// The record was discarded on request.
    Discarded,
}

/// What [`super::Journal::select`] decided, for the plan and for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalMatch {
    /// The journal file.
    pub path: Option<String>,
    /// Whether journaled steps will be skipped.
    pub resume: bool,
    pub basis: Basis,
    /// Identity seen now.
    pub module: ModuleIdentity,
    /// Unfinished records of this package kept for other modules.
    pub other_modules: usize,
    /// The last failure of the resumed record, when it had one.
    pub last_failure: Option<FailureRecord>,
}

impl JournalMatch {
    pub(super) fn discarded(mut self) -> Self {
        self.resume = false;
        self.basis = Basis::Discarded;
        self.last_failure = None;
        self
    }
}

/// The record index to use and the decision. `None` means a new record.
pub(super) fn decide(
    records: &[JournalRecord],
    fingerprint: &str,
    seen: &ModuleIdentity,
    mode: DeviceMode,
) -> (Option<usize>, JournalMatch) {
    let mine: Vec<(usize, &JournalRecord)> =
        records.iter().enumerate().filter(|(_, r)| r.package == fingerprint).collect();
    let make = |resume, basis, last_failure: Option<FailureRecord>, others| JournalMatch {
        path: None,
        resume,
        basis,
        module: seen.clone(),
        other_modules: others,
        last_failure,
    };
    let verdicts: Vec<(usize, &JournalRecord, Comparison)> =
        mine.iter().map(|(i, r)| (*i, *r, r.module.compare(seen))).collect();
    let unfinished_others = |except: Option<usize>| {
        verdicts.iter().filter(|(i, r, _)| !r.completed && Some(*i) != except).count()
    };
    // 1. A positive match; the latest unfinished one first.
    let same = verdicts
        .iter()
        .rev()
        .filter(|(_, _, c)| matches!(c, Comparison::Same { .. }))
        .min_by_key(|(_, r, _)| r.completed);
    if let Some((i, r, Comparison::Same { matched })) = same {
        let others = unfinished_others(Some(*i));
        if r.completed {
            return (Some(*i), make(false, Basis::Completed, None, others));
        }
        let basis = Basis::Identity { matched: matched.clone() };
        return (Some(*i), make(true, basis, r.last_failure.clone(), others));
    }
    // 2. Nothing to compare: the port path and the expected mode.
    let weak = verdicts.iter().rev().find(|(_, r, c)| {
        *c == Comparison::Unknown
            && !r.completed
            && r.module.port_path.is_some()
            && r.module.port_path == seen.port_path
            && r.expect_mode == Some(mode)
    });
    if let Some((i, r, _)) = weak {
        let basis = Basis::PortAndMode { port_path: r.module.port_path.clone().unwrap_or_default(), mode };
        return (Some(*i), make(true, basis, r.last_failure.clone(), unfinished_others(Some(*i))));
    }
    let others = unfinished_others(None);
    if let Some((_, _, Comparison::Other { kind, recorded, seen: now })) =
        verdicts.iter().rev().find(|(_, r, c)| !r.completed && matches!(c, Comparison::Other { .. }))
    {
        let basis = Basis::OtherModule { kind: *kind, recorded: recorded.clone(), seen: now.clone() };
        return (None, make(false, basis, None, others));
    }
    if let Some((_, r, _)) = verdicts.iter().rev().find(|(_, r, _)| !r.completed) {
        let recorded = format!(
            "{}{}",
            r.module.describe(),
            r.expect_mode.map(|m| format!(", expected in {} mode", m.name())).unwrap_or_default()
        );
        let basis =
            Basis::Unidentified { recorded, seen: format!("{}, in {} mode", seen.describe(), mode.name()) };
        return (None, make(false, basis, None, others));
    }
    (None, make(false, Basis::NoRecord, None, 0))
}
