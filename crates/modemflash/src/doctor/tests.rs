use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::discovery::sysfs::fake;

struct Tree {
    _tmp: tempfile::TempDir,
    env: Env,
}

fn tree() -> Tree {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake::roots(tmp.path());
    let proc_root = tmp.path().join("proc");
    fs::create_dir_all(proc_root.join("self")).unwrap();
    status(&proc_root, 0, &[]);
    let etc = tmp.path().join("etc");
    fs::create_dir_all(etc.join("udev/rules.d")).unwrap();
    let env = Env {
        roots,
        proc_root,
        group_file: etc.join("group"),
        udev_dirs: vec![etc.join("udev/rules.d"), tmp.path().join("lib/udev/rules.d")],
        try_open: false,
    };
    Tree { _tmp: tmp, env }
}

fn status(proc_root: &Path, uid: u32, groups: &[u32]) {
    let g: Vec<String> = groups.iter().map(u32::to_string).collect();
    fs::write(
        proc_root.join("self/status"),
        format!("Name:\tmodemflash\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t4243\t4243\t4243\t4243\nGroups:\t{}\n", g.join(" ")),
    )
    .unwrap();
}

fn process(proc_root: &Path, pid: u32, comm: &str, fds: Option<&[&Path]>) {
    let dir = proc_root.join(pid.to_string());
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
    if let Some(fds) = fds {
        fs::create_dir_all(dir.join("fd")).unwrap();
        for (i, target) in fds.iter().enumerate() {
            std::os::unix::fs::symlink(target, dir.join("fd").join(i.to_string())).unwrap();
        }
    }
}

fn node(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, b"").unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn findings(r: &Report, id: CheckId) -> Vec<Finding> {
    r.check(id).unwrap().findings.clone()
}

#[test]
fn empty_host_says_no_module_and_no_rules() {
    let t = tree();
    let r = checks::linux(&t.env);
    assert_eq!(r.platform, "linux");
    assert_eq!(
        findings(&r, CheckId::Modules),
        vec![Finding::with(Status::Info, Fact::NoModule, Remedy::ReplugModule)]
    );
    assert_eq!(findings(&r, CheckId::ModemManager), vec![Finding::new(Status::Ok, Fact::NoPortGrabber)]);
    assert_eq!(findings(&r, CheckId::Permissions), vec![Finding::new(Status::Ok, Fact::RunningAsRoot)]);
    let udev = r.check(CheckId::UdevRules).unwrap();
    assert_eq!(udev.status, Status::Warning);
    assert!(matches!(&udev.findings[0].fact, Fact::UdevRulesMissing { looked_in } if looked_in.len() == 2));
    assert_eq!(udev.findings[0].remedy, Some(Remedy::InstallUdevRules));
    assert_eq!(r.status(), Status::Warning);
}

#[test]
fn modemmanager_holding_the_at_port_is_a_problem() {
    let t = tree();
    fake::ec20(&t.env.roots.sysfs, "1-1.2", 0);
    let at = t.env.roots.dev.join("ttyUSB2");
    let other = PathBuf::from("/dev/null");
    process(&t.env.proc_root, 812, "ModemManager", Some(&[&other, &at]));
    process(&t.env.proc_root, 900, "eg25-manager", None);
    process(&t.env.proc_root, 901, "bash", Some(&[&at]));
    let r = checks::linux(&t.env);
    let mm = r.check(CheckId::ModemManager).unwrap();
    assert_eq!(mm.status, Status::Problem);
    let stop = Some(Remedy::StopService { name: "ModemManager".into() });
    assert!(mm.findings.contains(&Finding {
        status: Status::Problem,
        fact: Fact::ProcessHoldsPort { pid: 812, name: "ModemManager".into(), node: at.clone() },
        remedy: stop.clone(),
    }));
    assert!(mm.findings.contains(&Finding {
        status: Status::Warning,
        fact: Fact::ProcessRunning { pid: 812, name: "ModemManager".into() },
        remedy: stop,
    }));
    assert!(
        mm.findings
            .iter()
            .any(|f| f.fact == Fact::ProcessPortsUnknown { pid: 900, name: "eg25-manager".into() })
    );
    assert!(
        !mm.findings.iter().any(|f| matches!(&f.fact, Fact::ProcessRunning { pid: 901, .. })),
        "bash is no grabber"
    );

    let json = serde_json::to_value(&r).unwrap();
    let text = json.to_string();
    assert!(text.contains("\"fact\":\"process-holds-port\""), "{text}");
    assert!(text.contains("\"remedy\":\"stop-service\""), "{text}");
}

#[test]
fn driver_binding_findings() {
    let t = tree();
    let s = &t.env.roots.sysfs;
    // EC25 whose DM and AT interfaces have no driver (option does not know the id).
    fake::device(
        s,
        "2-1",
        0x2c7c,
        0x0125,
        None,
        "480",
        5,
        &[
            fake::iface(0, fake::VENDOR, None, None),
            fake::iface(1, fake::SERIAL_IF, Some("option"), Some("ttyUSB1")),
            fake::iface(2, fake::SERIAL_IF, None, None),
            fake::iface(4, fake::VENDOR, Some("qmi_wwan"), None),
        ],
    );
    fake::qdl(s, "1-1", Some("ttyUSB0"));
    fake::device(
        s,
        "1-2",
        0x18d1,
        0xd00d,
        None,
        "480",
        8,
        &[fake::iface(0, (0xff, 0x42, 3), Some("usbfs"), None)],
    );
    let r = checks::linux(&t.env);
    let d = findings(&r, CheckId::Drivers);
    let add_option = Some(Remedy::AddDriverId { driver: "option", vid: 0x2c7c, pid: 0x0125 });
    let no_dm = d
        .iter()
        .find(|f| {
            matches!(
                &f.fact,
                Fact::NoDriver { interface: 0, role: Some(crate::catalog::InterfaceRole::Diag), .. }
            )
        })
        .unwrap();
    assert_eq!((no_dm.status, &no_dm.remedy), (Status::Problem, &add_option));
    assert!(
        d.iter()
            .any(|f| matches!(&f.fact, Fact::NoDriver { interface: 2, .. }) && f.status == Status::Problem)
    );
    assert!(
        d.iter()
            .any(|f| matches!(&f.fact, Fact::DriverBound { interface: 1, driver, .. } if driver == "option"))
    );
    assert!(d.iter().any(|f| f.status == Status::Info
        && f.fact == Fact::QdloaderDriverDetachable { usb_path: "1-1".into(), driver: "qcserial".into() }));
    assert!(d.iter().any(|f| f.status == Status::Warning
        && f.fact == Fact::ClaimedByProgram { usb_path: "1-2".into(), interface: 0 }));
    assert_eq!(r.check(CheckId::Drivers).unwrap().status, Status::Problem);
}

#[test]
fn permissions_for_a_user_outside_dialout() {
    let t = tree();
    fake::ec20(&t.env.roots.sysfs, "1-1.2", 0);
    let dev = &t.env.roots.dev;
    node(&dev.join("ttyUSB0"), 0o660);
    node(&dev.join("ttyUSB2"), 0o660);
    node(&dev.join("bus/usb/001/003"), 0o644);
    use std::os::unix::fs::MetadataExt;
    let gid = fs::metadata(dev.join("ttyUSB0")).unwrap().gid();
    fs::write(&t.env.group_file, format!("plugdev:x:46:\ndialout:x:{gid}:someone\n")).unwrap();
    assert_eq!(group_name(&t.env.group_file, gid).as_deref(), Some("dialout"));

    status(&t.env.proc_root, 4242, &[46]);
    let r = checks::linux(&t.env);
    let p = findings(&r, CheckId::Permissions);
    assert_eq!(p.len(), 3, "usbfs node, DM tty, AT tty: {p:?}");
    let usbfs = &p[0];
    assert!(matches!(&usbfs.fact, Fact::NotAccessible { mode: 0o644, .. }), "{usbfs:?}");
    assert_eq!(usbfs.remedy, Some(Remedy::InstallUdevRules));
    for tty in &p[1..] {
        assert_eq!(tty.status, Status::Problem);
        assert_eq!(tty.remedy, Some(Remedy::AddUserToGroup { group: "dialout".into() }));
    }

    // In the group: the ttys are fine, the read-only usbfs node is still not.
    status(&t.env.proc_root, 4242, &[46, gid]);
    let p = findings(&checks::linux(&t.env), CheckId::Permissions);
    assert_eq!(p[1], Finding::new(Status::Ok, Fact::Accessible { node: dev.join("ttyUSB0") }));
    assert_eq!(p[0].status, Status::Problem);

    // A node that is not there (devtmpfs absent, or the module left).
    fs::remove_file(dev.join("ttyUSB2")).unwrap();
    let p = findings(&checks::linux(&t.env), CheckId::Permissions);
    assert_eq!(p[2].fact, Fact::NodeMissing { node: dev.join("ttyUSB2") });
}

#[test]
fn user_and_groups_come_from_proc_self_status() {
    let t = tree();
    status(&t.env.proc_root, 1000, &[20, 46]);
    let u = read_user(&t.env.proc_root).unwrap();
    assert_eq!(u.uid, 1000);
    assert_eq!(u.gids, [20, 46, 4243]);
    assert_eq!(read_user(Path::new("/nonexistent")), None);
}

#[test]
fn udev_rules_found_complete_or_outdated() {
    let t = tree();
    let lib = t.env.udev_dirs[1].clone();
    fs::create_dir_all(&lib).unwrap();
    fs::write(lib.join(UDEV_RULES_FILE), udev::rules()).unwrap();
    let u = findings(&checks::linux(&t.env), CheckId::UdevRules);
    assert_eq!(u[0].status, Status::Ok);
    assert!(
        matches!(&u[0].fact, Fact::UdevRulesInstalled { path, missing_ids } if *path == lib.join(UDEV_RULES_FILE) && missing_ids.is_empty())
    );

    // An older copy in /etc wins and lacks ids.
    let old = "SUBSYSTEM==\"usb\", ATTR{idVendor}==\"05c6\", ATTR{idProduct}==\"9008\", MODE=\"0666\"\n\
               # ATTR{idVendor}==\"18d1\", ATTR{idProduct}==\"d00d\"\n";
    fs::write(t.env.udev_dirs[0].join(UDEV_RULES_FILE), old).unwrap();
    let u = findings(&checks::linux(&t.env), CheckId::UdevRules);
    assert_eq!(u[0].status, Status::Warning);
    let Fact::UdevRulesInstalled { missing_ids, .. } = &u[0].fact else { panic!() };
    assert!(!missing_ids.contains(&"05c6:9008".to_string()));
    assert!(missing_ids.contains(&"18d1:d00d".to_string()), "commented lines do not count");
    assert_eq!(missing_ids.len(), crate::catalog::USB_IDS.len() - 1);
}

#[test]
fn autosuspend_is_a_warning_in_flashing_modes_only() {
    let t = tree();
    fake::qdl(&t.env.roots.sysfs, "1-1", None);
    fake::ec20(&t.env.roots.sysfs, "1-2", 0);
    fs::write(t.env.roots.sysfs.join("1-2/power/control"), "on\n").unwrap();
    fake::ec25(&t.env.roots.sysfs, "2-1", "5000");
    let a = findings(&checks::linux(&t.env), CheckId::Autosuspend);
    assert_eq!(
        a[0],
        Finding::with(
            Status::Warning,
            Fact::AutosuspendEnabled { usb_path: "1-1".into() },
            Remedy::DisableAutosuspend { usb_path: "1-1".into() }
        )
    );
    assert_eq!(a[1], Finding::new(Status::Ok, Fact::AutosuspendDisabled { usb_path: "1-2".into() }));
    assert_eq!(a[2].status, Status::Info);
}

#[test]
fn other_platforms_say_what_is_not_available() {
    let r = checks::other("macos");
    assert!(r.checks.iter().all(|c| c.status == Status::Skipped));
    assert!(
        r.checks
            .iter()
            .all(|c| c.findings == [Finding::new(Status::Skipped, Fact::NotAvailable { platform: "macos" })])
    );
}

#[test]
fn the_real_host_does_not_break_doctor() {
    // Whatever this machine has (here: no USB bus), doctor must finish and serialise.
    let r = run(&Env::default());
    assert!(!r.checks.is_empty());
    serde_json::to_string(&r).unwrap();
}
