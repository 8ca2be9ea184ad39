//! Progress and diagnostics as values: the executor emits [`Event`]s to an [`Observer`];
//! the CLI renders them as bars or NDJSON, tests collect them.

use serde::Serialize;

/// One thing that happened during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Waiting for the module to show a mode (re-enumeration is normal).
    Waiting {
        step: String,
        mode: String,
    },
    StepStarted {
        step: String,
        title: String,
        index: usize,
        total: usize,
        bytes: u64,
    },
    Progress {
        step: String,
        done: u64,
        total: u64,
    },
    StepDone {
        step: String,
        elapsed_ms: u64,
    },
    /// A step journaled as done by an earlier run.
    StepSkipped {
        step: String,
    },
    /// Text the module sent (streaming LOG, fastboot INFO, Firehose log).
    DeviceLog {
        step: String,
        text: String,
    },
    Warning {
        step: String,
        text: String,
    },
}

/// Receives events.
pub trait Observer {
    fn event(&mut self, event: &Event);
}

/// Collects events (tests).
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Event>);

impl Observer for Collect {
    fn event(&mut self, event: &Event) {
        self.0.push(event.clone());
    }
}

/// Drops events.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn event(&mut self, _event: &Event) {}
}
