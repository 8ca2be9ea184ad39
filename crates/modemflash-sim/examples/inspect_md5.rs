//! Benchmark of `inspect`'s md5 check (issue 10): `package::open` on a synthetic Firehose
//! package of N MiB (which hashes every file `md5.txt` lists, in parallel), against
//! `md5sum` over the same files (one core), on warm caches.
//!
//! ```text
//! cargo build --release -p modemflash-sim --example inspect_md5 &&
//!   target/release/examples/inspect_md5 --mib 400 --rounds 5 --dir /tmp/mfmd5
//! ```
//!
//! Each round runs both once, alternating which goes first; printed per round and as the
//! median: the two wall times and their ratio (goal ≤ 0.6 on a 2-core machine).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::cast_precision_loss)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use modemflash::package;
use modemflash_sim::builder::{self, FirehoseSpec};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = arg(&args, "--mib", 400);
    let rounds: usize = arg(&args, "--rounds", 5);
    let dir: PathBuf = arg(&args, "--dir", std::env::temp_dir().join("modemflash-md5-bench"));
    let root = dir.join(format!("EC25EFAR06A11M4G-{mib}MiB"));
    if !root.join("md5.txt").is_file() {
        println!("building a {mib} MiB package in {}", root.display());
        builder::write_firehose(&root, &FirehoseSpec::with_total_size(mib << 20)).unwrap();
    }
    // The files md5.txt lists, as md5sum arguments.
    let listed: Vec<PathBuf> = std::fs::read_to_string(root.join("md5.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once(":\\").and_then(|(_, r)| r.rsplit_once(':')).map(|(p, _)| p.replace('\\', "/"))
        })
        .map(|p| root.join(p))
        .collect();
    let bytes: u64 = listed.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    println!("{} files, {:.1} MB listed in md5.txt; {} cores", listed.len(), bytes as f64 / 1e6, cores());
    let inspect = || {
        let t = Instant::now();
        let p = package::open(&root).unwrap();
        let s = t.elapsed().as_secs_f64();
        assert!(p.is_valid(), "the benchmark package must be valid");
        s
    };
    let md5sum = || {
        let t = Instant::now();
        let out = Command::new("md5sum").args(&listed).output().expect("md5sum must be installed");
        assert!(out.status.success());
        t.elapsed().as_secs_f64()
    };
    // Warm the page cache.
    md5sum();
    inspect();
    let (mut t_inspect, mut t_md5sum, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds {
        let (ti, tm) = if i % 2 == 0 {
            let ti = inspect();
            (ti, md5sum())
        } else {
            let tm = md5sum();
            (inspect(), tm)
        };
        println!("round {i}: inspect {ti:.3} s, md5sum {tm:.3} s, ratio {:.3}", ti / tm);
        t_inspect.push(ti);
        t_md5sum.push(tm);
        ratios.push(ti / tm);
    }
    // Where the time goes: the hashing alone, on one worker and on all.
    let jobs: Vec<(PathBuf, u64)> =
        listed.iter().map(|p| (p.clone(), std::fs::metadata(p).unwrap().len())).collect();
    for workers in [1, cores()] {
        let (started, cpu0) = (Instant::now(), cpu());
        let digests = package::md5::digest_all_with(&jobs, workers);
        assert!(digests.iter().all(Result::is_ok));
        let (wall, used) = (started.elapsed().as_secs_f64(), cpu() - cpu0);
        println!(
            "hashing alone, {workers} worker(s): wall {wall:.3} s, cpu {used:.3} s ({:.2} cores busy)",
            used / wall
        );
    }
    let t = Instant::now();
    let modem = root.join("update/NON-HLOS.ubi");
    let rev = package::revision::scan(std::fs::File::open(&modem).unwrap(), package::revision::SCAN_LIMIT);
    println!(
        "revision scan of NON-HLOS.ubi: {:.3} s ({:?})",
        t.elapsed().as_secs_f64(),
        rev.ok().flatten().map(|r| r.raw)
    );
    println!(
        "median: inspect {:.3} s, md5sum {:.3} s, ratio {:.3} (goal <= 0.6)",
        median(t_inspect),
        median(t_md5sum),
        median(ratios)
    );
}

/// User + system CPU seconds of this process (its threads).
fn cpu() -> f64 {
    #[cfg(unix)]
    {
        use nix::sys::resource::{UsageWho, getrusage};
        getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
            let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            tv(u.user_time()) + tv(u.system_time())
        })
    }
    #[cfg(not(unix))]
    {
        0.0
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
