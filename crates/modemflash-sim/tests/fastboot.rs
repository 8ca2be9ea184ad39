//! The virtual module's fastboot (LK aboot) driven in-process by the library's
//! `FastbootClient`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use modemflash::module::{DeviceMode, Port};
use modemflash::protocol::fastboot::sparse::{CHUNK_DONT_CARE, CHUNK_RAW, ChunkHeader, SparseHeader};
use modemflash::protocol::fastboot::{FastbootClient, FastbootError, FastbootOptions};
use modemflash::transport::memory::MemoryTransport;
use modemflash_sim::builder::{self, LegacySpec};
use modemflash_sim::{Fault, Model, Module, ModuleConfig, SimEvent, VirtualClock};
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(30);

fn hex(d: &[u8]) -> String {
    Sha256::digest(d).iter().map(|b| format!("{b:02x}")).collect()
}

fn config(model: Model) -> ModuleConfig {
    let mut c = ModuleConfig::new(model);
    c.start_mode = DeviceMode::Fastboot;
    c
}

fn start(c: ModuleConfig) -> Module {
    Module::start(c, Arc::new(VirtualClock::default()))
}

fn client(m: &Module, opts: FastbootOptions) -> FastbootClient<MemoryTransport> {
    m.bus().wait_for(&[DeviceMode::Fastboot], WAIT).unwrap();
    FastbootClient::new(m.bus().open(Port::Fastboot).unwrap(), opts)
}

/// Wait for the module to come back in fastboot after enumeration `old` (taken before the
/// command that reboots it), then connect.
fn reconnect(m: &Module, fb: FastbootClient<MemoryTransport>, old: u64) -> FastbootClient<MemoryTransport> {
    let opts = fb.options().clone();
    drop(fb);
    m.bus()
        .wait_until(
            "fastboot, re-enumerated",
            |e| e.generation > old && e.mode == Some(DeviceMode::Fastboot),
            WAIT,
        )
        .expect("module never came back in fastboot");
    FastbootClient::new(m.bus().open(Port::Fastboot).unwrap(), opts)
}

fn generation(m: &Module) -> u64 {
    m.bus().current().generation
}

fn flash_bytes(
    fb: &mut FastbootClient<MemoryTransport>,
    part: &str,
    data: &[u8],
) -> Result<(), FastbootError> {
    fb.download(&mut Cursor::new(data), data.len() as u64, &mut |_, _| {})?;
    fb.flash(part).map(drop)
}

fn fail_message(r: Result<impl std::fmt::Debug, FastbootError>) -> String {
    match r {
        Err(FastbootError::Fail { message, .. }) => message,
        other => panic!("expected FAIL, got {other:?}"),
    }
}

#[test]
fn getvar_answers_for_both_models() {
    for (model, product) in [(Model::Ec20R1, "MDM9615"), (Model::Ec25, "MDM9607")] {
        let m = start(config(model));
        let mut fb = client(&m, FastbootOptions::default());
        assert_eq!(fb.getvar("product").unwrap(), product);
        // The EC20 R1's LK reports MDM9615 as its serial (field log); the EC25's its own.
        let serial =
            m.with_core(|c| c.config.identity.fastboot_serial.clone()).unwrap_or_else(|| product.into());
        assert_eq!(fb.getvar("serialno").unwrap(), serial);
        assert_eq!(model == Model::Ec20R1, serial == "MDM9615");
        assert_eq!(fb.getvar("version").unwrap(), "0.5");
        assert_eq!(fb.getvar("max-download-size").unwrap(), "0x08000000");
        assert_eq!(fb.max_download_size().unwrap(), Some(0x0800_0000));
        assert!(!fb.getvar("version-bootloader").unwrap().is_empty());
        let size = fb.getvar("partition-size:boot").unwrap();
        assert!(size.starts_with("0x") && u64::from_str_radix(&size[2..], 16).unwrap() > 0, "{size}");
        assert_eq!(fb.getvar("partition-type:boot").unwrap(), "raw");
        assert_eq!(fail_message(fb.getvar("version-device")), "variable not found");
        assert_eq!(fail_message(fb.getvar("partition-size:nosuch")), "variable not found");
        assert_eq!(fail_message(fb.oem("device-info")), "unknown command");
    }
}

/// QFlash's fastboot stage (`docs/facts/quectel.md`) on the stuck EC20 R1: aboot, dsp2 (the
/// modem image, which carries the revision), boot and system from a legacy package, then
/// reboot into the package's firmware.
#[test]
fn qflash_fastboot_stage_boots_the_new_firmware() {
    let tmp = tempfile::tempdir().unwrap();
    let spec =
        LegacySpec { kernel_size: 64 * 1024, rootfs_size: 2112 * 64, extras: false, ..Default::default() };
    builder::write_legacy(tmp.path(), &spec).unwrap();
    let m = start(config(Model::Ec20R1));
    let events = m.subscribe();
    let mut fb = client(&m, FastbootOptions::default());
    let mut want = Vec::new();
    for (part, file) in [
        ("aboot", "appsboot.mbn"),
        ("dsp2", "dsp2.mbn"),
        ("boot", "boot-oe-msm9615.img"),
        ("system", "msm-9615-cdp-image-9615-cdp.rootfs.yaffs2"),
    ] {
        let data = std::fs::read(tmp.path().join(file)).unwrap();
        flash_bytes(&mut fb, part, &data).unwrap();
        want.push((if part == "aboot" { "appsbl" } else { part }, hex(&data), data.len() as u64));
    }
    for (part, sha, _) in &want {
        assert_eq!(m.with_core(|c| c.nand.sha256(part)).as_deref(), Some(sha.as_str()), "{part}");
    }
    fb.reboot().unwrap();
    let e = m.bus().wait_for(&[DeviceMode::Normal], WAIT).unwrap();
    assert_eq!(e.mode, Some(DeviceMode::Normal));
    assert_eq!(m.revision(), "EC20AQAR02A04E2G");
    let written: Vec<(String, String, u64)> = events
        .try_iter()
        .filter_map(|e| match e {
            SimEvent::PartitionWritten { name, sha256, size } => Some((name, sha256, size)),
            _ => None,
        })
        .collect();
    let want: Vec<(String, String, u64)> = want.into_iter().map(|(p, s, n)| (p.to_owned(), s, n)).collect();
    assert_eq!(written, want);
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(seed).wrapping_add((i >> 12) as u8)).collect()
}

#[test]
fn split_raw_image_accumulates_into_one_partition() {
    let mut c = config(Model::Ec25);
    c.fastboot.max_download_size = 64 * 1024;
    let m = start(c);
    let mut fb = client(&m, FastbootOptions::default());
    let image = pattern(300 * 1024, 7);
    let pieces =
        fb.flash_image("system", &mut Cursor::new(&image), image.len() as u64, &mut |_, _| {}).unwrap();
    assert!(pieces >= 5, "{pieces} pieces");
    let content = m.with_core(|c| c.nand.get("system").unwrap().content.clone());
    assert_eq!(content.len, image.len() as u64);
    assert_eq!(content.sha256.unwrap(), hex(&image));
    assert!(content.complete);
}

#[test]
fn sparse_image_is_expanded() {
    let m = start(config(Model::Ec25));
    let mut fb = client(&m, FastbootOptions::default());
    let raw = pattern(8192, 3);
    let mut img = SparseHeader::new(4096, 4, 2).encode().to_vec();
    img.extend_from_slice(
        &ChunkHeader { chunk_type: CHUNK_RAW, reserved: 0, chunk_sz: 2, total_sz: 12 + 8192 }.encode(),
    );
    img.extend_from_slice(&raw);
    img.extend_from_slice(
        &ChunkHeader { chunk_type: CHUNK_DONT_CARE, reserved: 0, chunk_sz: 2, total_sz: 12 }.encode(),
    );
    flash_bytes(&mut fb, "system", &img).unwrap();
    let mut expanded = raw.clone();
    expanded.resize(16384, 0);
    assert_eq!(m.with_core(|c| c.nand.sha256("system")).unwrap(), hex(&expanded));
    // A truncated sparse image is refused and leaves the partition alone.
    img.truncate(img.len() - 100);
    assert_eq!(fail_message(flash_bytes(&mut fb, "system", &img)), "invalid sparse image");
    assert_eq!(m.with_core(|c| c.nand.sha256("system")).unwrap(), hex(&expanded));
}

#[test]
fn refusals_unknown_partition_no_data_too_large() {
    let mut c = config(Model::Ec20R1);
    c.fastboot.max_download_size = 4096;
    let m = start(c);
    let mut fb = client(&m, FastbootOptions::default());
    assert_eq!(fail_message(fb.flash("boot")), "no image downloaded");
    let big = vec![1u8; 8192];
    assert_eq!(fail_message(fb.download(&mut Cursor::new(&big), 8192, &mut |_, _| {})), "data too large");
    assert_eq!(fail_message(flash_bytes(&mut fb, "nosuch", &big[..100])), "unknown partition name");
    assert_eq!(fail_message(fb.erase("nosuch")), "unknown partition name");
    // The buffer survives a failed flash and can go to a real partition.
    fb.flash("dsp1").unwrap();
    assert_eq!(m.with_core(|c| c.nand.sha256("dsp1")).unwrap(), hex(&big[..100]));
    fb.erase("dsp1").unwrap();
    assert!(m.with_core(|c| c.nand.get("dsp1").unwrap().content.is_erased()));
    // Bigger than the partition.
    let mut c = config(Model::Ec20R1);
    c.fastboot.max_download_size = 4 << 20;
    let m = start(c);
    let mut fb = client(&m, FastbootOptions::default());
    let cap = m.with_core(|c| c.nand.get("sbl1").unwrap().capacity.unwrap());
    let huge = vec![0u8; cap as usize + 1];
    assert_eq!(fail_message(flash_bytes(&mut fb, "sbl1", &huge)), "image too large for partition");
}

#[test]
fn picky_bootloader_wants_small_spaced_blocks() {
    let mut c = config(Model::Ec25);
    c.fastboot.max_block = Some(16 * 1024);
    c.fastboot.min_gap = Duration::from_millis(30);
    let m = start(c);
    let data = pattern(48 * 1024, 5);
    let opts = FastbootOptions { block_size: 32 * 1024, ..FastbootOptions::default() };
    let mut fb = client(&m, opts);
    assert_eq!(fail_message(flash_bytes(&mut fb, "boot", &data)), "block too large");
    // The rest of the refused download was swallowed: the next command is understood.
    assert_eq!(fb.getvar("product").unwrap(), "MDM9607");
    let mut fb = FastbootClient::new(
        fb.into_inner(),
        FastbootOptions { block_size: 16 * 1024, ..FastbootOptions::default() },
    );
    assert_eq!(fail_message(flash_bytes(&mut fb, "boot", &data)), "data arrived too fast");
    let mut fb = FastbootClient::new(
        fb.into_inner(),
        FastbootOptions {
            block_size: 16 * 1024,
            pacing: Duration::from_millis(60),
            ..FastbootOptions::default()
        },
    );
    flash_bytes(&mut fb, "boot", &data).unwrap();
    assert_eq!(m.with_core(|c| c.nand.sha256("boot")).unwrap(), hex(&data));
}

#[test]
fn faults_nak_and_power_loss_during_flash() {
    let mut c = config(Model::Ec25);
    c.faults = vec![
        Fault::parse("nak@step=fastboot:getvar:product").unwrap(),
        Fault::parse("power-loss@step=fastboot:flash:boot").unwrap(),
    ];
    let m = start(c);
    let mut fb = client(&m, FastbootOptions::default());
    assert_eq!(fail_message(fb.getvar("product")), "command failed");
    assert_eq!(fb.getvar("product").unwrap(), "MDM9607");
    let data = pattern(20000, 9);
    let g = generation(&m);
    assert!(flash_bytes(&mut fb, "boot", &data).is_err());
    let boot = m.with_core(|c| c.nand.get("boot").unwrap().content.clone());
    assert!(!boot.complete);
    assert_eq!(boot.len, 10000);
    assert!(m.history().iter().any(|e| matches!(e, SimEvent::Detached { .. })));
    // The temporary aboot still stops in fastboot.
    let mut fb = reconnect(&m, fb, g);
    assert_eq!(fb.getvar("product").unwrap(), "MDM9607");
}

#[test]
fn reboot_bootloader_comes_back_and_forgets_the_download() {
    let m = start(config(Model::Ec20R1));
    let mut fb = client(&m, FastbootOptions::default());
    fb.download(&mut Cursor::new(b"data"), 4, &mut |_, _| {}).unwrap();
    let g = generation(&m);
    fb.reboot_bootloader().unwrap();
    let mut fb = reconnect(&m, fb, g);
    assert_eq!(fail_message(fb.flash("dsp2")), "no image downloaded");
    let g = generation(&m);
    fb.continue_boot().unwrap();
    // Temporary aboot and no boot image: fastboot again.
    let mut fb = reconnect(&m, fb, g);
    assert_eq!(fb.getvar("product").unwrap(), "MDM9615");
}
