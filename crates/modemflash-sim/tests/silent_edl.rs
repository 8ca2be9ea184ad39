//! A DM tty last heard in EDL that goes silent (a programmer an interrupted run left in the
//! data phase of a `<program>`, docs/facts/firehose.md "A host that dies in the data phase")
//! still counts as EDL for `PortsBus`: the step that needs EDL then names the state, instead
//! of a 90 s wait for a mode the module is already in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::sync::Arc;
use std::time::Duration;

use modemflash::discovery::ports::PortsBus;
use modemflash::discovery::{ModuleBus, Port};
use modemflash::exec::{self, ExecOptions, Journal, Quiet};
use modemflash::package;
use modemflash::plan::{self, DeviceMode, PlanOptions};
use modemflash_sim::builder::{self, FirehoseSpec};
use modemflash_sim::{Fault, Model, Module, ModuleConfig, RealClock, Serving};

mod common;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_tty_heard_in_edl_that_went_silent_is_still_edl() {
    let dir = tempfile::tempdir().unwrap();
    let tty = dir.path().join("tty");
    std::fs::create_dir_all(&tty).unwrap();
    let spec = FirehoseSpec::default();
    let root = dir.path().join(&spec.revision);
    builder::write_firehose(&root, &spec).unwrap();
    let pkg = package::open(&root).unwrap();
    let mut c = ModuleConfig::new(Model::Ec25);
    c.start_mode = DeviceMode::Edl;
    // The update stops at a refused program and leaves the programmer running.
    c.faults = vec![Fault::parse("nak@step=firehose:program:modem").unwrap()];
    let serving = Serving::external(Some(tty.clone()), "127.0.0.1:0".parse().unwrap());
    let m = Module::start_serving(c, Arc::new(RealClock::default()), serving);
    m.bus().wait_for(&[DeviceMode::Edl], WAIT).unwrap();
    let t0 = std::time::Instant::now();
    while !tty.join("dm").exists() {
        assert!(t0.elapsed() < WAIT, "no DIR/dm");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut bus = PortsBus::new(Some(tty.join("dm")), None, None).unwrap();
    let state = exec::identify(&mut bus).unwrap().unwrap();
    assert_eq!(state.mode, DeviceMode::Edl);
    let plan = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    let opts = ExecOptions { mode_timeout: WAIT, ..ExecOptions::default() };
    let e = exec::run(&plan, &pkg, &mut bus, &mut Journal::in_memory(), &mut Quiet, &opts).unwrap_err();
    assert!(e.to_string().contains("NAK"), "{e}");

    // A host dies in the data phase: a <program> of 64 sectors, its ACK, part of the data.
    common::die_in_a_program(bus.open(Port::Edl).unwrap(), 20 * 4096, WAIT);

    // The same bus heard EDL before; now the port is silent, and waiting for EDL ends at
    // once (two silent probes) instead of timing out.
    assert_eq!(bus.detect().unwrap(), None, "the programmer answers nothing");
    let t0 = std::time::Instant::now();
    assert_eq!(bus.wait_for(&[DeviceMode::Edl], WAIT).unwrap(), DeviceMode::Edl);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    // A fresh bus never heard EDL there: silence alone is no mode.
    let mut fresh = PortsBus::new(Some(tty.join("dm")), None, None).unwrap();
    assert_eq!(fresh.detect().unwrap(), None);
    assert!(fresh.wait_for(&[DeviceMode::Edl], Duration::from_secs(3)).is_err());
    m.shutdown();
}
