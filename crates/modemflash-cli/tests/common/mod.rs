//! `modemflash sim` as a child process, shared by the process-level tests.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// How long to wait for one event.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running `modemflash sim ARGS --json`; killed on drop.
pub struct SimProcess {
    pub child: Child,
    /// Every stdout line after the first, parsed (a non-JSON line fails the test).
    pub events: Receiver<Value>,
    /// The first line, which is always the `endpoints` event.
    pub first: Value,
}

impl SimProcess {
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = Command::cargo_bin("modemflash")
            .unwrap()
            .arg("sim")
            .args(args)
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        // Reading continuously also keeps the simulator from blocking on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let first = events.recv_timeout(WAIT).unwrap();
        assert_eq!(first["event"], "endpoints", "{first}");
        SimProcess { child, events, first }
    }

    /// The next event named `event`, skipping others.
    pub fn next_event(&self, event: &str) -> Value {
        loop {
            let v = self.events.recv_timeout(WAIT).unwrap_or_else(|e| panic!("no {event} event: {e}"));
            if v["event"] == event {
                return v;
            }
        }
    }
}

impl SimProcess {
    /// The revision of the last `booted` event, read until 3 s pass without an event.
    pub fn booted(&self) -> Option<String> {
        let mut booted = None;
        while let Ok(v) = self.events.recv_timeout(Duration::from_secs(3)) {
            if v["event"] == "booted" {
                booted = v["revision"].as_str().map(str::to_owned);
            }
        }
        booted
    }
}

/// A power cut for a process tree: `child` and every process below it get SIGKILL at once,
/// deepest first (an OTA engine, its update module and modemflash die together).
#[cfg(unix)]
pub fn kill_tree(child: &mut Child) {
    let mut all = Vec::new();
    let mut frontier = vec![child.id()];
    while let Some(p) = frontier.pop() {
        let kids = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        for k in kids.split_whitespace().filter_map(|k| k.parse::<u32>().ok()) {
            all.push(k);
            frontier.push(k);
        }
    }
    for p in all.into_iter().rev() {
        if let Ok(pid) = i32::try_from(p) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Wait until the journal records a `firehose:program:` step as done: the host journals a
/// step after its ACK, so a cut before that leaves nothing durable to skip.
pub fn wait_program_journaled(journal: &std::path::Path, deadline: std::time::Instant) {
    while programs_done(journal) == 0 {
        assert!(std::time::Instant::now() < deadline, "no program step journaled in {}", journal.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shape of an NDJSON stream, for the golden files of docs/json.md: per event name,
/// every key, with the keys one level inside `module`, `plan` and `outcome` (values and
/// how many lines there were are left out, so timings and identities never matter).
pub fn shape(lines: &[Value]) -> String {
    use std::collections::{BTreeMap, BTreeSet};
    let mut by_event: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for v in lines {
        let name = v["event"].as_str().unwrap_or("(no event)").to_owned();
        let keys = by_event.entry(name).or_default();
        for (k, inner) in v.as_object().into_iter().flatten() {
            keys.insert(k.clone());
            if ["module", "plan", "outcome"].contains(&k.as_str()) {
                for ik in inner.as_object().into_iter().flat_map(|o| o.keys()) {
                    keys.insert(format!("{k}.{ik}"));
                }
            }
        }
    }
    by_event
        .iter()
        .map(|(e, k)| format!("{e}: {}\n", k.iter().cloned().collect::<Vec<_>>().join(" ")))
        .collect()
}

/// Compare `got` with the golden file `tests/golden/NAME` (`MODEMFLASH_BLESS=1` rewrites it).
pub fn golden(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("MODEMFLASH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        got,
        want,
        "the --json contract changed ({}): update docs/json.md, raise ui::SCHEMA if a field changed meaning or went away, \
         and rerun with MODEMFLASH_BLESS=1",
        path.display()
    );
}

/// How many `firehose:program:` steps the journal records as done (0 while it is absent
/// or being replaced).
pub fn programs_done(journal: &std::path::Path) -> usize {
    let Ok(bytes) = std::fs::read(journal) else { return 0 };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return 0 };
    v["modules"][0]["done"].as_array().map_or(0, |d| {
        d.iter().filter(|s| s.as_str().is_some_and(|s| s.starts_with("firehose:program:"))).count()
    })
}
