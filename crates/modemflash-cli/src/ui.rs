//! Rendering of library events: progress bars and step lines for people, NDJSON for
//! machines (`--json`: one JSON object per line).

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use modemflash::exec::{Event, Observer};

/// Prints events for people.
pub struct Human {
    bar: Option<ProgressBar>,
    step_bytes: u64,
    started: Instant,
    tty: bool,
}

impl Human {
    pub fn new() -> Self {
        Human { bar: None, step_bytes: 0, started: Instant::now(), tty: std::io::stderr().is_terminal() }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS.get(u).unwrap_or(&"B")) }
}

impl Observer for Human {
    fn event(&mut self, event: &Event) {
        let t = self.started.elapsed().as_secs_f64();
        match event {
            Event::Waiting { mode, .. } => {
                self.finish_bar();
                tell!("          waiting for the module in {mode} mode…");
            }
            Event::StepStarted { title, index, total, bytes, .. } => {
                self.finish_bar();
                self.step_bytes = *bytes;
                say!(
                    "[{:>2}/{total}] {title}{}",
                    index + 1,
                    if *bytes > 0 { format!(" ({})", human_bytes(*bytes)) } else { String::new() }
                );
                if *bytes > 0 && self.tty {
                    let bar = ProgressBar::with_draw_target(Some(*bytes), ProgressDrawTarget::stderr());
                    if let Ok(style) = ProgressStyle::with_template(
                        "          [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                    ) {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    self.bar = Some(bar);
                }
            }
            Event::Progress { done, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(*done);
                }
            }
            Event::StepDone { elapsed_ms, .. } => {
                let secs = *elapsed_ms as f64 / 1000.0;
                let rate = (self.step_bytes > 0 && secs > 0.0)
                    .then(|| format!(", {}/s", human_bytes((self.step_bytes as f64 / secs) as u64)));
                self.finish_bar();
                say!("          done in {secs:.2}s{} (t+{t:.1}s)", rate.unwrap_or_default());
            }
            Event::StepSkipped { step } => {
                say!("          skip {step} (done by an earlier run, per the journal)");
            }
            Event::DeviceLog { text, .. } => {
                if let Some(bar) = &self.bar {
                    bar.println(format!("          module: {text}"));
                } else {
                    say!("          module: {text}");
                }
            }
            Event::Warning { text, .. } => tell!("          warning: {text}"),
        }
    }
}

/// Version of the `--json` contract of `update` (docs/json.md). Raised only when a field
/// changes meaning or goes away; new fields and events keep it.
pub const SCHEMA: u32 = 1;

/// Which module an event concerns: a stable id (where it is plus who it is), where, and
/// every identity known when it was identified (docs/json.md).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleRef {
    pub id: String,
    /// `usb:BUS-PORT`, a tty or `tcp:HOST:PORT`.
    pub path: String,
    pub identity: modemflash::discovery::module_id::ModuleIdentity,
}

impl ModuleRef {
    /// `path` plus the first identity that tells the module from others
    /// (`usb:1-2/imei:867698040000001`); just the path when it shows none.
    pub fn new(path: String, identity: modemflash::discovery::module_id::ModuleIdentity) -> Self {
        let id = match identity.distinct().first() {
            Some((kind, value)) => format!("{path}/{}:{value}", serde_kind(*kind)),
            None => path.clone(),
        };
        ModuleRef { id, path, identity }
    }
}

fn serde_kind(kind: modemflash::discovery::module_id::IdKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// `value` (an object) with the contract's version and the module put in.
pub fn stamped<T: serde::Serialize>(value: &T, module: Option<&ModuleRef>) -> serde_json::Value {
    let mut v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("v".into(), SCHEMA.into());
        o.insert("module".into(), module.and_then(|m| serde_json::to_value(m).ok()).unwrap_or_default());
    }
    v
}

/// Prints events as NDJSON on stdout, each with the contract version and the module.
#[derive(Debug, Default)]
pub struct Json {
    pub module: Option<ModuleRef>,
}

impl Observer for Json {
    fn event(&mut self, event: &Event) {
        emit(&stamped(event, self.module.as_ref()));
    }
}

/// Print one JSON value as a line.
pub fn emit<T: serde::Serialize>(value: &T) {
    if let Ok(s) = serde_json::to_string(value) {
        say!("{s}");
    }
}
