//! One journal record: one module's update of one package, and its last failure. Kept
//! apart from the file (`journal.rs`) and the resume policy (`journal_match.rs`), which
//! both use it.

use serde::{Deserialize, Serialize};

use super::FailureKind;
use crate::discovery::module_id::ModuleIdentity;
use crate::plan::{DeviceMode, Flow};

/// The last failure of an update, to tell a rerun that fails the same way again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub step: String,
    pub kind: FailureKind,
    /// How many runs in a row failed at this step in this way.
    pub count: u32,
}

/// One module's update of one package.
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
    /// Which module: every identity the runs have seen, and where it was last.
    #[serde(default)]
    pub module: ModuleIdentity,
    /// The mode the module was last in, or was sent to by the last step that ran.
    #[serde(default)]
    pub expect_mode: Option<DeviceMode>,
    #[serde(default)]
    pub last_failure: Option<FailureRecord>,
}
