//! What a closed pipe, a signal, a huge timeout, a missing tty, bad arguments and a "no" at
//! the prompt do to `modemflash`, as processes: never a panic, always a clear end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use modemflash_sim::builder::{self, LegacySpec};
use serde_json::Value;

mod common;
use common::SimProcess;

const NEW_REV: &str = "EC20AQAR02A04E2G";

struct Setup {
    tmp: tempfile::TempDir,
    pkg: PathBuf,
    ttys: PathBuf,
    port: u16,
    sim: SimProcess,
}

fn setup(start_mode: &str, reenum: &str) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join(NEW_REV);
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    let ttys = tmp.path().join("ttys");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let fb = format!("127.0.0.1:{port}");
    let sim = SimProcess::spawn(&[
        "--model",
        "ec20-r1",
        "--tty-dir",
        ttys.to_str().unwrap(),
        "--start-mode",
        start_mode,
        "--fastboot-tcp",
        &fb,
        "--reenum-delay",
        reenum,
    ]);
    Setup { tmp, pkg, ttys, port, sim }
}

impl Setup {
    fn journal(&self) -> PathBuf {
        self.tmp.path().join("journal.json")
    }

    fn update(&self, extra: &[&str]) -> Command {
        let mut c = Command::cargo_bin("modemflash").unwrap();
        c.env("XDG_STATE_HOME", self.tmp.path().join("state"));
        c.arg("update")
            .arg(&self.pkg)
            .arg("--port")
            .arg(self.ttys.join("dm"))
            .args(["--fastboot", &format!("tcp:127.0.0.1:{}", self.port), "--yes"])
            .arg("--journal")
            .arg(self.journal())
            .args(extra);
        c
    }

    /// The last revision the simulator reports booting, after `update` has ended.
    fn booted(&self) -> Option<String> {
        let mut booted = None;
        while let Ok(v) = self.sim.events.recv_timeout(Duration::from_secs(3)) {
            if v["event"] == "booted" {
                booted = v["revision"].as_str().map(str::to_owned);
            }
        }
        booted
    }
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(t0.elapsed() < limit, "the process did not end within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
}

/// `update … --timeout 18446744073709551615 | head -1`: the reader goes away after one line;
/// the update carries on to its end, the module runs the new firmware, the journal says done.
#[test]
fn update_into_a_reader_that_closes_early_still_finishes() {
    let s = setup("normal", "0.3");
    let mut child = s
        .update(&["--timeout", "18446744073709551615"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("Package:"), "{first}");
    drop(out);
    let status = wait(&mut child, Duration::from_secs(120));
    let err = stderr_of(&mut child);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("standard output was closed"), "{err}");
    assert_eq!(s.booted().as_deref(), Some(NEW_REV));
    let journal: Value = serde_json::from_str(&std::fs::read_to_string(s.journal()).unwrap()).unwrap();
    assert_eq!(journal["modules"][0]["completed"], true, "{journal}");
}

/// The first Ctrl-C stops between steps and says where the module is, that nothing is lost,
/// and the exact command that continues; that command finishes the update.
#[test]
fn ctrl_c_stops_between_steps_and_the_rerun_finishes() {
    let s = setup("normal", "1");
    let mut child = s.update(&[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // Mid-flash: the third step has started.
    let total = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "update ended before the signal");
        if let Some(rest) = line.trim_start().strip_prefix("[ 3/") {
            break steps_total(rest);
        }
    };
    signal(&child, "INT");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let status = wait(&mut child, Duration::from_secs(120));
    let err = stderr_of(&mut child);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("Stopping after the current step"), "{err}");
    assert!(err.contains("The module is "), "{err}");
    assert!(err.contains("Nothing is lost"), "{err}");
    let cmd = err.lines().find_map(|l| l.strip_prefix("To continue: ")).unwrap().to_owned();
    assert!(cmd.starts_with("modemflash update ") && cmd.contains("--journal"), "{cmd}");
    let journal: Value = serde_json::from_str(&std::fs::read_to_string(s.journal()).unwrap()).unwrap();
    assert_eq!(journal["modules"][0]["completed"], false, "{journal}");
    assert!(journal["modules"][0]["done"].as_array().is_some_and(|d| !d.is_empty()), "{journal}");
    // The command it printed, as a user would paste it (the binary is ours).
    let rest: Vec<&str> = cmd.split(' ').skip(1).collect();
    let again = Command::cargo_bin("modemflash").unwrap().args(&rest).output().unwrap();
    let (so, se) = (String::from_utf8_lossy(&again.stdout), String::from_utf8_lossy(&again.stderr));
    assert_eq!(again.status.code(), Some(0), "{so}\n{se}");
    // Only what was left: fewer steps than the whole plan.
    let left = so.lines().find_map(|l| l.trim_start().strip_prefix("[ 1/")).map(steps_total).unwrap();
    assert!(left < total, "{left} of {total}: {so}");
    assert_eq!(s.booted().as_deref(), Some(NEW_REV));
}

/// `N] title` → N.
fn steps_total(rest: &str) -> usize {
    rest.split(']').next().unwrap().trim().parse().unwrap()
}

/// SIGTERM asks for a stop like Ctrl-C; a second signal stops at once.
#[test]
fn a_second_signal_stops_at_once() {
    let s = setup("normal", "2");
    let mut child = s.update(&["--json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "update ended before the signal");
        if line.contains("\"waiting\"") {
            break;
        }
    }
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "INT");
    let status = wait(&mut child, Duration::from_secs(10));
    let err = stderr_of(&mut child);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("Stopped at once"), "{err}");
}

/// `demo | head -1` and `completions bash | head -1` end without a panic.
#[test]
fn short_readers_do_not_panic_anything() {
    for args in [&["demo", "--size-mib", "1"][..], &["completions", "bash"][..], &["manpage"][..]] {
        let mut child = Command::cargo_bin("modemflash")
            .unwrap()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        drop(out);
        let status = wait(&mut child, Duration::from_secs(120));
        let err = stderr_of(&mut child);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
    }
}

fn last_json(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Keys every `result` object has.
const RESULT_KEYS: [&str; 15] = [
    "event",
    "v",
    "module",
    "modules",
    "ok",
    "exit",
    "error",
    "problems",
    "remedy",
    "step",
    "endpoint",
    "kind",
    "repeated_failure",
    "outcome",
    "journal",
];

fn assert_result(v: &Value, exit: i64) {
    assert_eq!(v["event"], "result", "{v}");
    assert_eq!(v["exit"], exit, "{v}");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), RESULT_KEYS.len(), "{v}");
    for k in RESULT_KEYS {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
}

/// `--port` naming a tty that does not exist: said at once, with the ones that do, never
/// "(none)"; with `--json` a result object carries the problem.
#[test]
fn a_missing_tty_is_named_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join(NEW_REV);
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    let dir = tmp.path().join("ttys");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("ttyUSB0"), b"").unwrap();
    let t0 = Instant::now();
    let out = Command::cargo_bin("modemflash")
        .unwrap()
        .arg("update")
        .arg(&pkg)
        .arg("--port")
        .arg(dir.join("ttyUSB7"))
        .args(["--yes", "--json"])
        .env("XDG_STATE_HOME", tmp.path().join("state"))
        .output()
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("ttyUSB7 does not exist"), "{err}");
    assert!(err.contains("ttyUSB0"), "{err}");
    assert!(!err.contains("(none)"), "{err}");
    let lines = last_json(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_result(&lines[0], 3);
    assert!(lines[0]["problems"][0]["message"].as_str().unwrap().contains("does not exist"));
}

/// An invalid package, bad arguments, and `plan`/`info` without a module: each `--json`
/// run ends with exactly one result, with the same keys, listing every problem.
#[test]
fn json_runs_always_end_with_one_result() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join(NEW_REV);
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    // Two problems: a missing programmer and a truncated one.
    std::fs::remove_file(pkg.join("NPRG9x15.hex")).unwrap();
    std::fs::write(pkg.join("ENPRG9x15.hex"), b":10000000").unwrap();
    let run = |args: &[&str]| {
        Command::cargo_bin("modemflash")
            .unwrap()
            .args(args)
            .env("XDG_STATE_HOME", tmp.path().join("state"))
            .output()
            .unwrap()
    };
    let p = pkg.to_str().unwrap();
    let out = run(&["update", p, "--port", "/nonexistent/dm", "--yes", "--json"]);
    let lines = last_json(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_result(&lines[0], 2);
    assert!(lines[0]["problems"].as_array().unwrap().len() >= 2, "{}", lines[0]);

    let out = run(&["update", "--json", "--no-such-flag"]);
    let lines = last_json(&out.stdout);
    assert_eq!(out.status.code(), Some(64));
    assert_result(&lines[0], 64);

    let good = tmp.path().join("good");
    builder::write_legacy(&good, &LegacySpec::default()).unwrap();
    for args in [
        &["plan", good.to_str().unwrap(), "--port", "/nonexistent/dm", "--json"][..],
        &["info", "--device", "serial:/nonexistent/dm", "--json"][..],
    ] {
        let out = run(args);
        let lines = last_json(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert_result(&lines[0], 3);
        assert!(!lines[0]["problems"].as_array().unwrap().is_empty());
    }
}

/// "n" at the confirmation prompt (stdin a terminal): nothing written, exit 4.
#[test]
fn declining_at_the_prompt_exits_4() {
    let s = setup("normal", "0.3");
    let mut c = Command::cargo_bin("modemflash").unwrap();
    c.arg("update")
        .arg(&s.pkg)
        .arg("--port")
        .arg(s.ttys.join("dm"))
        .args(["--fastboot", &format!("tcp:127.0.0.1:{}", s.port)])
        .arg("--journal")
        .arg(s.journal());
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut master = std::fs::File::from(pty.master);
    let mut child =
        c.stdin(Stdio::from(pty.slave)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut buf = [0u8; 1];
    while !seen.ends_with(b"[y/N] ") {
        assert_eq!(out.read(&mut buf).unwrap(), 1, "{}", String::from_utf8_lossy(&seen));
        seen.push(buf[0]);
    }
    std::io::Write::write_all(&mut master, b"n\n").unwrap();
    let status = wait(&mut child, Duration::from_secs(30));
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(4), "{rest}");
    assert!(rest.contains("Nothing was written"), "{rest}");
    assert!(!Path::new(&s.journal()).exists());
}
