#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! An EC25 in EDL driven by the library's host clients: Sahara loads the programmer
//! built by the package builder, then Firehose flashes the package.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use modemflash::module::{DeviceMode, Port};
use modemflash::package::{self, EraseLine, FirehoseLayout, ProgramEntry, Sector, XmlOp};
use modemflash::protocol::firehose::{
    ConfigureOptions, EraseSpec, FirehoseClient, FirehoseError, ProgramSpec,
};
use modemflash::protocol::sahara::{DoneStatus, SaharaClient};
use modemflash::transport::memory::MemoryTransport;
use modemflash_sim::builder::{self, FirehoseSpec};
use modemflash_sim::{Fault, Model, Module, ModuleConfig, VirtualClock};
use sha2::{Digest, Sha256};

const PROGRAMMER: &str = "update/firehose/prog_nand_firehose_9x07.mbn";
const WAIT: Duration = Duration::from_secs(30);

fn package() -> (tempfile::TempDir, FirehoseLayout) {
    let dir = tempfile::tempdir().unwrap();
    builder::write_firehose(dir.path(), &FirehoseSpec::default()).unwrap();
    let pkg = package::open(dir.path()).unwrap();
    assert!(pkg.is_valid(), "{:?}", pkg.report);
    (dir, pkg.firehose.unwrap())
}

fn edl_module(faults: Vec<Fault>) -> Module {
    let config = ModuleConfig { start_mode: DeviceMode::Edl, faults, ..ModuleConfig::new(Model::Ec25) };
    let m = Module::start(config, Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[DeviceMode::Edl], WAIT).unwrap();
    m
}

/// Sahara-load the programmer and wait out its start-up logs.
fn firehose(m: &Module, dir: &Path) -> (FirehoseClient<MemoryTransport>, Vec<String>) {
    let mut sahara = SaharaClient::new(m.bus().open(Port::Edl).unwrap());
    let report =
        sahara.upload_image(File::open(dir.join(PROGRAMMER)).unwrap(), Some(13), &mut |_, _| {}).unwrap();
    assert_eq!(report.done, DoneStatus::Complete);
    let mut fh = FirehoseClient::new(sahara.into_inner());
    let logs = fh.drain_logs(Duration::from_secs(3), Duration::from_millis(300)).unwrap();
    (fh, logs)
}

fn extra(attrs: &[(String, String)], names: &[&str]) -> Vec<(String, String)> {
    attrs.iter().filter(|(k, _)| names.contains(&k.as_str())).cloned().collect()
}

fn erase_spec(e: &EraseLine) -> EraseSpec {
    EraseSpec {
        sector_size: e.sector_size,
        num_partition_sectors: e.num_partition_sectors,
        start_sector: e.start_sector.to_string(),
        physical_partition_number: None,
        extra: extra(&e.extra, &["PAGES_PER_BLOCK"]),
    }
}

/// The package's `<program>` lines, SBL (start sector 0) last, as QFirehose orders them.
fn programs(layout: &FirehoseLayout) -> Vec<ProgramEntry> {
    let mut v: Vec<_> = layout
        .ops
        .iter()
        .filter_map(|op| if let XmlOp::Program(p) = op { Some(p.clone()) } else { None })
        .collect();
    v.sort_by_key(|p| p.start_sector == Sector::At(0));
    v
}

fn program(
    fh: &mut FirehoseClient<MemoryTransport>,
    dir: &Path,
    p: &ProgramEntry,
) -> Result<(), FirehoseError> {
    let spec = ProgramSpec {
        sector_size: p.sector_size,
        start_sector: p.start_sector.to_string(),
        physical_partition_number: 0,
        label: p.label.clone(),
        filename: p.filename.clone(),
        extra: extra(&p.extra, &["PAGES_PER_BLOCK"]),
    };
    let mut f = File::open(dir.join(&p.file)).unwrap();
    fh.program(&spec, &mut f, p.file_size, &mut |_, _| {}).map(|_| ())
}

fn padded_sha256(path: &Path, sector: usize) -> String {
    let mut data = Vec::new();
    File::open(path).unwrap().read_to_end(&mut data).unwrap();
    data.resize(data.len().div_ceil(sector) * sector, 0);
    Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn sahara_identity_then_programmer_upload() {
    let (dir, _) = package();
    let m = edl_module(vec![]);
    let mut sahara = SaharaClient::new(m.bus().open(Port::Edl).unwrap());
    let id = sahara.read_identity().unwrap();
    assert_eq!(id.sahara_version, 2);
    assert_eq!(id.hw_id.as_u64(), 0x0004_80E1_0000_0000);
    assert_eq!(id.serial, m.with_core(|c| c.config.identity.chip_serial));
    assert_eq!(id.pk_hash_hex(), "cc3153a80293939b90d02d3bf8b23e0292e452fef662c74998421adad42a380f");
    // SWITCH_MODE(0) brought a fresh HELLO: the upload follows on the same link.
    let mut progress = (0, 0);
    let report = sahara
        .upload_image(File::open(dir.path().join(PROGRAMMER)).unwrap(), Some(13), &mut |d, t| {
            progress = (d, t);
        })
        .unwrap();
    assert_eq!(report.done, DoneStatus::Complete);
    assert_eq!(report.image_id, Some(13));
    assert_eq!(report.target.unwrap().version, 2);
    // ELF header, the three program headers, the hash segment (0x88 bytes at 0x1000), then
    // the PT_LOAD segment (from 0x2000 to the end) in 4 KiB reads.
    let load = FirehoseSpec::default().programmer_size - 0x2000;
    assert_eq!(report.reads, 3 + load.div_ceil(4096));
    assert_eq!(report.bytes_served, 52 + 96 + 0x88 + load);
    assert_eq!(progress.0, progress.1);
}

#[test]
fn wrong_chip_id_fault_changes_the_hw_id() {
    let m = edl_module(vec![Fault::parse("wrong-chip-id").unwrap()]);
    let mut sahara = SaharaClient::new(m.bus().open(Port::Edl).unwrap());
    assert_ne!(sahara.read_identity().unwrap().hw_id.as_u64(), 0x0004_80E1_0000_0000);
}

#[test]
fn firehose_flashes_the_package_and_the_module_boots_it() {
    let (dir, layout) = package();
    let m = edl_module(vec![]);
    let (mut fh, logs) = firehose(&m, dir.path());
    assert_eq!(logs[0], "Binary build date: Apr 21 2021 @ 15:42:43\n");
    assert!(logs[1].starts_with("Chip serial num: "));
    assert_eq!(
        logs[2],
        "Supported Functions: program configure power benchmark read getstorageinfo erase nop "
    );

    let negotiated = fh
        .configure(&ConfigureOptions { max_payload_to_target: 1 << 20, ..ConfigureOptions::default() })
        .unwrap();
    assert_eq!(negotiated.attempts, 2, "1 MiB is NAKed, 8192 then ACKed");
    assert_eq!(negotiated.max_payload_to_target, 8192);
    assert_eq!(negotiated.target_name.as_deref(), Some("9x07"));
    assert_eq!(fh.max_payload(), 8192);

    // Erase SBL first (QFirehose order), then program everything, SBL last.
    let sbl_erase = layout
        .ops
        .iter()
        .find_map(|op| match op {
            XmlOp::Erase(e) if e.start_sector == Sector::At(0) => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    fh.erase(&erase_spec(&sbl_erase)).unwrap();
    assert!(m.with_core(|c| c.nand.get("sbl").unwrap().content.is_erased()));
    let programs = programs(&layout);
    assert_eq!(programs.last().unwrap().label, "sbl");
    for p in &programs {
        program(&mut fh, dir.path(), p).unwrap();
        let finished = format!("Finished sector address {}", p.start_sector);
        assert_eq!(fh.last_log(), [finished]);
    }
    let info = fh.getstorageinfo(0).unwrap();
    let s = modemflash::protocol::firehose::storage::parse_storage_info(&info.log).unwrap();
    assert_eq!((s.page_size, s.pages_per_block(), s.total_blocks), (4096, Some(64), 2048));

    let power = fh.power_reset(Some(10)).unwrap();
    assert_eq!(power.log[0], "Inside handlePower() - Requested POWER_RESET");
    assert_eq!(power.rawmode, None);

    m.bus().wait_for(&[DeviceMode::Normal], WAIT).unwrap();
    assert_eq!(m.revision(), FirehoseSpec::default().revision);
    let boot = programs.iter().find(|p| p.label == "boot").unwrap();
    let want = padded_sha256(&dir.path().join(&boot.file), 4096);
    assert_eq!(m.with_core(|c| c.nand.sha256("boot")).unwrap(), want);
}

#[test]
fn geometry_error_naks_with_the_real_log() {
    let (dir, _) = package();
    let m = edl_module(vec![]);
    let (mut fh, _) = firehose(&m, dir.path());
    fh.configure(&ConfigureOptions::default()).unwrap();
    let spec = EraseSpec {
        sector_size: 2048,
        num_partition_sectors: 576,
        start_sector: "13952".into(),
        physical_partition_number: None,
        extra: vec![("PAGES_PER_BLOCK".into(), "64".into())],
    };
    match fh.erase(&spec) {
        Err(FirehoseError::Nak { device_log, .. }) => assert_eq!(
            device_log,
            ["Attribute 'SECTOR_SIZE_IN_BYTES'=2048 must be equal to disk sector size 4096"]
        ),
        other => panic!("expected a NAK, got {other:?}"),
    }
    // The programmer keeps going.
    fh.nop().unwrap();
}

#[test]
fn power_loss_while_programming_aboot_leaves_the_module_in_edl() {
    let (dir, layout) = package();
    let m = edl_module(vec![Fault::parse("power-loss@step=firehose:program:aboot").unwrap()]);
    let (mut fh, _) = firehose(&m, dir.path());
    fh.configure(&ConfigureOptions::default()).unwrap();
    let before = m.bus().current().generation;
    let mut failed = None;
    for p in programs(&layout) {
        if let Err(e) = program(&mut fh, dir.path(), &p) {
            failed = Some((p.label.clone(), e));
            break;
        }
    }
    let (label, _) = failed.expect("the aboot program must fail");
    assert_eq!(label, "aboot");
    m.bus().wait_for(&[DeviceMode::Edl], WAIT).unwrap();
    assert!(m.bus().current().generation > before, "the module re-enumerated");
    m.with_core(|c| {
        let aboot = &c.nand.get("aboot").unwrap().content;
        assert!(!aboot.complete && aboot.len > 0, "aboot left partial: {aboot:?}");
    });
    // The boot ROM speaks Sahara again.
    let mut sahara = SaharaClient::new(m.bus().open(Port::Edl).unwrap());
    assert_eq!(sahara.read_identity().unwrap().hw_id.as_u64(), 0x0004_80E1_0000_0000);
}
