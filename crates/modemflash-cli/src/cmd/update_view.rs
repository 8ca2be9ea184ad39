//! What people and machines see of a run over several modules: a progress bar per module
//! (indicatif `MultiProgress`) or NDJSON lines with the module in each, then a summary
//! table.

use std::io::IsTerminal;
use std::sync::mpsc::Receiver;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use modemflash::exec::{Event, Outcome};

use crate::exit;
use crate::ui::{self, ModuleRef};

/// Draw every module's events until every module's thread has ended.
pub fn render(rx: &Receiver<(usize, Event)>, modules: &[ModuleRef], json: bool) {
    if json {
        for (i, event) in rx {
            ui::emit(&ui::stamped(&event, modules.get(i)));
        }
        return;
    }
    let tty = std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(if tty {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let width = modules.iter().map(|m| m.id.len()).max().unwrap_or(0);
    let style = ProgressStyle::with_template(&format!(
        "{{prefix:{width}}} [{{bar:30}}] {{bytes:>9}}/{{total_bytes:9}} {{binary_bytes_per_sec:>11}} {{msg}}"
    ))
    .map(|s| s.progress_chars("=> "));
    let bars: Vec<ProgressBar> = modules
        .iter()
        .map(|m| {
            let b = multi.add(ProgressBar::new(0));
            if let Ok(s) = &style {
                b.set_style(s.clone());
            }
            b.set_prefix(m.id.clone());
            b.set_message("starting");
            b
        })
        .collect();
    for (i, event) in rx {
        let (Some(bar), Some(m)) = (bars.get(i), modules.get(i)) else { continue };
        let line = |text: String| {
            if tty {
                bar.println(format!("{}: {text}", m.id));
            } else {
                tell!("{}: {text}", m.id);
            }
        };
        match &event {
            Event::StepStarted { title, index, total, bytes, .. } => {
                bar.set_length(*bytes);
                bar.set_position(0);
                bar.set_message(format!("[{}/{total}] {title}", index.saturating_add(1)));
                if !tty {
                    line(format!("[{}/{total}] {title}", index.saturating_add(1)));
                }
            }
            Event::Progress { done, .. } => bar.set_position(*done),
            Event::Waiting { mode, .. } => bar.set_message(format!("waiting for {mode} mode")),
            Event::StepDone { .. } | Event::StepSkipped { .. } => {}
            Event::DeviceLog { text, .. } => {
                if !tty {
                    line(format!("module: {text}"));
                }
            }
            Event::Warning { text, .. } => line(format!("warning: {text}")),
        }
    }
    for b in &bars {
        b.finish_and_clear();
    }
}

/// The table after the run: module, identity, revision before and after, time, result.
pub fn summary(results: &[ModuleResult]) {
    let rows: Vec<[String; 6]> = results
        .iter()
        .map(|r| {
            let identity = r
                .module
                .identity
                .distinct()
                .first()
                .map_or_else(|| "-".to_owned(), |(k, v)| format!("{} {v}", k.name()));
            [
                r.module.path.clone(),
                identity,
                r.revision_before.clone().unwrap_or_else(|| "?".into()),
                r.revision_after.clone().unwrap_or_else(|| "-".into()),
                format!("{:.1}s", r.elapsed_ms as f64 / 1000.0),
                result_cell(r),
            ]
        })
        .collect();
    let head = ["MODULE", "IDENTITY", "BEFORE", "AFTER", "TIME", "RESULT"];
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let fmt = |cells: [&str; 6]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths.iter()).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_owned()
    };
    say!();
    say!("{}", fmt(head));
    for [a, b, c, d, e, f] in &rows {
        say!("{}", fmt([a, b, c, d, e, f]));
    }
    let ok = results.iter().filter(|r| r.ok).count();
    say!("\n{ok} of {} modules updated.", results.len());
    for r in results.iter().filter(|r| !r.ok) {
        tell!("{}: {}", r.module.id, r.error.as_deref().unwrap_or("failed"));
        if let Some(remedy) = &r.remedy {
            tell!("  {remedy}");
        }
    }
}

/// `updated`, or `FAILED at STEP (KIND)`; the whole error follows the table.
fn result_cell(r: &ModuleResult) -> String {
    if r.ok {
        return "updated".into();
    }
    let kind = r.kind.as_ref().and_then(|k| k.as_str()).map(|k| format!(" ({k})")).unwrap_or_default();
    match &r.step {
        Some(step) => format!("FAILED at {step}{kind}"),
        None if r.exit == crate::exit::NO_MODULE => "FAILED: no module".into(),
        None => "FAILED".into(),
    }
}

/// One module's result (the `module_result` event, docs/json.md).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleResult {
    pub event: &'static str,
    pub v: u32,
    pub module: ModuleRef,
    pub selector: String,
    pub ok: bool,
    pub exit: u8,
    pub revision_before: Option<String>,
    pub revision_after: Option<String>,
    pub elapsed_ms: u64,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    pub step: Option<String>,
    pub kind: Option<serde_json::Value>,
    pub repeated_failure: Option<u32>,
    pub remedy: Option<String>,
    pub journal: Option<String>,
}

impl ModuleResult {
    pub(super) fn new(module: ModuleRef, selector: &str) -> Self {
        ModuleResult {
            event: "module_result",
            v: ui::SCHEMA,
            module,
            selector: selector.to_owned(),
            ok: false,
            exit: exit::FAILED,
            revision_before: None,
            revision_after: None,
            elapsed_ms: 0,
            outcome: None,
            error: None,
            step: None,
            kind: None,
            repeated_failure: None,
            remedy: None,
            journal: None,
        }
    }

    pub(super) fn failed(mut self, exit: u8, error: String, remedy: Option<String>) -> Self {
        self.exit = exit;
        self.error = Some(error);
        self.remedy = remedy;
        self
    }
}
