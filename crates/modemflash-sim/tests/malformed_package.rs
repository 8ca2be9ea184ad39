#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! A malformed rawprogram line is refused when the package opens, before any write: the
//! Firehose values are typed at open (`package::firehose_lines`), so nothing downstream
//! (plan, executor, the module) ever sees the line.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use modemflash::discovery::{BusError, ModuleBus, Port, module_id::ModuleIdentity};
use modemflash::exec;
use modemflash::package::{self, Sector};
use modemflash::plan::{self, DeviceMode, Op, PlanError, PlanOptions};
use modemflash::transport::Transport;
use modemflash_sim::builder::{self, FirehoseSpec};
use modemflash_sim::{Model, Module, ModuleConfig, SimBus, SimEvent, VirtualClock};

/// A bus that counts the ports opened through it.
struct Counting {
    inner: SimBus,
    opens: usize,
}

impl ModuleBus for Counting {
    fn detect(&mut self) -> Result<Option<DeviceMode>, BusError> {
        self.inner.detect()
    }
    fn wait_for(&mut self, modes: &[DeviceMode], timeout: Duration) -> Result<DeviceMode, BusError> {
        self.inner.wait_for(modes, timeout)
    }
    fn open(&mut self, port: Port) -> Result<Box<dyn Transport>, BusError> {
        self.opens += 1;
        self.inner.open(port)
    }
    fn endpoint(&self, port: Port) -> String {
        self.inner.endpoint(port)
    }
    fn location(&self) -> ModuleIdentity {
        self.inner.location()
    }
    fn chip(&self) -> Option<plan::ModuleChip> {
        self.inner.chip()
    }
}

fn rawprogram(root: &Path) -> std::path::PathBuf {
    let dir = root.join("update/firehose");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("rawprogram"))
        .unwrap()
}

#[test]
fn a_non_numeric_start_sector_is_refused_at_open_and_the_module_sees_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("EC25EFAR06A11M4G");
    builder::write_firehose(
        &root,
        &FirehoseSpec { revision: "EC25EFAR06A11M4G".into(), ..FirehoseSpec::default() },
    )
    .unwrap();

    // The intact package opens, and its program steps carry sector numbers.
    let good = package::open(&root).unwrap();
    assert!(good.is_valid(), "{:#?}", good.report.findings);
    let module = plan::ModuleState::new(DeviceMode::Normal, Some("EC25EFAR06A08M4G".into()));
    let p = plan::build(&good, &module, &PlanOptions::default(), None).unwrap();
    let starts: Vec<&Sector> = p
        .steps
        .iter()
        .filter_map(|s| {
            if let Op::FirehoseProgram { program } = &s.op { Some(&program.start_sector) } else { None }
        })
        .collect();
    assert!(!starts.is_empty() && starts.iter().all(|s| matches!(s, Sector::At(_))), "{starts:?}");

    // One `<program>` line's start_sector made non-numeric.
    let raw = rawprogram(&root);
    let text = std::fs::read_to_string(&raw).unwrap();
    let at = text.find("<program ").unwrap();
    let key = text[at..].find("start_sector=\"").unwrap() + at + "start_sector=\"".len();
    let end = text[key..].find('"').unwrap() + key;
    let broken = format!("{}12ab{}", &text[..key], &text[end..]);
    std::fs::write(&raw, broken).unwrap();

    // The virtual module, in normal mode with its old firmware.
    let m = Module::start(
        ModuleConfig { start_mode: DeviceMode::Normal, ..ModuleConfig::new(Model::Ec25) },
        Arc::new(VirtualClock::default()),
    );
    m.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(60)).unwrap();
    let before = m.revision();
    let mut bus = Counting { inner: SimBus::new(m.clone()), opens: 0 };

    // Refused at open: the error names the file and the attribute.
    let pkg = package::open(&root).unwrap();
    assert!(!pkg.is_valid());
    let errors: Vec<String> = pkg
        .report
        .errors()
        .map(|f| format!("{}: {}", f.file.clone().unwrap_or_default(), f.message))
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("rawprogram") && e.contains("start_sector \"12ab\"")),
        "{errors:#?}"
    );
    // Nothing of the package reached the bus: the caller stops here (as the CLI does).
    assert_eq!(bus.opens, 0);

    // A caller that went on anyway gets no plan; identifying the module only reads it.
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let opened_to_identify = bus.opens;
    assert!(matches!(
        plan::build(&pkg, &state, &PlanOptions::default(), None),
        Err(PlanError::InvalidPackage(_))
    ));
    assert_eq!(bus.opens, opened_to_identify, "planning opened no port");

    // The module saw no write and never left normal mode.
    let history = m.history();
    assert!(!history.iter().any(|e| matches!(e, SimEvent::PartitionWritten { .. })), "{history:#?}");
    assert!(!history.iter().any(|e| matches!(e, SimEvent::Detached { .. })), "{history:#?}");
    assert_eq!(m.revision(), before);
    assert_eq!(bus.detect().unwrap(), Some(DeviceMode::Normal));
}
