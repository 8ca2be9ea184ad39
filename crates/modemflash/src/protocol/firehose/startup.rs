//! How the host drains a freshly started programmer's `<log>`s before `<configure>`.
//!
//! The facts (`docs/facts/firehose.md`, Sequencing step 1):
//! - the host must read the start-up logs before it sends `<configure>` [confirmed:
//!   QFirehose's comment "must first read <log from mdm9x07, then send <configure"];
//! - QFirehose waits 3 s for the first line, then until 1 s passes silently; the old fwupd
//!   plugin waited 3 s, then polled at 250 ms [confirmed: their sources];
//! - the function list is the last start-up line: one line `Supported Functions: … nop ` on
//!   the 9x07, `INFO: End of supported functions N` after a per-line list on the SDX parts
//!   [the lines confirmed from real logs; that nothing follows them is **inferred** from the
//!   9x07 binary's string order].
//!
//! So the drain waits QFirehose's times, and ends sooner only on that positive sign: once the
//! function list has arrived, a short silence ([`StartupDrain::after_function_list`], fwupd's
//! poll) ends it. A programmer that prints something later still has it read: the configure
//! wait skips `<log>`s. Setting `after_function_list` to `None` keeps QFirehose's rule alone.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::client::{STARTUP_FIRST_WAIT, STARTUP_QUIET};

/// After the function list, the silence that ends the drain (fwupd's 250 ms poll).
pub const AFTER_FUNCTION_LIST: Duration = Duration::from_millis(250);

/// The policy of the start-up log drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartupDrain {
    /// Wait for the first line.
    #[serde(with = "crate::protocol::millis")]
    pub first_wait: Duration,
    /// Silence that ends the drain.
    #[serde(with = "crate::protocol::millis")]
    pub quiet: Duration,
    /// Silence that ends it once the function list was seen; `None`: never sooner [inferred].
    #[serde(with = "crate::protocol::millis::option")]
    pub after_function_list: Option<Duration>,
}

impl Default for StartupDrain {
    fn default() -> Self {
        StartupDrain {
            first_wait: STARTUP_FIRST_WAIT,
            quiet: STARTUP_QUIET,
            after_function_list: Some(AFTER_FUNCTION_LIST),
        }
    }
}

impl StartupDrain {
    /// For a programmer found already running: it prints nothing at start-up any more, so
    /// there is no first wait beyond the quiet one.
    #[must_use]
    pub fn for_running(self) -> Self {
        StartupDrain { first_wait: self.quiet, ..self }
    }

    /// The silence to wait after `line`, given the silence waited so far.
    pub(super) fn quiet_after(&self, line: &str, current: Duration) -> Duration {
        match self.after_function_list {
            Some(short) if ends_startup(line) => short.min(current),
            _ => current,
        }
    }
}

/// Whether `line` is the last line of a programmer's start-up logs (see the module docs).
pub fn ends_startup(line: &str) -> bool {
    let line = line.trim();
    let line = line.strip_prefix("INFO:").map_or(line, str::trim_start);
    line.starts_with("Supported Functions:") || line.starts_with("End of supported functions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_list_lines_of_both_families_end_the_start_up() {
        assert!(ends_startup(
            "Supported Functions: program configure power benchmark read getstorageinfo erase nop "
        ));
        assert!(ends_startup("INFO: End of supported functions 15"));
        // The SDX list's head is followed by one line per function: not the end.
        assert!(!ends_startup("INFO: Supported Functions (15):"));
        assert!(!ends_startup("Chip serial num: 23015686 (0x15f3106)"));
        assert!(!ends_startup("Binary build date: Jan  1 2021 @ 00:00:00\n"));
    }

    #[test]
    fn the_short_silence_applies_only_after_the_list_and_only_when_enabled() {
        let d = StartupDrain::default();
        assert_eq!(d.quiet_after("Chip serial num: 1 (0x1)", d.quiet), d.quiet);
        assert_eq!(d.quiet_after("Supported Functions: nop ", d.quiet), AFTER_FUNCTION_LIST);
        let off = StartupDrain { after_function_list: None, ..d };
        assert_eq!(off.quiet_after("Supported Functions: nop ", d.quiet), d.quiet);
    }
}
