//! Benchmark of the MDM9x07 Firehose update (issue 6): a synthetic package of N MiB is
//! flashed in-process into a virtual EC25 whose programmer paces itself on the real clock
//! (USB link and NAND program rates), from normal mode to the verified new revision.
//!
//! ```text
//! cargo run --release -p modemflash-sim --example firehose_e2e -- --mib 256
//! /usr/bin/time -v target/release/examples/firehose_e2e --mib 1024
//! ```
//!
//! Options: `--mib N` (256), `--link-mbps X` (40, MB = 10^6 bytes), `--nand-mbps X` (10),
//! `--dir DIR` (where packages are built and kept for the next run; default the system
//! temporary directory).
//!
//! Printed: wall time of the update vs the device-bound ideal (every program's padded
//! bytes at min(link, NAND) rate, plus the module's fixed delays), CPU of the host thread
//! (the one running `exec::run`) and of the whole process (host + simulator) per MB, and
//! the process's peak RSS. The simulator runs in the same process: its threads and memory
//! are in the process figures; it keeps a hash and the first 4 KiB of each partition.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use modemflash::exec::{self, Event, ExecOptions, Journal, Observer};
use modemflash::module::DeviceMode;
use modemflash::package;
use modemflash::plan::{self, Op, PlanOptions};
use modemflash_sim::builder::{self, FirehoseSpec};
use modemflash_sim::handlers::{common::SWITCH_DELAY, firehose::POWER_RESET_DELAY};
use modemflash_sim::{Model, Module, ModuleConfig, RealClock, SimBus};

const REVISION: &str = "EC25EFAR06A11M4G";
const MB: f64 = 1e6;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Step timings, and the last progress line.
#[derive(Default)]
struct Steps {
    done: Vec<(String, Duration)>,
    started: Option<Instant>,
}

impl Observer for Steps {
    fn event(&mut self, e: &Event) {
        match e {
            Event::StepStarted { .. } => self.started = Some(Instant::now()),
            Event::StepDone { step, .. } => {
                let t = self.started.map_or(Duration::ZERO, |s| s.elapsed());
                self.done.push((step.clone(), t));
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy)]
struct Cpu {
    thread: Duration,
    process: Duration,
}

fn cpu() -> Cpu {
    use nix::sys::resource::{UsageWho, getrusage};
    let t = |who| {
        let u = getrusage(who).unwrap();
        let tv = |v: nix::sys::time::TimeVal| {
            Duration::from_secs(v.tv_sec() as u64) + Duration::from_micros(v.tv_usec() as u64)
        };
        tv(u.user_time()) + tv(u.system_time())
    };
    Cpu { thread: t(UsageWho::RUSAGE_THREAD), process: t(UsageWho::RUSAGE_SELF) }
}

fn peak_rss_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).map_or(0, |u| u.max_rss())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mib: u64 = arg(&args, "--mib", 256);
    let link: f64 = arg(&args, "--link-mbps", 40.0);
    let nand: f64 = arg(&args, "--nand-mbps", 10.0);
    let dir = PathBuf::from(arg(&args, "--dir", std::env::temp_dir().display().to_string()));

    // The package, built once per size and kept.
    let spec = FirehoseSpec { revision: REVISION.into(), ..FirehoseSpec::with_total_size(mib << 20) };
    let root = dir.join(format!("modemflash-bench-{mib}MiB")).join(REVISION);
    let marker = root.join(".complete");
    if !marker.exists() {
        let t = Instant::now();
        let built = builder::write_firehose(&root, &spec).unwrap();
        std::fs::write(&marker, b"").unwrap();
        println!("built {} ({} bytes) in {:.1?}", root.display(), built.total_bytes(), t.elapsed());
    }
    let t = Instant::now();
    let pkg = package::open(&root).unwrap();
    assert!(pkg.is_valid(), "{:#?}", pkg.report.findings);
    let open_time = t.elapsed();

    // A virtual EC25 with device timing on the real clock, and a NAND big enough.
    let mut config = ModuleConfig::new(Model::Ec25);
    let ppb = u64::from(config.edl.pages_per_block);
    let end = builder::partition_layout(&spec).iter().map(|(_, s, n)| s + n).max().unwrap_or(0);
    config.edl.total_blocks = u32::try_from(end.div_ceil(ppb) + 64).unwrap();
    config.edl.link_rate = Some((link * MB) as u64);
    config.edl.nand_rate = Some((nand * MB) as u64);
    let fixed = config.reenum_delay * 2 + SWITCH_DELAY + config.edl.programmer_boot + POWER_RESET_DELAY;
    let m = Module::start(config, Arc::new(RealClock::default()));
    m.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(30)).unwrap();
    let mut bus = SimBus::new(m.clone());

    let cpu0 = cpu();
    let t0 = Instant::now();
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let plan = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    let mut steps = Steps::default();
    let out =
        exec::run(&plan, &pkg, &mut bus, &mut Journal::in_memory(), &mut steps, &ExecOptions::default())
            .unwrap();
    let wall = t0.elapsed();
    let cpu1 = cpu();
    assert_eq!(out.revision_after.as_deref(), Some(REVISION));

    // The device-bound ideal: every program's padded bytes at the slower of link and NAND.
    let mut data = 0u64;
    for s in &plan.steps {
        if let Op::FirehoseProgram { program } = &s.op {
            let sector = u64::from(program.sector_size);
            data += s.bytes.div_ceil(sector) * sector;
        }
    }
    let rate = link.min(nand) * MB;
    let ideal_data = Duration::from_secs_f64(data as f64 / rate);
    let ideal = ideal_data + fixed;
    let mb = data as f64 / MB;
    let host = cpu1.thread.saturating_sub(cpu0.thread);
    let process = cpu1.process.saturating_sub(cpu0.process);

    println!(
        "package        {mib} MiB requested, {mb:.1} MB programmed ({data} bytes), checked in {open_time:.1?}"
    );
    println!("device         link {link} MB/s, NAND {nand} MB/s");
    println!(
        "wall           {:.2} s   ideal {:.2} s = {:.2} s data + {:.2} s fixed delays   ratio {:.3}",
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        ideal_data.as_secs_f64(),
        fixed.as_secs_f64(),
        wall.as_secs_f64() / ideal.as_secs_f64()
    );
    println!(
        "cpu            host thread {:.3} s ({:.2} ms/MB); whole process, host + simulator {:.3} s ({:.2} ms/MB)",
        host.as_secs_f64(),
        host.as_secs_f64() * 1e3 / mb,
        process.as_secs_f64(),
        process.as_secs_f64() * 1e3 / mb
    );
    println!("peak RSS       {:.1} MiB (whole process: host + simulator)", peak_rss_kib() as f64 / 1024.0);
    let mut slow = steps.done.clone();
    slow.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
    println!("slowest steps:");
    for (s, t) in slow.iter().take(6) {
        println!("  {s:<28} {:.2} s", t.as_secs_f64());
    }
}
