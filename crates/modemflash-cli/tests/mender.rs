//! The Mender Update Module `contrib/mender/modemflash` with the real Mender client
//! (Debian's mender-client 3.4, standalone mode) against a virtual EC25 run by
//! `modemflash sim`: `mender install a.mender` then `mender commit`; and a gateway reboot in
//! the middle of ArtifactInstall (the engine and the module's power cut), after which the
//! next `mender install` continues from the journal.
//!
//! Needs `mender` and `mender-artifact` (`.ci/run` installs them with apt) and root: the
//! client looks for update modules in /usr/share/mender/modules/v3 and reads
//! /etc/mender/artifact_info. Without them the tests say SKIPPED and pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use modemflash_sim::builder::{self, FirehoseSpec};

mod common;
use common::SimProcess;

const MODULES: &str = "/usr/share/mender/modules/v3";
const NEW_REV: &str = "EC25EFAR06A11M4G";

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

fn skip_reason() -> Option<String> {
    for t in ["mender", "mender-artifact"] {
        if !have(t) {
            return Some(format!("{t} is not installed (apt-get install mender-client mender-artifact)"));
        }
    }
    if !nix_root() {
        return Some("not root: the Mender client reads its update modules from /usr/share/mender".into());
    }
    None
}

fn nix_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

static INSTALL: std::sync::Once = std::sync::Once::new();

/// The update module where the client looks for it, once per test process.
fn install_module() {
    std::fs::create_dir_all(MODULES).unwrap();
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/mender/modemflash");
    // A fresh file (never through a link: copying onto a link to the source empties it).
    let dest = Path::new(MODULES).join("modemflash");
    let _ = std::fs::remove_file(&dest);
    std::fs::copy(&module, &dest).unwrap();
}

struct Gateway {
    tmp: tempfile::TempDir,
    artifact: PathBuf,
    ttys: PathBuf,
    state: PathBuf,
    conf: PathBuf,
}

impl Gateway {
    /// A package as a Mender Artifact, the update module installed, Mender's files.
    fn new(extra_conf: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let spec = FirehoseSpec { revision: NEW_REV.into(), ..FirehoseSpec::default() };
        let pkg = dir.join(NEW_REV);
        builder::write_firehose(&pkg, &spec).unwrap();
        let zip = dir.join(format!("{NEW_REV}.zip"));
        builder::zip_dir(&pkg, &zip).unwrap();
        let artifact = dir.join("a.mender");
        let out = Command::new("mender-artifact")
            .args(["write", "module-image", "-T", "modemflash", "-t", "gateway", "-n", "modem-fw-1", "-f"])
            .arg(&zip)
            .arg("-o")
            .arg(&artifact)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        INSTALL.call_once(install_module);
        std::fs::create_dir_all("/etc/mender").unwrap();
        if !Path::new("/etc/mender/artifact_info").exists() {
            std::fs::write("/etc/mender/artifact_info", "artifact_name=factory\n").unwrap();
        }
        Self::files(tmp, artifact, extra_conf)
    }

    /// Mender's configuration and data directory, and the module's configuration.
    fn files(tmp: tempfile::TempDir, artifact: PathBuf, extra_conf: &str) -> Self {
        let dir = tmp.path();
        std::fs::write(dir.join("mender.conf"), r#"{"ServerURL":"https://localhost"}"#).unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("data/device_type"), "device_type=gateway\n").unwrap();
        let ttys = dir.join("ttys");
        let bin = assert_cmd::cargo::cargo_bin("modemflash");
        let conf = dir.join("modemflash-mender.conf");
        std::fs::write(
            &conf,
            format!(
                "# which module\ndevice = serial:{}\njournal = {}\nbinary = {}\ntimeout = 60\n{extra_conf}",
                ttys.join("dm").display(),
                dir.join("journal.json").display(),
                bin.display()
            ),
        )
        .unwrap();
        let state = dir.join("ec25-state.json");
        Gateway { tmp, artifact, ttys, state, conf }
    }

    fn sim(&self, extra: &[&str]) -> SimProcess {
        let mut args = vec!["--model", "ec25", "--reenum-delay", "0.3", "--fastboot-tcp", "127.0.0.1:0"];
        let (ttys, state) = (self.ttys.to_str().unwrap(), self.state.to_str().unwrap());
        args.extend(["--tty-dir", ttys, "--state", state]);
        args.extend(extra);
        SimProcess::spawn(&args)
    }

    fn mender(&self, args: &[&str]) -> Command {
        let mut c = Command::new("mender");
        c.arg("--config").arg(self.tmp.path().join("mender.conf"));
        c.arg("--data").arg(self.tmp.path().join("data"));
        c.arg("--no-syslog");
        c.args(args);
        c.env("MODEMFLASH_MENDER_CONF", &self.conf);
        c
    }

    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = self.mender(args).output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }
}

/// The states the module was called with, in order (it logs each to stderr).
fn states(log: &str) -> Vec<String> {
    log.split("modemflash update module: state ")
        .skip(1)
        .filter_map(|s| s.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn mender_installs_and_commits_through_the_update_module() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    // A rollback package makes the module answer SupportsRollback with Yes, so Mender
    // leaves the install for `mender commit`.
    let gw = Gateway::new("");
    let rollback = gw.tmp.path().join(format!("{NEW_REV}.zip"));
    let mut conf = std::fs::read_to_string(&gw.conf).unwrap();
    conf.push_str(&format!("rollback = {}\n", rollback.display()));
    std::fs::write(&gw.conf, conf).unwrap();
    let sim = gw.sim(&[]);
    let artifact = gw.artifact.to_str().unwrap();
    let (code, log) = gw.run(&["install", artifact]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains(r#"\"ok\":true"#), "modemflash's result: {log}");
    let (code, log2) = gw.run(&["commit"]);
    assert_eq!(code, 0, "{log2}");
    let seen = states(&format!("{log}{log2}"));
    let want = [
        "Download",
        "SupportsRollback",
        "ArtifactInstall",
        "NeedsArtifactReboot",
        "ArtifactCommit",
        "Cleanup",
    ];
    let order: Vec<&str> = seen.iter().map(String::as_str).filter(|s| want.contains(s)).collect();
    let mut dedup = order.clone();
    dedup.dedup();
    assert_eq!(dedup, want, "states: {seen:?}\n{log}{log2}");
    let (_, shown) = gw.run(&["show-artifact"]);
    assert!(shown.lines().any(|l| l.trim() == "modem-fw-1"), "{shown}");
    assert_eq!(sim.booted().as_deref(), Some(NEW_REV));
}

#[test]
fn a_gateway_reboot_mid_install_resumes_on_the_next_install() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let gw = Gateway::new("");
    // A slow NAND keeps the install in its programs long enough to cut it there.
    let sim = gw.sim(&["--nand-mbps", "1"]);
    let artifact = gw.artifact.to_str().unwrap();
    let mut first =
        gw.mender(&["install", artifact]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = sim.events.recv_timeout(Duration::from_secs(60)).expect("the install writes");
        if v["event"] == "partition_written" {
            break;
        }
        assert!(Instant::now() < deadline, "no partition written");
    }
    // The module has the bytes; the host journals the step once it has read the ACK. Cut
    // the power only after that, or nothing durable is journaled and nothing can be skipped
    // (seen in CI under load: the kill landed between the two).
    let journal_path = gw.tmp.path().join("journal.json");
    common::wait_program_journaled(&journal_path, deadline);
    // The power cut: the engine, the update module and modemflash die at once, and so
    // does the module (its NAND is kept in the state file, as flash keeps it).
    common::kill_tree(&mut first);
    drop(sim);
    let journal: serde_json::Value = serde_json::from_slice(&std::fs::read(&journal_path).unwrap()).unwrap();
    let done = common::programs_done(&journal_path);
    assert!(done > 0 && journal["modules"][0]["completed"] == false, "{journal}");

    // Power back: the module boots from what its NAND holds; the next install continues.
    let sim = gw.sim(&[]);
    let (code, log) = gw.run(&["install", artifact]);
    assert_eq!(code, 0, "{log}");
    let result = log
        .lines()
        .filter_map(|l| l.split_once("result: ").map(|(_, r)| r.trim_end_matches('"').replace("\\\"", "\"")))
        .next_back()
        .unwrap_or_else(|| panic!("no result in {log}"));
    let v: serde_json::Value = serde_json::from_str(&result).unwrap_or_else(|e| panic!("{e}: {result}"));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["outcome"]["revision_after"], NEW_REV, "{v}");
    assert!(
        v["outcome"]["steps_skipped"].as_u64().unwrap() >= u64::try_from(done).unwrap().min(1),
        "resumed: {v}"
    );
    assert_eq!(sim.booted().as_deref(), Some(NEW_REV));
}
