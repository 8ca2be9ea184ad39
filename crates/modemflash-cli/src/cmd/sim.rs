//! `modemflash sim`: run a virtual module for outside programs (QFlash-like tools, AOSP
//! fastboot, minicom, `modemflash` itself): DM/AT/EDL on ptys, fastboot on TCP, on the
//! real clock, until Ctrl-C or SIGTERM. Every endpoint change and everything the module
//! does is printed; with `--json` one JSON object per line (docs/sim-events.md).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use clap::Args;
use modemflash::module::DeviceMode;
use modemflash_sim::core::qfastboot_default;
use modemflash_sim::usbip::UsbIpServer;
use modemflash_sim::{Fault, IdentityOverrides, Model, Module, ModuleConfig, RealClock, Serving, SimEvent};

use crate::exit;

/// How often the event loop looks at the stop flag.
const TICK: Duration = Duration::from_millis(100);

const AFTER_HELP: &str = "\
Examples:
  # The field user's stuck EC20 R1 (temporary aboot, no boot image), in fastboot on TCP:
  modemflash sim --model ec20-r1 --start-mode fastboot
  fastboot -s tcp:127.0.0.1:5554 getvar product

  # An EC25 in normal mode with stable port names, as JSON lines for a script:
  modemflash sim --model ec25 --tty-dir /tmp/ec25 --json
  minicom -D /tmp/ec25/at

  # An EC20 R1 in DLOAD that refuses the 3rd command, NAND kept across runs:
  modemflash sim --model ec20-r1 --start-mode dload --fault nak@cmd=3 --state ec20.json

Ports: DM, AT and EDL are ptys (with --tty-dir, DIR/dm and DIR/at are symlinks that vanish
while the module is off the bus and come back when it re-enumerates; in EDL the QDLoader tty
takes the name DIR/dm, as the 9008 tty takes ttyUSB0 on Linux). Fastboot
is AOSP fastboot over TCP (FB01 handshake, u64 big-endian length frames) on --fastboot-tcp;
port 0 picks a free port, reported in the endpoints event.

Faults (--fault, repeatable): disconnect@bytes=N, disconnect@step=NAME, corrupt@frame=N,
nak@cmd=N, nak@step=NAME, stall@step=NAME, stall@cmd=N, power-loss@step=NAME,
power-loss@bytes=N, slow-reenum=SECS, wrong-chip-id, wrong-model, fragile-rom (EC25 EDL:
one stray byte before HELLO_RESP hangs the boot ROM until a power cycle), wipe-nv (the first
erase or write of an update loses the NV items, IMEI included). Step names look like
diag:dload, dmss:go, streaming:write:0:APPSBL, fastboot:flash:boot, firehose:program:sbl.

--json prints one object per line: {\"event\":\"endpoints\",\"mode\":…,\"endpoints\":[{\"role\":\"dm\",
\"tty\":\"/dev/pts/N\"},{\"role\":\"fastboot\",\"tcp\":\"127.0.0.1:PORT\"}]},
{\"event\":\"partition_written\",\"name\":…,\"size\":N,\"sha256\":…} and the other events of
docs/sim-events.md.";

/// Run a virtual EC20 R1 or EC25 that outside programs can talk to.
///
/// The module starts in the chosen mode with a NAND to match, serves its ports on ptys and
/// fastboot on TCP, reboots and re-enumerates as the protocols ask, and runs until Ctrl-C
/// or SIGTERM.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct SimArgs {
    /// Module to simulate.
    #[arg(long, value_parser = ["ec20-r1", "ec25"])]
    pub model: String,
    /// Firmware revision it starts with (default: EC20AQAR02A03E2G or EC25EFAR06A08M4G).
    #[arg(long, value_name = "R")]
    pub revision: Option<String>,
    /// Mode at power-on; the NAND is set up to match (fastboot = stuck with a temporary aboot).
    #[arg(long, value_name = "MODE", default_value = "normal",
          value_parser = ["normal", "dload", "streaming", "fastboot", "edl"])]
    pub start_mode: String,
    /// Directory for stable symlinks to the ptys (dm, at, edl); created if missing.
    #[arg(long, value_name = "DIR")]
    pub tty_dir: Option<PathBuf>,
    /// Address fastboot listens on while the module is in fastboot.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5554")]
    pub fastboot_tcp: SocketAddr,
    /// Fault switch (repeatable), e.g. nak@step=fastboot:flash:boot.
    #[arg(long, value_name = "SPEC", value_parser = parse_fault)]
    pub fault: Vec<Fault>,
    /// Seconds off the bus after a reset (default 2).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub reenum_delay: Option<Duration>,
    /// The firmware lacks AT+QFASTBOOT (default: by revision; builds before R02A05 lack it).
    #[arg(long, conflicts_with = "qfastboot")]
    pub no_qfastboot: bool,
    /// The firmware knows AT+QFASTBOOT.
    #[arg(long)]
    pub qfastboot: bool,
    /// Keep the NAND in FILE across runs (when FILE exists, the start mode follows from it).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Serve the module as a USB device over USB/IP on ADDR instead of ptys and TCP: a Linux
    /// host attaches it with `usbip --tcp-port PORT attach -r HOST -b 1-1`, and re-attaches
    /// after each re-enumeration.
    #[arg(long, value_name = "ADDR", conflicts_with = "tty_dir")]
    pub usbip: Option<SocketAddr>,
    /// One JSON object per line on stdout (docs/sim-events.md).
    #[arg(long)]
    pub json: bool,
    /// The module's IMEI (`AT+GSN`): 14 to 17 digits. Default: random, then kept in --state.
    #[arg(long, value_name = "DIGITS", value_parser = parse_imei)]
    pub imei: Option<String>,
    /// The chip serial (Sahara serial number read, Firehose `Chip serial num`), decimal or
    /// 0x-hex. Default: random, then kept in --state.
    #[arg(long, value_name = "N", value_parser = parse_u32)]
    pub chip_serial: Option<u32>,
    /// Fastboot `serialno` and the fastboot USB serial string. Default: random on the
    /// EC25; the EC20 R1's LK reports MDM9615, as real ones do.
    #[arg(long, value_name = "TEXT")]
    pub fastboot_serial: Option<String>,
    /// Device timing (EC25 Firehose): NAND program rate in MB/s (10^6 bytes); a `<program>`
    /// is acknowledged only once the NAND has caught up. Default: instant.
    #[arg(long, value_name = "MBPS", value_parser = parse_mbps)]
    pub nand_mbps: Option<f64>,
    /// Device timing (EC25 Firehose): USB rate of `<program>` data in MB/s. Default: as fast
    /// as the host sends.
    #[arg(long, value_name = "MBPS", value_parser = parse_mbps)]
    pub link_mbps: Option<f64>,
    /// NAND size in MiB for the EC25 geometry (4 KiB pages, 64 per erase block); default
    /// 512, the EC25-E part.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..=8192))]
    pub nand_size: Option<u32>,
}

fn parse_mbps(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("expected MB/s, got {s:?}"))?;
    if !(0.001..=100_000.0).contains(&v) {
        return Err("expected 0.001 to 100000 MB/s".into());
    }
    Ok(v)
}

/// Bytes per second for `mbps` MB/s (MB = 10^6 bytes).
fn rate(mbps: f64) -> u64 {
    // In range by `parse_mbps`: at most 10^11.
    (mbps * 1e6).round() as u64
}

fn parse_imei(s: &str) -> Result<String, String> {
    if (14..=17).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(format!("expected 14 to 17 digits, got {s:?}"))
    }
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("expected a 32-bit number (decimal or 0x-hex), got {s:?}"))
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    Fault::parse(s)
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|_| format!("expected seconds, got {s:?}"))?;
    if !(0.0..=3600.0).contains(&v) {
        return Err("expected 0 to 3600 seconds".into());
    }
    Ok(Duration::from_secs_f64(v))
}

fn config(args: &SimArgs) -> ModuleConfig {
    // clap only lets the listed names through.
    let model = Model::parse(&args.model).unwrap_or(Model::Ec25);
    let mut c = ModuleConfig::new(model);
    if let Some(r) = &args.revision {
        c.revision.clone_from(r);
        c.qfastboot = qfastboot_default(r);
    }
    if args.qfastboot {
        c.qfastboot = true;
    }
    if args.no_qfastboot {
        c.qfastboot = false;
    }
    c.start_mode = DeviceMode::parse(&args.start_mode).unwrap_or(DeviceMode::Normal);
    if let Some(d) = args.reenum_delay {
        c.reenum_delay = d;
    }
    c.faults.clone_from(&args.fault);
    c.state_file.clone_from(&args.state);
    c.identity_overrides = IdentityOverrides {
        imei: args.imei.clone(),
        chip_serial: args.chip_serial,
        fastboot_serial: args.fastboot_serial.clone(),
    };
    c.edl.nand_rate = args.nand_mbps.map(rate);
    c.edl.link_rate = args.link_mbps.map(rate);
    if let Some(mib) = args.nand_size {
        let block = u64::from(c.edl.page_size) * u64::from(c.edl.pages_per_block);
        let blocks = (u64::from(mib) << 20) / block.max(1);
        c.edl.total_blocks = u32::try_from(blocks.max(1)).unwrap_or(u32::MAX);
    }
    c
}

pub fn run(args: &SimArgs) -> u8 {
    if let Some(dir) = &args.tty_dir
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        error!("cannot create the tty directory {}: {e}", dir.display());
        return exit::FAILED;
    }
    // Fail early when the fastboot address is unusable, rather than at the first reboot
    // into fastboot.
    let usbip = match args.usbip.map(std::net::TcpListener::bind) {
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            error!(
                "cannot listen on {} for USB/IP: {e}",
                args.usbip.map(|a| a.to_string()).unwrap_or_default()
            );
            return exit::FAILED;
        }
        None => None,
    };
    if usbip.is_none()
        && let Err(e) = std::net::TcpListener::bind(args.fastboot_tcp)
    {
        error!("cannot listen on {} for fastboot: {e}", args.fastboot_tcp);
        return exit::FAILED;
    }
    let stop = signals::install();
    // Over USB/IP every endpoint is reached through the module's own bus, in-process.
    let serving = if usbip.is_some() {
        Serving::InProcess
    } else {
        Serving::external(args.tty_dir.clone(), args.fastboot_tcp)
    };
    let module = Module::start_serving(config(args), Arc::new(RealClock::default()), serving);
    let server = match usbip.map(|l| UsbIpServer::start(module.clone(), l)) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            error!("cannot start the USB/IP server: {e}");
            return exit::FAILED;
        }
        None => None,
    };
    let events = module.subscribe_from_start();
    let t0 = Instant::now();
    let mut out = std::io::stdout().lock();
    // A closed stdout ends the output, not the module: a host may be in the middle of an
    // update. The module runs on until a signal stops it.
    let mut closed = false;
    while !stop.load(Ordering::SeqCst) {
        match events.recv_timeout(TICK) {
            Ok(e) => {
                if !closed && print(&mut out, &e, args.json, t0).is_err() {
                    closed = true;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    if let Some(s) = &server {
        s.stop();
    }
    module.shutdown();
    if !closed {
        for e in events.try_iter() {
            let _ = print(&mut out, &e, args.json, t0);
        }
    }
    exit::OK
}

fn print(out: &mut impl Write, e: &SimEvent, json: bool, t0: Instant) -> std::io::Result<()> {
    if json {
        let line = serde_json::to_string(e).map_err(std::io::Error::other)?;
        writeln!(out, "{line}")?;
        return out.flush();
    }
    let t = t0.elapsed().as_secs_f64();
    match e {
        SimEvent::Endpoints { mode, usb_id, endpoints, .. } => {
            writeln!(out, "[{t:8.3}] on the bus as {} ({usb_id}):", mode.key())?;
            for ep in endpoints {
                let place = match (&ep.tty, &ep.tcp) {
                    (Some(tty), _) => tty.clone(),
                    (_, Some(tcp)) => format!("tcp {tcp}   (fastboot -s tcp:{tcp} getvar product)"),
                    _ => "in-process (USB/IP when --usbip is given)".into(),
                };
                writeln!(out, "           {:<9} {place}", ep.role.key())?;
            }
        }
        SimEvent::Detached { reason } => writeln!(out, "[{t:8.3}] off the bus: {reason}")?,
        SimEvent::PartitionWritten { name, size, sha256 } => {
            writeln!(out, "[{t:8.3}] wrote {name}: {size} bytes, sha256 {sha256}")?;
        }
        SimEvent::Booted { revision } => writeln!(out, "[{t:8.3}] firmware {revision} running")?,
        SimEvent::Fault { kind, step } => writeln!(out, "[{t:8.3}] fault {kind} at {step}")?,
        SimEvent::Log { text } => writeln!(out, "[{t:8.3}]   {text}")?,
    }
    out.flush()
}

#[cfg(unix)]
mod signals {
    //! Ctrl-C and SIGTERM: blocked in every thread (the mask is inherited, so this runs
    //! before the module starts its threads) and taken by one waiting thread.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use nix::sys::signal::{SigSet, Signal};

    pub fn install() -> Arc<AtomicBool> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        if set.thread_block().is_ok() {
            let flag = Arc::clone(&stop);
            std::thread::spawn(move || {
                if set.wait().is_ok() {
                    flag.store(true, Ordering::SeqCst);
                }
            });
        }
        stop
    }
}

#[cfg(not(unix))]
mod signals {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// Without Unix signals Ctrl-C ends the process directly.
    pub fn install() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: super::SimArgs,
    }

    fn config(args: &[&str]) -> modemflash_sim::ModuleConfig {
        let cli = Cli::try_parse_from(["sim", "--model", "ec25"].iter().chain(args)).unwrap();
        super::config(&cli.sim)
    }

    #[test]
    fn device_timing_and_nand_size_from_the_command_line() {
        let c = config(&["--nand-mbps", "10", "--link-mbps", "40", "--nand-size", "256"]);
        assert_eq!(c.edl.nand_rate, Some(10_000_000));
        assert_eq!(c.edl.link_rate, Some(40_000_000));
        // 256 MiB of 256 KiB blocks (4 KiB pages, 64 a block).
        assert_eq!(c.edl.total_blocks, 1024);
        let d = config(&[]);
        assert_eq!((d.edl.nand_rate, d.edl.link_rate, d.edl.total_blocks), (None, None, 2048));
        assert!(Cli::try_parse_from(["sim", "--model", "ec25", "--nand-mbps", "0"]).is_err());
        assert!(Cli::try_parse_from(["sim", "--model", "ec25", "--nand-size", "0"]).is_err());
    }
}
