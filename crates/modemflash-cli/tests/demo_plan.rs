//! The README's first command (`modemflash demo`) and `modemflash plan` as processes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use assert_cmd::Command;

/// Run the command, require exit `code`, return its output.
fn run(cmd: &mut Command, code: i32) -> std::process::Output {
    cmd.assert().code(code).get_output().clone()
}
use modemflash_sim::builder::{self, LegacySpec};

#[test]
fn demo_updates_the_virtual_module() {
    let out = run(Command::cargo_bin("modemflash").unwrap().args(["demo", "--size-mib", "2"]), 0).stdout;
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Revision before: EC20AQAR02A03E2G"), "{text}");
    assert!(text.contains("Revision after:  EC20AQAR02A04E2G"), "{text}");
    assert!(text.contains("fastboot flash system"), "{text}");
}

#[test]
fn demo_finishes_a_stuck_module() {
    let out = run(
        Command::cargo_bin("modemflash").unwrap().args([
            "demo",
            "--start-mode",
            "fastboot",
            "--size-mib",
            "2",
            "--json",
        ]),
        0,
    )
    .stdout;
    let last: serde_json::Value = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .next_back()
        .unwrap();
    assert_eq!(last["event"], "result");
    assert_eq!(last["outcome"]["revision_after"], "EC20AQAR02A04E2G");
}

#[test]
fn plan_without_a_module_and_with_assumed_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("EC20AQAR02A04E2G");
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    // No endpoint at all: exit 3 with a pointer to --port and to the demo.
    let err = run(Command::cargo_bin("modemflash").unwrap().arg("plan").arg(&pkg), 3).stderr;
    assert!(String::from_utf8(err).unwrap().contains("--port"));
    let out = run(
        Command::cargo_bin("modemflash").unwrap().arg("plan").arg(&pkg).args([
            "--assume-mode",
            "fastboot",
            "--json",
        ]),
        0,
    )
    .stdout;
    let plan: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(plan["flow"], "legacy-recover-fastboot");
    // Nothing tells the assumed module's chipset: fastboot's product is checked first.
    assert_eq!(plan["steps"][0]["id"], "check:chipset");
    assert_eq!(plan["steps"][0]["expected"], "mdm9615");
    assert_eq!(plan["steps"][1]["id"], "fastboot:flash:sbl2");
    let out = run(
        Command::cargo_bin("modemflash").unwrap().arg("plan").arg(&pkg).args([
            "--assume-mode",
            "normal",
            "--assume-revision",
            "EC20AQAR02A03E2G",
        ]),
        0,
    )
    .stdout;
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("legacy A"), "{text}");
    assert!(text.contains("switch to DLOAD (DIAG 0x3A)"), "{text}");
    // A package for another chipset is refused, even when forced, naming both sides
    // (issue 10: an EC20 R1 package against an EC25).
    for force in [false, true] {
        let mut c = Command::cargo_bin("modemflash").unwrap();
        c.arg("plan").arg(&pkg).args(["--assume-mode", "normal", "--assume-revision", "EC25EFAR06A08M4G"]);
        if force {
            c.arg("--force");
        }
        let err = String::from_utf8(run(&mut c, 1).stderr).unwrap();
        assert!(err.contains("package is for MDM9615") && err.contains("the module is an MDM9x07"), "{err}");
        assert!(err.contains("EC25EFAR06A08M4G") && !err.contains("Pass --force"), "{err}");
    }
    // Another release line of the same model is refused unless forced.
    let out = run(
        Command::cargo_bin("modemflash").unwrap().arg("plan").arg(&pkg).args([
            "--assume-mode",
            "normal",
            "--assume-revision",
            "EC20AQAR03A05E2G",
        ]),
        1,
    )
    .stderr;
    assert!(String::from_utf8(out).unwrap().contains("--force"));
    Command::cargo_bin("modemflash")
        .unwrap()
        .arg("plan")
        .arg(&pkg)
        .args(["--assume-mode", "normal", "--assume-revision", "EC20AQAR03A05E2G", "--force"])
        .assert()
        .code(0);
}

#[test]
fn update_refuses_an_invalid_package_before_touching_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    std::fs::remove_file(pkg.join("rpm.mbn")).unwrap();
    let err = run(
        Command::cargo_bin("modemflash").unwrap().arg("update").arg(&pkg).args([
            "--port",
            "/nonexistent/tty",
            "--yes",
        ]),
        2,
    )
    .stderr;
    assert!(String::from_utf8(err).unwrap().contains("missing rpm.mbn"));
}
