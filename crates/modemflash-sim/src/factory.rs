//! The NAND a module leaves the factory with, and the NAND that matches each
//! `--start-mode` (issue 4): normal = a complete image set at the configured revision;
//! dload/streaming/edl = the boot loader erased; fastboot = the field user's stuck state,
//! a temporary APPSBL and no valid boot image.

// Indexing below is into fixed-size header buffers built here, never into input.
#![allow(clippy::indexing_slicing)]

use modemflash::package::ptable;

use crate::boot::{Model, TEMP_APPSBL_MARKER};
use crate::builder::{self, FirehoseSpec, LegacySpec, version_blob};
use crate::core::ModuleConfig;
use crate::nand::{Nand, PartitionWriter, canonical};
use modemflash::module::DeviceMode;

/// Bytes of synthetic body behind each header (contents only need to hash).
const BODY: usize = 8192;

fn image(name: &str, header: &[u8], body: usize) -> crate::nand::Content {
    let mut w = PartitionWriter::new(name);
    w.write(0, header);
    let filler: Vec<u8> =
        (0..body).map(|i| (i as u8).wrapping_mul(31).wrapping_add(name.len() as u8)).collect();
    w.write(header.len() as u64, &filler);
    w.finish(true)
}

fn mbn(image_id: u32, body: usize, extra: &[u8]) -> Vec<u8> {
    let code = (body + extra.len()) as u32;
    let mut h = Vec::new();
    for v in [image_id, 3, 0, 0x4000_0000, code, code, 0x4000_0000 + code, 0, 0x4000_0000 + code, 0] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(extra);
    h
}

fn boot_image() -> (Vec<u8>, usize) {
    let mut h = vec![0u8; 2048];
    h[..8].copy_from_slice(b"ANDROID!");
    h[8..12].copy_from_slice(&4096u32.to_le_bytes());
    h[16..20].copy_from_slice(&2048u32.to_le_bytes());
    h[36..40].copy_from_slice(&2048u32.to_le_bytes());
    let cmd = "console=ttyHSL0,115200";
    for (d, s) in h.iter_mut().skip(64).zip(cmd.bytes()) {
        *d = s;
    }
    (h, 2048 * 3)
}

/// Capacities (KiB) of the EC20 R1's factory partitions, by partition-table name.
///
/// [I] inferred: the field user's module's own table is not in the evidence; these hold
/// the images of his package with headroom (docs/facts/field-evidence.md: rootfs yaffs2
/// 10.4 MB, usrfs 28.9 MB, recovery yaffs2 10.1 MB, boot 6.3 MB, dsp2 35.5 MB). A name
/// missing here keeps the size the synthetic package's table gives it.
pub const EC20R1_CAPACITY_KIB: &[(&str, u32)] = &[
    ("0:SBL1", 1280),
    ("0:SBL2", 1280),
    ("0:RPM", 1280),
    ("0:APPSBL", 1280),
    ("0:DSP1", 4 * 1024),
    ("0:DSP2", 40 * 1024),
    ("0:DSP3", 8 * 1024),
    ("0:BOOT", 8 * 1024),
    ("0:RECOVERY", 8 * 1024),
    ("0:RECOVERYFS", 12 * 1024),
    ("0:SYSTEM", 40 * 1024),
];

/// The NAND for `config`.
pub fn nand(config: &ModuleConfig) -> Nand {
    let mut nand = Nand::default();
    let model = config.model;
    match model {
        Model::Ec20R1 => {
            // The factory table is the builder's, read with the library's parser and units
            // (the same reading the streaming programmer applies to a PARTITION_TABLE), each
            // partition at least as large as a field package needs (EC20R1_CAPACITY_KIB).
            let table = builder::partition_table(&LegacySpec::default());
            if let Ok(parsed) = ptable::parse_with(&table, &config.ptable_units) {
                let parts: Vec<(String, Option<u64>)> = parsed
                    .entries
                    .iter()
                    .map(|e| {
                        let field = EC20R1_CAPACITY_KIB
                            .iter()
                            .find(|(name, _)| *name == e.name)
                            .map_or(0, |(_, k)| u64::from(*k) * 1024);
                        (canonical(&e.name), e.length_bytes.map(|b| b.max(field)))
                    })
                    .collect();
                nand.define(&parts);
            }
        }
        Model::Ec25 => {
            let spec = FirehoseSpec::default();
            let sector = u64::from(spec.sector_size);
            for (label, start, num) in builder::partition_layout(&spec) {
                nand.set_start_sector(&label, start);
                nand.define(&[(canonical(&label), Some(num * sector))]);
            }
        }
    }
    for (name, id) in model.boot_chain() {
        nand.store(name, image(name, &mbn(*id, BODY, &[]), BODY));
    }
    let (boot, boot_body) = boot_image();
    nand.store("boot", image("boot", &boot, boot_body));
    for name in model.rootfs() {
        nand.store(name, image(name, b"rootfs", BODY));
    }
    // The modem image carries the firmware's revision string, as the builder's does.
    let chipset = match model {
        Model::Ec20R1 => modemflash::catalog::Chipset::Mdm9615,
        Model::Ec25 => modemflash::catalog::Chipset::Mdm9x07,
    };
    if let Some(modem) = modemflash::package::revision::modem_partition(chipset) {
        nand.store(modem, image(modem, &version_blob(&config.revision), BODY));
    }
    match config.start_mode {
        DeviceMode::Normal => {}
        DeviceMode::Dload | DeviceMode::Streaming | DeviceMode::Edl => nand.erase(model.appsbl()),
        DeviceMode::Fastboot => {
            let appsbl = model.appsbl();
            nand.store(appsbl, image(appsbl, &mbn(5, BODY, TEMP_APPSBL_MARKER), BODY));
            nand.erase("boot");
        }
    }
    nand
}
