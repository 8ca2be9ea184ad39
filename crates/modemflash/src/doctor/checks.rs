//! The checks themselves. Linux checks read sysfs, `/dev`, `/proc` and udev directories
//! under [`Env`]'s roots; the Windows and other-platform reports say what is not available.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::{Check, CheckId, Env, Fact, Finding, PORT_GRABBERS, Remedy, Report, Status, UDEV_RULES_FILE};
use crate::catalog::{InterfaceRole, Mode, USB_IDS};
use crate::discovery::sysfs::{self, Found};

/// The user the checks are for: effective uid and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gids: Vec<u32>,
}

/// Read `Uid:` (effective, the second field), `Gid:` and `Groups:` from `/proc/self/status`.
pub fn read_user(proc_root: &Path) -> Option<User> {
    let status = fs::read_to_string(proc_root.join("self/status")).ok()?;
    let field = |name: &str| -> Option<Vec<u32>> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        Some(line.get(name.len()..)?.split_whitespace().filter_map(|n| n.parse().ok()).collect())
    };
    let uid = *field("Uid:")?.get(1)?;
    let mut gids = field("Groups:").unwrap_or_default();
    if let Some(g) = field("Gid:").and_then(|g| g.get(1).copied()) {
        gids.push(g);
    }
    Some(User { uid, gids })
}

/// A group's name from an `/etc/group`-format file.
pub fn group_name(group_file: &Path, gid: u32) -> Option<String> {
    let text = fs::read_to_string(group_file).ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.split(':');
        let name = parts.next()?;
        let _pw = parts.next()?;
        (parts.next()?.trim().parse::<u32>().ok()? == gid).then(|| name.to_owned())
    })
}

fn modules(found: &[Found]) -> Check {
    let findings = if found.is_empty() {
        vec![Finding::with(Status::Info, Fact::NoModule, Remedy::ReplugModule)]
    } else {
        found
            .iter()
            .map(|f| {
                Finding::new(
                    Status::Info,
                    Fact::Module {
                        usb_path: f.usb_path.clone(),
                        vid: f.vid,
                        pid: f.pid,
                        family: f.family,
                        mode: f.mode,
                    },
                )
            })
            .collect()
    };
    Check::new(CheckId::Modules, findings)
}

/// Device nodes of the modules: ttys and usbfs nodes.
fn module_nodes(found: &[Found]) -> HashSet<PathBuf> {
    let mut nodes = HashSet::new();
    for f in found {
        nodes.extend(f.ports.iter().filter_map(|p| p.tty.clone()));
        nodes.extend(f.usbfs_node.clone());
    }
    nodes
}

/// Processes whose `comm` is one of [`PORT_GRABBERS`]: (pid, name).
pub fn port_grabbers(proc_root: &Path) -> Vec<(u32, String)> {
    let Ok(rd) = fs::read_dir(proc_root) else { return Vec::new() };
    let mut out: Vec<(u32, String)> = rd
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            let name = comm.trim();
            PORT_GRABBERS.contains(&name).then(|| (pid, name.to_owned()))
        })
        .collect();
    out.sort();
    out
}

fn modem_manager(env: &Env, found: &[Found]) -> Check {
    let grabbers = port_grabbers(&env.proc_root);
    if grabbers.is_empty() {
        return Check::new(CheckId::ModemManager, vec![Finding::new(Status::Ok, Fact::NoPortGrabber)]);
    }
    let nodes = module_nodes(found);
    let mut findings = Vec::new();
    for (pid, name) in grabbers {
        let stop = Remedy::StopService { name: name.clone() };
        findings.push(Finding::with(
            Status::Warning,
            Fact::ProcessRunning { pid, name: name.clone() },
            stop.clone(),
        ));
        let Ok(fds) = fs::read_dir(env.proc_root.join(pid.to_string()).join("fd")) else {
            findings.push(Finding::with(
                Status::Warning,
                Fact::ProcessPortsUnknown { pid, name },
                Remedy::RunAsRoot,
            ));
            continue;
        };
        let mut held: Vec<PathBuf> = fds
            .flatten()
            .filter_map(|e| fs::read_link(e.path()).ok())
            .filter(|t| nodes.contains(t))
            .collect();
        held.sort();
        held.dedup();
        for node in held {
            findings.push(Finding::with(
                Status::Problem,
                Fact::ProcessHoldsPort { pid, name: name.clone(), node },
                stop.clone(),
            ));
        }
    }
    Check::new(CheckId::ModemManager, findings)
}

/// The usb-serial driver that serves a vendor's ids in normal mode (`protocols.md` §8).
fn serial_driver_for(vid: u16) -> &'static str {
    if vid == 0x2c7c { "option" } else { "qcserial" }
}

fn drivers(found: &[Found]) -> Check {
    let mut findings = Vec::new();
    for f in found {
        for p in &f.ports {
            let path = f.usb_path.clone();
            let claimed = p.driver.as_deref() == Some("usbfs");
            if claimed {
                findings.push(Finding::with(
                    Status::Warning,
                    Fact::ClaimedByProgram { usb_path: path, interface: p.interface },
                    Remedy::CloseProgram { pid: None, name: None },
                ));
                continue;
            }
            match (f.mode, p.role) {
                (Mode::QdLoader | Mode::Dload, _) => {
                    if let Some(d) = &p.driver {
                        findings.push(Finding::new(
                            Status::Info,
                            Fact::QdloaderDriverDetachable { usb_path: path, driver: d.clone() },
                        ));
                    }
                }
                (
                    Mode::Normal,
                    Some(
                        role @ (InterfaceRole::Diag
                        | InterfaceRole::At
                        | InterfaceRole::Nmea
                        | InterfaceRole::Modem),
                    ),
                ) if p.driver.is_none() => {
                    let expected = serial_driver_for(f.vid);
                    let status = if matches!(role, InterfaceRole::Diag | InterfaceRole::At) {
                        Status::Problem
                    } else {
                        Status::Info
                    };
                    findings.push(Finding::with(
                        status,
                        Fact::NoDriver { usb_path: path, interface: p.interface, role: Some(role), expected },
                        Remedy::AddDriverId { driver: expected, vid: f.vid, pid: f.pid },
                    ));
                }
                (_, role) => {
                    if let Some(d) = &p.driver {
                        findings.push(Finding::new(
                            Status::Ok,
                            Fact::DriverBound {
                                usb_path: path,
                                interface: p.interface,
                                role,
                                driver: d.clone(),
                                tty: p.tty.clone(),
                            },
                        ));
                    }
                }
            }
        }
    }
    Check::new(CheckId::Drivers, findings)
}

#[cfg(unix)]
fn node_access(env: &Env, user: &User, node: &Path, tty: bool) -> Finding {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::metadata(node) else {
        return Finding::with(
            Status::Warning,
            Fact::NodeMissing { node: node.to_path_buf() },
            Remedy::ReplugModule,
        );
    };
    let mode = meta.mode() & 0o7777;
    let rw = |shift: u32| (mode >> shift) & 0o6 == 0o6;
    let ok = (meta.uid() == user.uid && rw(6)) || (user.gids.contains(&meta.gid()) && rw(3)) || rw(0);
    if ok {
        return Finding::new(Status::Ok, Fact::Accessible { node: node.to_path_buf() });
    }
    if env.try_open && fs::OpenOptions::new().read(true).write(true).open(node).is_ok() {
        return Finding::new(Status::Ok, Fact::AccessibleByAcl { node: node.to_path_buf() });
    }
    let group = group_name(&env.group_file, meta.gid());
    let remedy = match (&group, tty && rw(3)) {
        (Some(g), true) => Remedy::AddUserToGroup { group: g.clone() },
        _ => Remedy::InstallUdevRules,
    };
    Finding::with(
        Status::Problem,
        Fact::NotAccessible { node: node.to_path_buf(), mode, uid: meta.uid(), gid: meta.gid(), group },
        remedy,
    )
}

#[cfg(unix)]
fn permissions(env: &Env, found: &[Found]) -> Check {
    let Some(user) = read_user(&env.proc_root) else {
        return Check::new(
            CheckId::Permissions,
            vec![Finding::new(Status::Skipped, Fact::NotAvailable { platform: "linux" })],
        );
    };
    if user.uid == 0 {
        return Check::new(CheckId::Permissions, vec![Finding::new(Status::Ok, Fact::RunningAsRoot)]);
    }
    let mut findings = Vec::new();
    for f in found {
        if let Some(node) = &f.usbfs_node {
            findings.push(node_access(env, &user, node, false));
        }
        for p in &f.ports {
            let wanted =
                matches!(p.role, Some(InterfaceRole::Diag | InterfaceRole::At | InterfaceRole::QdLoader));
            if let (true, Some(tty)) = (wanted, &p.tty) {
                findings.push(node_access(env, &user, tty, true));
            }
        }
    }
    Check::new(CheckId::Permissions, findings)
}

#[cfg(not(unix))]
fn permissions(_env: &Env, _found: &[Found]) -> Check {
    Check::new(
        CheckId::Permissions,
        vec![Finding::new(Status::Skipped, Fact::NotAvailable { platform: "this platform" })],
    )
}

/// Catalogue ids (`vvvv:pppp`) that a rules text does not mention on one line.
pub fn ids_missing_from_rules(text: &str) -> Vec<String> {
    USB_IDS
        .iter()
        .filter(|r| {
            let (v, p) = (format!("\"{:04x}\"", r.vid), format!("\"{:04x}\"", r.pid));
            // A mode told apart by bcdDevice (the 9615's DLOAD) needs its own rule.
            let bcd = r.matchers.bcd_device.map(|b| format!("{{bcddevice}}==\"{b:04x}\""));
            !text.lines().filter(|l| !l.trim_start().starts_with('#')).any(|l| {
                let l = l.to_ascii_lowercase();
                l.contains(&v) && l.contains(&p) && bcd.as_ref().is_none_or(|b| l.contains(b.as_str()))
            })
        })
        .map(|r| match r.matchers.bcd_device {
            Some(b) => format!("{:04x}:{:04x} (bcdDevice {b:04x}, {})", r.vid, r.pid, r.mode.name()),
            None => format!("{:04x}:{:04x}", r.vid, r.pid),
        })
        .collect()
}

fn udev_rules(env: &Env) -> Check {
    for dir in &env.udev_dirs {
        let path = dir.join(UDEV_RULES_FILE);
        if let Ok(text) = fs::read_to_string(&path) {
            let missing_ids = ids_missing_from_rules(&text);
            let finding = if missing_ids.is_empty() {
                Finding::new(Status::Ok, Fact::UdevRulesInstalled { path, missing_ids })
            } else {
                Finding::with(
                    Status::Warning,
                    Fact::UdevRulesInstalled { path, missing_ids },
                    Remedy::InstallUdevRules,
                )
            };
            return Check::new(CheckId::UdevRules, vec![finding]);
        }
    }
    Check::new(
        CheckId::UdevRules,
        vec![Finding::with(
            Status::Warning,
            Fact::UdevRulesMissing { looked_in: env.udev_dirs.clone() },
            Remedy::InstallUdevRules,
        )],
    )
}

fn autosuspend(env: &Env, found: &[Found]) -> Check {
    let findings = found
        .iter()
        .filter_map(|f| {
            let control = fs::read_to_string(env.roots.sysfs.join(&f.usb_path).join("power/control")).ok()?;
            let usb_path = f.usb_path.clone();
            // Autosuspend matters while flashing; in normal mode it is only worth knowing.
            let flashing = f.mode.is_flashing();
            Some(match control.trim() {
                "auto" => Finding::with(
                    if flashing { Status::Warning } else { Status::Info },
                    Fact::AutosuspendEnabled { usb_path: usb_path.clone() },
                    Remedy::DisableAutosuspend { usb_path },
                ),
                _ => Finding::new(Status::Ok, Fact::AutosuspendDisabled { usb_path }),
            })
        })
        .collect();
    Check::new(CheckId::Autosuspend, findings)
}

/// Every Linux check.
pub fn linux(env: &Env) -> Report {
    let found = sysfs::scan(&env.roots).unwrap_or_default();
    Report {
        platform: "linux",
        checks: vec![
            modules(&found),
            modem_manager(env, &found),
            drivers(&found),
            permissions(env, &found),
            udev_rules(env),
            autosuspend(env, &found),
        ],
    }
}

#[cfg_attr(target_os = "linux", allow(dead_code))]
fn not_available(id: CheckId, platform: &'static str) -> Check {
    Check::new(id, vec![Finding::new(Status::Skipped, Fact::NotAvailable { platform })])
}

/// Windows: the bound driver per catalogue device (WinUSB is what raw USB needs); the
/// Linux checks do not apply. Compiled and never run by the project's tests.
#[cfg(target_os = "windows")]
pub fn windows() -> Report {
    let mut checks = Vec::new();
    #[cfg(feature = "usb")]
    {
        use nusb::MaybeFuture as _;
        let mut findings = Vec::new();
        if let Ok(list) = nusb::list_devices().wait() {
            for info in list {
                let Some(row) = crate::catalog::lookup(info.vendor_id(), info.product_id(), None) else {
                    continue;
                };
                let driver = info.driver().map(str::to_owned);
                let winusb = driver.as_deref().is_some_and(|d| d.eq_ignore_ascii_case("winusb"));
                // The 9615's DLOAD is served by qcserial's tty, not raw USB.
                let raw_needed = matches!(row.mode, Mode::QdLoader | Mode::Fastboot);
                let fact = Fact::WindowsDriver {
                    usb_path: crate::discovery::usb::usb_path(&info),
                    vid: info.vendor_id(),
                    pid: info.product_id(),
                    driver,
                };
                findings.push(if winusb || !raw_needed {
                    Finding::new(Status::Ok, fact)
                } else {
                    Finding::with(
                        Status::Warning,
                        fact,
                        Remedy::BindWinUsb { vid: info.vendor_id(), pid: info.product_id() },
                    )
                });
            }
        }
        checks.push(Check::new(CheckId::WindowsDriver, findings));
    }
    for id in [
        CheckId::ModemManager,
        CheckId::Drivers,
        CheckId::Permissions,
        CheckId::UdevRules,
        CheckId::Autosuspend,
    ] {
        checks.push(not_available(id, "windows"));
    }
    Report { platform: "windows", checks }
}

/// Platforms with no checks yet (macOS: IOKit needs no udev or groups).
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub fn other(platform: &'static str) -> Report {
    let checks = [
        CheckId::ModemManager,
        CheckId::Drivers,
        CheckId::Permissions,
        CheckId::UdevRules,
        CheckId::Autosuspend,
        CheckId::WindowsDriver,
    ]
    .into_iter()
    .map(|id| not_available(id, platform))
    .collect();
    Report { platform, checks }
}
