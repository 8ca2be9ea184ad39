//! Issue 12 as a user meets it: `plan` shows what the journal will skip and why it trusts
//! it, `update --fresh` starts over, and a rerun that fails the same way twice says so and
//! offers what to do. `modemflash sim` and `modemflash update`/`plan` run as processes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use modemflash_sim::builder::{self, LegacySpec};
use serde_json::Value;

mod common;
use common::SimProcess;

const NEW_REV: &str = "EC20AQAR02A04E2G";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Rig {
    tmp: tempfile::TempDir,
    pkg: PathBuf,
    ttys: PathBuf,
    journal: PathBuf,
    port: u16,
    _sim: SimProcess,
}

fn rig(start_mode: &str, extra: &[&str]) -> Rig {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join(NEW_REV);
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    let ttys = tmp.path().join("ttys");
    std::fs::create_dir(&ttys).unwrap();
    let port = free_port();
    let fastboot = format!("127.0.0.1:{port}");
    let mut args = vec!["--model", "ec20-r1", "--reenum-delay", "0.3", "--start-mode", start_mode];
    args.extend(["--tty-dir", ttys.to_str().unwrap(), "--fastboot-tcp", &fastboot]);
    args.extend(extra);
    let sim = SimProcess::spawn(&args);
    let journal = tmp.path().join("journal.json");
    Rig { pkg, ttys, journal, port, tmp, _sim: sim }
}

impl Rig {
    fn cmd(&self, sub: &str, extra: &[&str]) -> Output {
        Command::cargo_bin("modemflash")
            .unwrap()
            .env("XDG_STATE_HOME", self.tmp.path().join("state"))
            .arg(sub)
            .arg(&self.pkg)
            .arg("--port")
            .arg(self.ttys.join("dm"))
            .args(["--fastboot", &format!("tcp:127.0.0.1:{}", self.port)])
            .arg("--journal")
            .arg(&self.journal)
            .args(extra)
            .output()
            .unwrap()
    }

    fn update(&self, extra: &[&str]) -> (Option<i32>, Vec<Value>) {
        let mut args = vec!["--yes", "--json", "--timeout", "60"];
        args.extend(extra);
        let out = self.cmd("update", &args);
        (out.status.code(), events(&out))
    }
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn of(ev: &[Value], kind: &str) -> Vec<String> {
    ev.iter().filter(|e| e["event"] == kind).filter_map(|e| e["step"].as_str().map(str::to_owned)).collect()
}

fn journal_file(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn plan_shows_what_the_journal_skips_and_why_and_fresh_starts_over() {
    let r = rig("normal", &["--fault", "disconnect@step=fastboot:flash:system", "--imei", "867698040000019"]);
    let (code, ev) = r.update(&[]);
    assert_eq!(code, Some(1), "{ev:?}");
    // The journal holds the module's identity as the run learnt it.
    let j = journal_file(&r.journal);
    assert_eq!(j["modules"][0]["module"]["imei"], "867698040000019", "{j}");
    assert_eq!(j["modules"][0]["expect_mode"], "fastboot", "{j}");

    // Back in fastboot, whose LK says only MDM9615: trusted on port path and mode.
    let out = r.cmd("plan", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["journal"]["resume"], true, "{plan}");
    assert_eq!(plan["journal"]["basis"]["basis"], "port-and-mode", "{plan}");
    assert_eq!(plan["journal"]["basis"]["mode"], "fastboot");
    let skips: Vec<&str> =
        plan["journal"]["skips"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(skips.contains(&"fastboot:flash:aboot"), "{skips:?}");
    // The same for people, naming the way out.
    let out = r.cmd("plan", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Journal:") && text.contains("same place") && text.contains("--fresh"), "{text}");
    assert!(text.contains("skips") && text.contains("fastboot:flash:aboot"), "{text}");

    // --fresh: nothing skipped, the whole recovery runs, and it finishes.
    let (code, ev) = r.update(&["--fresh"]);
    assert_eq!(code, Some(0), "{ev:?}");
    let plan = ev.iter().find(|e| e["event"] == "plan").unwrap();
    assert_eq!(plan["plan"]["journal"]["basis"]["basis"], "discarded", "{plan}");
    assert!(of(&ev, "step_skipped").is_empty());
    assert!(of(&ev, "step_started").contains(&"fastboot:flash:aboot".to_string()));
    assert_eq!(ev.last().unwrap()["outcome"]["revision_after"], NEW_REV);

    // Finished: a plan now starts over, and says why.
    let out = r.cmd("plan", &["--json"]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["journal"]["resume"], false);
}

#[test]
fn the_same_failure_twice_says_so_and_offers_what_to_do() {
    let nak = "nak@step=fastboot:flash:system";
    let r = rig("fastboot", &["--fault", nak, "--fault", nak]);
    let (code, ev) = r.update(&[]);
    assert_eq!(code, Some(1));
    let first = ev.last().unwrap();
    assert_eq!(first["repeated_failure"], Value::Null, "{first}");
    let (code, ev) = r.update(&[]);
    assert_eq!(code, Some(1));
    let second = ev.last().unwrap();
    assert_eq!(second["step"], first["step"]);
    assert_eq!(second["repeated_failure"], 2, "{second}");
    let remedy = second["remedy"].as_str().unwrap();
    assert!(remedy.contains("second run in a row"), "{remedy}");
    assert!(
        remedy.contains("power-cycle") && remedy.contains("--fresh") && remedy.contains("report"),
        "{remedy}"
    );
    assert!(!remedy.contains("rerun the same command"), "{remedy}");
}
