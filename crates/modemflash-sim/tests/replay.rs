//! Record an update against the in-process virtual module, then replay it with no module:
//! the replay must pass, and a package whose image changed must be caught as a divergence
//! on the right endpoint at the right byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use modemflash::discovery::ModuleBus;
use modemflash::exec::{self, Collect, ExecOptions, Journal};
use modemflash::module::DeviceMode;
use modemflash::package::{self, Package};
use modemflash::plan::{self, PlanOptions};
use modemflash::record::{Divergence, Recorder, RecordingBus, ReplayBus, StepNotes};
use modemflash_sim::builder::{self, FirehoseSpec, LegacySpec};
use modemflash_sim::{Model, Module, ModuleConfig, SimBus, VirtualClock};
use serde_json::Value;

const USRFS: &str = "9615-cdp-usr-image.usrfs.yaffs2";
/// Where the test changes the usrfs image: past every header.
const CHANGED_AT: usize = 5000;

fn opts() -> ExecOptions {
    ExecOptions { mode_timeout: Duration::from_secs(120), ..ExecOptions::default() }
}

/// Identify, plan and run on `bus`, noting steps in `rec` when recording.
fn update(
    pkg: &Package,
    bus: &mut dyn ModuleBus,
    rec: Option<Arc<Recorder>>,
) -> Result<exec::Outcome, String> {
    let state = exec::identify(bus).map_err(|e| e.to_string())?.ok_or("no module")?;
    let plan = plan::build(pkg, &state, &PlanOptions::default(), None).map_err(|e| e.to_string())?;
    let mut collect = Collect::default();
    let mut journal = Journal::in_memory();
    match rec {
        Some(recorder) => {
            let mut notes = StepNotes { inner: &mut collect, recorder };
            exec::run(&plan, pkg, bus, &mut journal, &mut notes, &opts())
        }
        None => exec::run(&plan, pkg, bus, &mut journal, &mut collect, &opts()),
    }
    .map_err(|e| e.to_string())
}

/// Record one update of a fresh module of `model` with the package at `root`.
fn record(model: Model, root: &Path, file: &Path, whole: bool) -> exec::Outcome {
    let pkg = package::open(root).unwrap();
    assert!(pkg.is_valid(), "{:#?}", pkg.report.findings);
    let m = Module::start(ModuleConfig::new(model), Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(10)).unwrap();
    let rec = Recorder::create(file, "update (test)", whole).unwrap();
    let mut bus = RecordingBus::new(Box::new(SimBus::new(m.clone())), Arc::clone(&rec));
    let out = update(&pkg, &mut bus, Some(Arc::clone(&rec))).unwrap();
    drop(bus);
    assert_eq!(rec.error(), None);
    out
}

fn replay(root: &Path, file: &Path) -> (Result<exec::Outcome, String>, Option<Divergence>) {
    let pkg = package::open(root).unwrap();
    let (bus, header) = ReplayBus::open(file).unwrap();
    assert_eq!(header.version, modemflash::record::VERSION);
    let mut run = bus.clone();
    let r = update(&pkg, &mut run, None);
    drop(run);
    (r, bus.finish())
}

fn lines(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn flip(path: &Path, at: usize) {
    let mut data = std::fs::read(path).unwrap();
    data[at] ^= 0x5a;
    std::fs::write(path, data).unwrap();
}

/// Every byte the tool sent on endpoint `ep`, in order (a recording with whole data).
fn sent_stream(recording: &[Value], ep: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for v in recording.iter().filter(|v| v["ev"] == "out" && v["ep"] == ep) {
        if let Some(a) = v["ascii"].as_str() {
            out.extend_from_slice(a.as_bytes());
        } else {
            out.extend(modemflash::record::unhex(v["hex"].as_str().unwrap()).unwrap());
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn legacy_package(dir: &Path) -> PathBuf {
    let root = dir.join("EC20AQAR02A04E2G");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    root
}

#[test]
fn a_legacy_update_recorded_against_the_virtual_module_replays_green() {
    let tmp = tempfile::tempdir().unwrap();
    let root = legacy_package(tmp.path());
    let file = tmp.path().join("rec.jsonl");
    let recorded = record(Model::Ec20R1, &root, &file, false);
    let rec = lines(&file);
    assert_eq!(rec[0]["format"], "modemflash-recording");
    assert_eq!(rec[0]["large_payload"], 4096);
    // Every kind of event of a legacy update is there: opens with their links, data both
    // ways, mode changes, and large data phases only as a hash.
    for ev in ["detect", "wait_for", "open", "out", "in", "step", "close"] {
        assert!(rec.iter().any(|v| v["ev"] == ev), "no {ev} event");
    }
    assert!(
        rec.iter().any(|v| v["ev"] == "out" && v["sha256"].is_string() && v["len"].as_u64() > Some(4096))
    );
    assert!(rec.iter().all(|v| v["ev"] != "out" || v["len"].as_u64() <= Some(4096) || v["hex"].is_null()));
    let (replayed, divergence) = replay(&root, &file);
    assert_eq!(divergence, None);
    let replayed = replayed.unwrap();
    assert_eq!(replayed.revision_after, recorded.revision_after);
    assert_eq!(replayed.steps_run, recorded.steps_run);
}

#[test]
fn a_changed_image_is_caught_on_its_endpoint_at_its_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let root = legacy_package(tmp.path());
    let original = std::fs::read(root.join(USRFS)).unwrap();
    let hashed = tmp.path().join("hashed.jsonl");
    let whole = tmp.path().join("whole.jsonl");
    record(Model::Ec20R1, &root, &hashed, false);
    // A second, identical module for the recording with whole data.
    record(Model::Ec20R1, &root, &whole, true);
    flip(&root.join(USRFS), CHANGED_AT);

    // Where the image went: the endpoint whose sent stream holds the usrfs bytes.
    let rec = lines(&whole);
    let (ep, start) = rec
        .iter()
        .filter(|v| v["ev"] == "open" && v["ep"].is_u64())
        .find_map(|v| {
            let ep = v["ep"].as_u64().unwrap();
            find(&sent_stream(&rec, ep), &original[CHANGED_AT - 64..CHANGED_AT]).map(|at| (ep, at + 64))
        })
        .expect("the usrfs image is in the recording");
    let endpoint = rec.iter().find(|v| v["ev"] == "open" && v["ep"] == ep).unwrap()["endpoint"].clone();

    let (r, d) = replay(&root, &whole);
    let d = d.expect("a divergence");
    assert!(r.is_err(), "the replay stopped");
    assert_eq!(d.ep, Some(ep), "{d}");
    assert_eq!(Value::String(d.endpoint.clone()), endpoint, "{d}");
    assert_eq!(d.offset, Some(start as u64), "{d}");
    assert_eq!(d.expected[..2], format!("{:02x}", original[CHANGED_AT]), "{d}");
    assert_eq!(d.got[..2], format!("{:02x}", original[CHANGED_AT] ^ 0x5a), "{d}");
    // usrfs is the legacy package's userdata image.
    assert_eq!(d.step.as_deref(), Some("fastboot:flash:userdata"), "{d}");

    // With only hashes, the divergence names the data phase that holds the byte.
    let (r, d) = replay(&root, &hashed);
    let d = d.expect("a divergence");
    assert!(r.is_err());
    assert_eq!(d.ep, Some(ep), "{d}");
    let (o, n) = (d.offset.unwrap(), d.span.unwrap());
    assert!(o <= start as u64 && (start as u64) < o + n, "{d} (byte {start})");
    assert!(d.expected.starts_with("sha256 "), "{d}");
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()? {
        let p = e.ok()?.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

#[test]
fn a_firehose_update_replays_green_and_a_changed_image_diverges() {
    let tmp = tempfile::tempdir().unwrap();
    // No md5.txt: the changed image must get past the package check to reach the wire.
    let spec = FirehoseSpec { revision: "EC25EFAR06A11M4G".into(), md5: false, ..FirehoseSpec::default() };
    let root = tmp.path().join(&spec.revision);
    builder::write_firehose(&root, &spec).unwrap();
    let file = tmp.path().join("rec.jsonl");
    let recorded = record(Model::Ec25, &root, &file, true);
    let rec = lines(&file);
    // Sahara and Firehose went over the EDL interface, a USB-like link.
    assert!(rec.iter().any(|v| v["ev"] == "open" && v["port"] == "edl"), "no EDL open");
    let (replayed, d) = replay(&root, &file);
    assert_eq!(d, None);
    assert_eq!(replayed.unwrap().revision_after, recorded.revision_after);

    let image = find_file(&root, "usrdata.ubi").unwrap();
    let original = std::fs::read(&image).unwrap();
    flip(&image, CHANGED_AT);
    let (ep, start) = rec
        .iter()
        .filter(|v| v["ev"] == "open" && v["ep"].is_u64())
        .find_map(|v| {
            let ep = v["ep"].as_u64().unwrap();
            find(&sent_stream(&rec, ep), &original[CHANGED_AT - 64..CHANGED_AT]).map(|at| (ep, at + 64))
        })
        .expect("the usrdata image is in the recording");
    let (r, d) = replay(&root, &file);
    let d = d.expect("a divergence");
    assert!(r.is_err());
    assert_eq!(d.ep, Some(ep), "{d}");
    assert_eq!(d.offset, Some(start as u64), "{d}");
    assert!(d.step.as_deref().is_some_and(|s| s.contains("usrdata")), "{d}");
}
