#![allow(clippy::many_single_char_names)]
use super::*;
use crate::discovery::module_id::IdKind;

fn imei(s: &str, path: &str) -> ModuleIdentity {
    ModuleIdentity { imei: Some(s.into()), port_path: Some(path.into()), ..ModuleIdentity::default() }
}

fn place(path: &str) -> ModuleIdentity {
    ModuleIdentity { port_path: Some(path.into()), ..ModuleIdentity::default() }
}

/// A journal at `p` with one unfinished record for `seen`, last in `mode`, `done` done.
fn one_run(p: &Path, seen: &ModuleIdentity, mode: DeviceMode, done: &[&str]) {
    let mut j = Journal::open(p);
    j.select("pkg", seen, DeviceMode::Normal, false).unwrap();
    j.begin("pkg", "/pkg", Flow::LegacyA, None).unwrap();
    for d in done {
        j.mark(d).unwrap();
    }
    j.expect(mode).unwrap();
}

#[test]
fn resume_only_for_the_same_unfinished_package_and_module() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.json");
    let a = imei("867698040000001", "usb:3-4");
    one_run(&p, &a, DeviceMode::Streaming, &["diag:dload"]);

    let mut j = Journal::open(&p);
    let m = j.select("pkg", &a, DeviceMode::Normal, false).unwrap();
    assert!(m.resume);
    assert_eq!(m.basis, Basis::Identity { matched: vec![(IdKind::Imei, "867698040000001".into())] });
    assert_eq!(j.resume_for("pkg"), Some((Flow::LegacyA, vec!["diag:dload".to_string()])));
    assert_eq!(j.resume_for("other"), None);
    // Another package: nothing to resume.
    let m = j.select("other", &a, DeviceMode::Normal, false).unwrap();
    assert_eq!((m.resume, m.basis), (false, Basis::NoRecord));

    // Finished: never resumed again.
    j.select("pkg", &a, DeviceMode::Normal, false).unwrap();
    j.complete().unwrap();
    let mut j = Journal::open(&p);
    let m = j.select("pkg", &a, DeviceMode::Normal, false).unwrap();
    assert_eq!((m.resume, m.basis), (false, Basis::Completed));
    assert_eq!(j.resume_for("pkg"), None);

    std::fs::write(&p, "not json").unwrap();
    let mut j = Journal::open(&p);
    assert!(!j.select("pkg", &a, DeviceMode::Normal, false).unwrap().resume);
}

#[test]
fn another_module_starts_over_and_both_records_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.json");
    let a = imei("867698040000001", "usb:3-4");
    let b = imei("867698040000002", "usb:3-4");
    one_run(&p, &a, DeviceMode::Edl, &["firehose:erase:0", "firehose:program:tz"]);

    let mut j = Journal::open(&p);
    let m = j.select("pkg", &b, DeviceMode::Normal, false).unwrap();
    assert!(!m.resume);
    assert!(matches!(&m.basis, Basis::OtherModule { kind: IdKind::Imei, recorded, seen }
        if recorded == "867698040000001" && seen == "867698040000002"));
    assert_eq!(m.other_modules, 1);
    assert_eq!(j.resume_for("pkg"), None);
    j.begin("pkg", "/pkg", Flow::LegacyA, None).unwrap();
    j.mark("diag:dload").unwrap();
    assert_eq!(Journal::open(&p).records().len(), 2);

    // Each module resumes its own record.
    let mut j = Journal::open(&p);
    j.select("pkg", &a, DeviceMode::Normal, false).unwrap();
    assert_eq!(j.resume_for("pkg").unwrap().1, ["firehose:erase:0", "firehose:program:tz"]);
    j.select("pkg", &b, DeviceMode::Normal, false).unwrap();
    assert_eq!(j.resume_for("pkg").unwrap().1, ["diag:dload"]);
}

#[test]
fn without_identity_only_the_same_port_and_expected_mode_resume() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.json");
    // An EC20 R1 stuck in fastboot: its LK says only MDM9615, which is no identity.
    let mut stuck = place("usb:3-4");
    stuck.set_fastboot("MDM9615", Some("MDM9615"));
    stuck.set_usb_serial(Some("MDM9615"));
    assert!(stuck.is_anonymous());
    one_run(&p, &stuck, DeviceMode::Fastboot, &["fastboot:flash:sbl2"]);

    let mut j = Journal::open(&p);
    // Same port, same mode: resumed, and the basis says on what.
    let m = j.select("pkg", &stuck, DeviceMode::Fastboot, false).unwrap();
    assert!(m.resume);
    assert_eq!(m.basis, Basis::PortAndMode { port_path: "usb:3-4".into(), mode: DeviceMode::Fastboot });
    // The second module of a gateway, in fastboot on another port: started over.
    let m = j.select("pkg", &place("usb:3-5"), DeviceMode::Fastboot, false).unwrap();
    assert!(!m.resume);
    assert!(matches!(m.basis, Basis::Unidentified { .. }), "{:?}", m.basis);
    assert_eq!(j.resume_for("pkg"), None);
    // Same port but not the mode the journal expects: started over.
    let m = j.select("pkg", &place("usb:3-4"), DeviceMode::Dload, false).unwrap();
    assert!(!m.resume);
    // A module that shows an identity the record lacks cannot be matched either.
    let m = j.select("pkg", &imei("867698040000001", "usb:3-4"), DeviceMode::Normal, false).unwrap();
    assert!(!m.resume);
}

#[test]
fn fresh_discards_only_this_modules_record() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.json");
    let a = imei("1111111111111111", "usb:1-1");
    let b = imei("2222222222222222", "usb:1-2");
    one_run(&p, &a, DeviceMode::Edl, &["x"]);
    one_run(&p, &b, DeviceMode::Edl, &["y"]);
    assert_eq!(Journal::open(&p).records().len(), 2);
    let mut j = Journal::open(&p);
    let m = j.select("pkg", &a, DeviceMode::Normal, true).unwrap();
    assert_eq!((m.resume, m.basis), (false, Basis::Discarded));
    let j = Journal::open(&p);
    assert_eq!(j.records().len(), 1);
    assert_eq!(j.records()[0].done, ["y"]);
}

#[test]
fn the_same_failure_twice_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.json");
    let a = imei("1111111111111111", "usb:1-1");
    one_run(&p, &a, DeviceMode::Fastboot, &[]);
    let mut j = Journal::open(&p);
    j.select("pkg", &a, DeviceMode::Normal, false).unwrap();
    assert_eq!(j.fail("fastboot:reboot", FailureKind::ModeTimeout).unwrap(), 1);
    let mut j = Journal::open(&p);
    let m = j.select("pkg", &a, DeviceMode::Normal, false).unwrap();
    assert_eq!(m.last_failure.as_ref().map(|f| f.count), Some(1));
    j.begin("pkg", "/pkg", Flow::LegacyA, None).unwrap();
    assert_eq!(j.fail("fastboot:reboot", FailureKind::ModeTimeout).unwrap(), 2);
    assert_eq!(j.fail("fastboot:reboot", FailureKind::Protocol).unwrap(), 1, "another way");
    assert_eq!(j.fail("verify", FailureKind::Protocol).unwrap(), 1, "another place");
    j.complete().unwrap();
    assert_eq!(Journal::open(&p).records()[0].last_failure, None);
}

#[test]
fn a_version_1_file_is_a_record_of_unknown_identity() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.json");
    std::fs::write(
        &p,
        r#"{"package":"pkg","package_path":"/p","flow":"legacy-a","revision_before":null,"done":["a"],"completed":false}"#,
    )
    .unwrap();
    let mut j = Journal::open(&p);
    assert_eq!(j.records().len(), 1);
    // No identity and no port path recorded: never resumed, but kept.
    let m = j.select("pkg", &imei("1", "usb:1-1"), DeviceMode::Normal, false).unwrap();
    assert!(!m.resume);
    j.begin("pkg", "/p", Flow::LegacyA, None).unwrap();
    assert_eq!(Journal::open(&p).records().len(), 2);
}

/// Several modules updated at once by one process (or several) share the package's file:
/// every save keeps what the others wrote meanwhile.
#[test]
fn journals_of_modules_run_at_once_keep_each_others_records() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.json");
    let ids: Vec<ModuleIdentity> =
        (1..=4).map(|n| imei(&format!("86769804000000{n}"), &format!("usb:3-{n}"))).collect();
    let mut journals: Vec<Journal> = ids
        .iter()
        .map(|id| {
            let mut j = Journal::open(&p);
            j.select("pkg", id, DeviceMode::Normal, false).unwrap();
            j
        })
        .collect();
    for j in &mut journals {
        j.begin("pkg", "/pkg", Flow::LegacyA, None).unwrap();
    }
    for step in ["a", "b"] {
        for j in &mut journals {
            j.mark(step).unwrap();
        }
    }
    journals[2].complete().unwrap();
    let on_disk = Journal::open(&p);
    assert_eq!(on_disk.records().len(), 4, "{:#?}", on_disk.records());
    for (n, id) in ids.iter().enumerate() {
        let r = on_disk.records().iter().find(|r| r.module.imei == id.imei).unwrap();
        assert_eq!(r.done, ["a", "b"]);
        assert_eq!(r.completed, n == 2);
    }
    // Threads, as `update --all` runs them.
    let p2 = dir.path().join("t.json");
    std::thread::scope(|s| {
        for id in &ids {
            let p2 = &p2;
            s.spawn(move || {
                let mut j = Journal::open(p2);
                j.select("pkg", id, DeviceMode::Normal, false).unwrap();
                j.begin("pkg", "/pkg", Flow::LegacyA, None).unwrap();
                for k in 0..20 {
                    j.mark(&format!("s{k}")).unwrap();
                }
            });
        }
    });
    let on_disk = Journal::open(&p2);
    assert_eq!(on_disk.records().len(), 4);
    assert!(on_disk.records().iter().all(|r| r.done.len() == 20));
    // A fresh start on one module drops only its record.
    let mut j = Journal::open(&p2);
    j.select("pkg", &ids[0], DeviceMode::Normal, true).unwrap();
    assert_eq!(Journal::open(&p2).records().len(), 3);
}
