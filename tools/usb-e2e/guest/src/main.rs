//! Runs inside the QEMU guest against the simulated 05c6:9008 (a loopback device) on a real
//! Linux USB stack (vhci-hcd, qcserial). Prints `CHECK name: ok|FAIL ...` lines and
//! `E2E PASS` or `E2E FAIL`.

use std::time::{Duration, Instant};

use modemflash::catalog::InterfaceRole;
use modemflash::discovery::sysfs::{self, Roots};
use modemflash::discovery::usbbus::{UsbBus, port_endpoint};
use modemflash::discovery::{ModuleBus, Port, usb};
use modemflash::transport::Transport;

fn read_back(t: &mut dyn Transport, want: usize, within: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut zlps = 0u64;
    while got.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("only {} of {want} bytes came back ({zlps} empty reads)", got.len()));
        }
        match t.recv(&mut buf, left.min(Duration::from_secs(1))) {
            Ok(0) => zlps += 1, // the usbip crate completes idle IN URBs empty
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(modemflash::transport::TransportError::Timeout(_)) => {}
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
    Ok(got)
}

fn check(name: &str, r: Result<String, String>, failed: &mut bool) {
    match r {
        Ok(note) => println!("CHECK {name}: ok {note}"),
        Err(e) => {
            println!("CHECK {name}: FAIL {e}");
            *failed = true;
        }
    }
}

fn main() {
    let mut failed = false;
    let roots = Roots::default();

    // 1. sysfs discovery sees the module, its driver and its tty.
    check(
        "sysfs",
        (|| {
            let found = sysfs::scan(&roots).map_err(|e| e.to_string())?;
            let f = found.iter().find(|f| f.pid == 0x9008).ok_or(format!("no 05c6:9008 in {found:?}"))?;
            let p = f.port(InterfaceRole::QdLoader).ok_or("no QDLoader port")?;
            if p.driver.as_deref() != Some("qcserial") {
                return Err(format!("driver {:?}, expected qcserial", p.driver));
            }
            let tty = p.tty.clone().ok_or("no tty")?;
            if !tty.exists() {
                return Err(format!("{} does not exist", tty.display()));
            }
            Ok(format!("usb:{} {} driver {:?} tty {}", f.usb_path, f.family, p.driver, tty.display()))
        })(),
        &mut failed,
    );

    // 2. nusb lists the same device under the same path.
    check(
        "nusb-list",
        (|| {
            let l = usb::list().map_err(|e| e.to_string())?;
            let d = l.iter().find(|d| d.pid == 0x9008).ok_or("not listed")?;
            Ok(format!("usb:{} interfaces {}", d.path, d.interfaces.len()))
        })(),
        &mut failed,
    );

    // 3. UsbBus: the tty path first (qcserial bound), as the executor would for DM.
    let mut bus = UsbBus::new(None).unwrap_or_else(|e| panic!("{e}"));
    check(
        "usbbus-tty",
        (|| {
            let _ = bus.detect().map_err(|e| e.to_string())?;
            let f = bus.current().ok_or("no module tracked")?.clone();
            let ep = port_endpoint(&f, Port::Dm);
            let mut t = bus.open(Port::Dm).map_err(|e| e.to_string())?;
            let msg = b"\x7e\x06\x4e\x95\x7e tty loopback";
            t.send(msg).map_err(|e| e.to_string())?;
            let back = read_back(t.as_mut(), msg.len(), Duration::from_secs(10))?;
            if back != msg {
                return Err(format!("got {back:02x?}"));
            }
            Ok(format!("through {ep}"))
        })(),
        &mut failed,
    );

    // 4. Raw USB: qcserial is detached, the interface claimed, bulk data loops back.
    check(
        "raw-open-detach",
        (|| {
            let mut t = bus.open(Port::Edl).map_err(|e| e.to_string())?;
            let info = t.info().clone();
            let drv = std::fs::read_link("/sys/bus/usb/devices/1-1:1.0/driver")
                .map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
                .unwrap_or_else(|_| "(none)".into());
            if drv == "qcserial" {
                return Err("qcserial still bound".into());
            }
            // Odd size: no ZLP.
            let a: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
            t.send(&a).map_err(|e| e.to_string())?;
            if read_back(t.as_mut(), a.len(), Duration::from_secs(10))? != a {
                return Err("1000-byte loopback differs".into());
            }
            // Whole packets: a ZLP follows (the harness checks `OUT 1024` then `OUT 0`).
            let b = vec![0x5a; 1024];
            t.send(&b).map_err(|e| e.to_string())?;
            if read_back(t.as_mut(), b.len(), Duration::from_secs(10))? != b {
                return Err("1024-byte loopback differs".into());
            }
            // 2 MiB + 512: two 1 MiB transfers in flight, a short tail, then a ZLP.
            let c: Vec<u8> = (0..(2 * 1024 * 1024 + 512) as u32).map(|i| (i % 251) as u8).collect();
            let t0 = Instant::now();
            t.send(&c).map_err(|e| e.to_string())?;
            let back = read_back(t.as_mut(), c.len(), Duration::from_secs(60))?;
            if back != c {
                return Err("2 MiB loopback differs".into());
            }
            Ok(format!(
                "{} mps {:?} zlp {}, driver now {drv}, 2 MiB round trip {:.1}s",
                info.endpoint,
                info.max_packet_size,
                info.zlp,
                t0.elapsed().as_secs_f64()
            ))
        })(),
        &mut failed,
    );
    println!("{}", if failed { "E2E FAIL" } else { "E2E PASS" });
}
