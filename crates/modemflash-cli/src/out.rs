//! The one writer for everything the CLI prints, and the one `result` object of `--json`.
//!
//! A closed stdout or stderr (a pipe into `head`, a terminal that went away) ends the
//! conversation on that stream and nothing else: later writes to it are dropped, and an
//! update goes on to its end and journals as usual. Rust ignores SIGPIPE, so `println!`
//! would panic on such a pipe; nothing in the CLI uses it.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static OUT_CLOSED: AtomicBool = AtomicBool::new(false);
static ERR_CLOSED: AtomicBool = AtomicBool::new(false);
/// Something was written to stdout (a `--json` document or a line for people).
static OUT_USED: AtomicBool = AtomicBool::new(false);
/// The `result` object was printed.
static RESULT_DONE: AtomicBool = AtomicBool::new(false);
/// Every problem reported with [`error`] or [`problem`], for the `result` object.
static PROBLEMS: Mutex<Vec<Problem>> = Mutex::new(Vec::new());

/// Write to stdout; a failed write closes stdout for the rest of the run.
pub fn out(args: fmt::Arguments<'_>) {
    if OUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    OUT_USED.store(true, Ordering::Relaxed);
    let mut o = std::io::stdout().lock();
    if o.write_fmt(args).and_then(|()| o.flush()).is_err() {
        OUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Write to stderr; a failed write closes stderr for the rest of the run.
pub fn err(args: fmt::Arguments<'_>) {
    if ERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut e = std::io::stderr().lock();
    if e.write_fmt(args).and_then(|()| e.flush()).is_err() {
        ERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Raw bytes to stdout (generated completions, man pages).
pub fn out_bytes(bytes: &[u8]) {
    out(format_args!("{}", String::from_utf8_lossy(bytes)));
}

/// Whether stdout was closed by the reader.
pub fn stdout_closed() -> bool {
    OUT_CLOSED.load(Ordering::Relaxed)
}

/// `println!` through [`out`].
macro_rules! say {
    () => { $crate::out::out(format_args!("\n")) };
    ($($a:tt)*) => { $crate::out::out(format_args!("{}\n", format_args!($($a)*))) };
}

/// `print!` through [`out`].
macro_rules! say_part {
    ($($a:tt)*) => { $crate::out::out(format_args!($($a)*)) };
}

/// `eprintln!` through [`err`].
macro_rules! tell {
    () => { $crate::out::err(format_args!("\n")) };
    ($($a:tt)*) => { $crate::out::err(format_args!("{}\n", format_args!($($a)*))) };
}

/// `error: …` on stderr, kept as a problem for the `--json` result.
macro_rules! error {
    ($($a:tt)*) => { $crate::out::error(&format!($($a)*)) };
}

/// One problem: which file (or step, or flag) and what is wrong with it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub at: Option<String>,
    pub message: String,
}

fn record(at: Option<String>, message: String) {
    if let Ok(mut p) = PROBLEMS.lock() {
        p.push(Problem { at, message });
    }
}

/// Print `error: MESSAGE` and keep it as a problem.
pub fn error(message: &str) {
    err(format_args!("error: {message}\n"));
    record(None, message.to_owned());
}

/// Print `  AT: MESSAGE` (one item under an error) and keep it as a problem.
pub fn problem(at: Option<&str>, message: &str) {
    err(format_args!("  {}{message}\n", at.map(|a| format!("{a}: ")).unwrap_or_default()));
    record(at.map(str::to_owned), message.to_owned());
}

/// The last object of every `--json` run. Every result has every key (absent values are
/// `null`, no problems is `[]`), so a reader never needs to guess. Documented in README.md.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunResult {
    pub event: &'static str,
    /// Version of the `--json` contract (docs/json.md).
    pub v: u32,
    /// The module the run concerned (`update`, once it was identified; docs/json.md).
    pub module: Option<serde_json::Value>,
    /// Every module's result, when several were updated at once (docs/json.md).
    pub modules: Option<Vec<serde_json::Value>>,
    pub ok: bool,
    pub exit: u8,
    /// One-line summary of what went wrong.
    pub error: Option<String>,
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
    /// What to do next.
    pub remedy: Option<String>,
    /// The failed step, where it failed, and the kind of failure (update).
    pub step: Option<String>,
    pub endpoint: Option<String>,
    pub kind: Option<serde_json::Value>,
    /// `n` (2 or more): the n-th run in a row that failed at this step in this way.
    pub repeated_failure: Option<u32>,
    /// What a successful update did.
    pub outcome: Option<serde_json::Value>,
    /// The journal file of an update.
    pub journal: Option<String>,
}

impl RunResult {
    /// A result for exit code `exit`, with the problems reported so far.
    pub fn new(exit: u8) -> Self {
        let problems = PROBLEMS.lock().map(|p| p.clone()).unwrap_or_default();
        let error = (exit != crate::exit::OK).then(|| problems.first().map(|p| p.message.clone())).flatten();
        RunResult {
            event: "result",
            v: crate::ui::SCHEMA,
            module: None,
            modules: None,
            ok: exit == crate::exit::OK,
            exit,
            error,
            problems,
            remedy: None,
            step: None,
            endpoint: None,
            kind: None,
            repeated_failure: None,
            outcome: None,
            journal: None,
        }
    }

    /// Print it as one line on stdout, once per run.
    pub fn emit(&self) {
        if RESULT_DONE.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Ok(s) = serde_json::to_string(self) {
            out(format_args!("{s}\n"));
        }
    }
}

/// At the end of a `--json` run: a failure that printed nothing on stdout still ends with
/// a `result` object (no module, bad arguments, unreadable package).
pub fn finish_json(exit: u8) {
    if exit != crate::exit::OK && !RESULT_DONE.load(Ordering::Relaxed) && !OUT_USED.load(Ordering::Relaxed) {
        RunResult::new(exit).emit();
    }
}

/// stdout as an [`std::io::Write`] for renderers; writes never fail (see [`out`]).
#[derive(Debug, Clone, Copy)]
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        out(format_args!("{}", String::from_utf8_lossy(buf)));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
