//! Ctrl-C and SIGTERM during an update. The first asks the executor to stop at the next
//! step boundary (the step in progress finishes, the journal is written, and the update
//! says where the module is and how to continue); the second ends the process at once.

use modemflash::exec::Cancel;

/// Install the handler for this run's cancel flag (once per process; later calls keep the
/// first flag, which is the one the run looks at).
pub fn install(cancel: &Cancel) {
    let cancel = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if cancel.requested() {
            tell!(
                "\nStopped at once (second signal). The journal holds every step that finished; rerun to continue."
            );
            std::process::exit(i32::from(crate::exit::INTERRUPTED));
        }
        cancel.request();
        tell!(
            "\nStopping after the current step, so the module stays resumable (press Ctrl-C again to stop at once)…"
        );
    });
}
