//! Legacy MDM9615 package (the file list of `mission.md`, QFlash layout of
//! `quectel-flows.md` §2.2).

use std::io;
use std::path::Path;

use modemflash::package::{ihex, ptable};

use super::write::{Prng, boot_header, boot_len, mbn_header, seed_of, write_file, write_text, yaffs2_header};
use super::{Built, version_blob, version_offset, write_file_with};

/// What to put in a legacy package. Sizes are in bytes.
#[derive(Debug, Clone)]
pub struct LegacySpec {
    /// Revision the package installs (its version record is written into `dsp2.mbn`).
    pub revision: String,
    pub programmer_size: usize,
    /// GO / load address of the programmers (0x41700000 in the field log [L]).
    pub programmer_address: u32,
    pub boot_chain_size: u32,
    pub dsp_size: u32,
    pub kernel_size: u32,
    pub rootfs_size: u64,
    pub usrfs_size: u64,
    pub recoveryfs_size: u64,
    /// Also write `sbl2_tmp.mbn`/`appsboot_tmp.mbn` (normally shipped with the tool).
    pub temp_loaders: bool,
    /// Write the files the flow does not use (`.qcn`, `yaffs_head.*`, PDF).
    pub extras: bool,
    pub seed: u64,
}

impl Default for LegacySpec {
    fn default() -> Self {
        LegacySpec {
            revision: "EC20AQAR02A04E2G".into(),
            programmer_size: 64 * 1024,
            programmer_address: 0x4170_0000,
            boot_chain_size: 96 * 1024,
            dsp_size: 256 * 1024,
            kernel_size: 512 * 1024,
            rootfs_size: 2112 * 512,
            usrfs_size: 2112 * 128,
            recoveryfs_size: 2112 * 256,
            temp_loaders: false,
            extras: true,
            seed: 1,
        }
    }
}

impl LegacySpec {
    /// A spec whose images add up to roughly `total` bytes (most of it rootfs).
    pub fn with_total_size(total: u64) -> Self {
        let base = LegacySpec::default();
        let rootfs = total.saturating_sub(2 << 20).max(2112 * 16);
        LegacySpec { rootfs_size: rootfs / 2112 * 2112, ..base }
    }
}

/// Version of the tables the builder writes: 3, as in the PARTITION_TABLE frame a real
/// EC20 R1 accepted (docs/facts/field-evidence.md).
pub const TABLE_VERSION: u32 = 3;

/// Partition table entries (name, size in blocks, padding in blocks, attributes) for a 9615
/// NAND, in the unit and shape of the field table: 16 entries, the first `0:MIBIB` with
/// 6 blocks and 4 blocks of padding [C for those bytes]. The other names come from the
/// streaming and fastboot targets of the 9615 flows; their order, sizes, paddings and
/// attributes, and the two extra entries (`0:FOTA`, `0:MISC`), are assumptions chosen to
/// hold the images [I].
pub fn partition_entries(spec: &LegacySpec) -> Vec<(String, u32, u16, [u8; 4])> {
    let block = ptable::NandGeometry::MDM9615.block_bytes();
    // Whole blocks for the image plus one spare block.
    let blocks = |b: u64| u32::try_from(b.div_ceil(block)).unwrap_or(u32::MAX - 1).saturating_add(1);
    let chain = blocks(u64::from(spec.boot_chain_size) + 40);
    let dsp = blocks(u64::from(spec.dsp_size) + 40);
    let boot = blocks(boot_len(spec.kernel_size, spec.kernel_size / 2));
    let attrs = [0xff, 0x01, 0x00, 0xff];
    let row = |n: &str, size: u32, pad: u16| (n.to_owned(), size, pad, attrs);
    vec![
        ("0:MIBIB".into(), 6, 4, [0xff; 4]),
        row("0:SBL1", chain, 1),
        row("0:SBL2", chain, 1),
        row("0:RPM", chain, 1),
        ("0:EFS2".into(), 88, 4, [0x01, 0x01, 0x00, 0xff]),
        row("0:DSP1", dsp, 1),
        row("0:APPSBL", chain, 1),
        row("0:DSP2", dsp, 1),
        row("0:DSP3", dsp, 1),
        row("0:BOOT", boot, 1),
        row("0:FOTA", 4, 1),
        row("0:RECOVERY", boot, 1),
        row("0:RECOVERYFS", blocks(spec.recoveryfs_size), 2),
        row("0:MISC", 2, 1),
        row("0:SYSTEM", blocks(spec.rootfs_size), 4),
        row("0:USERDATA", ptable::GROW, 0),
    ]
}

/// The encoded partition table the builder writes as `partition.mbn`.
pub fn partition_table(spec: &LegacySpec) -> Vec<u8> {
    let entries = partition_entries(spec);
    let refs: Vec<(&str, u32, u16, [u8; 4])> =
        entries.iter().map(|(n, s, p, a)| (n.as_str(), *s, *p, *a)).collect();
    ptable::encode(TABLE_VERSION, &refs)
}

/// Write a legacy package into `dir` (created if needed).
pub fn write(dir: &Path, spec: &LegacySpec) -> io::Result<Built> {
    let mut files = Vec::new();
    let mut put = |name: &str, size: u64| files.push((name.to_owned(), size));
    // Programmers: Intel HEX at the GO address, with a start-linear record.
    for name in ["NPRG9x15.hex", "ENPRG9x15.hex"] {
        let mut code = vec![0u8; spec.programmer_size];
        Prng::new(seed_of(name, spec.seed)).fill(&mut code);
        let text = ihex::write(spec.programmer_address, &code, Some(spec.programmer_address));
        put(name, write_text(&dir.join(name), &text)?);
    }
    let table = partition_table(spec);
    for name in ["partition.mbn", "partition2.mbn"] {
        put(name, write_text_bytes(&dir.join(name), &table)?);
    }
    // Boot chain: image ids and load addresses per quectel-flows.md §2.6 where known [C],
    // otherwise plausible [I].
    let chain: &[(&str, u32, u32, u32)] = &[
        ("sbl1.mbn", 21, 0x4000_0000, spec.boot_chain_size),
        ("sbl2.mbn", 22, 0x4010_0000, spec.boot_chain_size),
        ("rpm.mbn", 23, 0x0002_0000, spec.boot_chain_size),
        ("appsboot.mbn", 5, 0x4170_0000, spec.boot_chain_size),
        ("dsp1.mbn", 0x1f, 0x4180_0000, spec.dsp_size),
        ("dsp2.mbn", 0x20, 0x4280_0000, spec.dsp_size),
        ("dsp3.mbn", 0x21, 0x4380_0000, spec.dsp_size),
    ];
    let mut chain = chain.to_vec();
    if spec.temp_loaders {
        chain.push(("sbl2_tmp.mbn", 22, 0x4010_0000, spec.boot_chain_size / 2));
        chain.push(("appsboot_tmp.mbn", 5, 0x4170_0000, spec.boot_chain_size / 2));
    }
    for (name, id, load, code) in chain {
        let size = 40 + u64::from(code);
        let mut header = mbn_header(id, load, code);
        if name == "appsboot_tmp.mbn" {
            // Quectel's temporary aboot carries this string (quectel-flows.md §2.6) [C].
            header.extend_from_slice(crate::boot::TEMP_APPSBL_MARKER);
        }
        let version = version_blob(&spec.revision);
        // The modem firmware (dsp2) carries the revision string, like a real package [I].
        let insert = (name == "dsp2.mbn").then(|| (version_offset(size, header.len()), version.as_slice()));
        put(name, write_file_with(&dir.join(name), &header, size, seed_of(name, spec.seed), insert)?);
    }
    let cmdline = "console=ttyHSL0,115200";
    let ramdisk = spec.kernel_size / 2;
    for (name, label) in [("boot-oe-msm9615.img", "boot"), ("recovery-boot-oe-msm9615.img", "recovery")] {
        let header = boot_header(spec.kernel_size, ramdisk, label, cmdline);
        put(
            name,
            write_file(
                &dir.join(name),
                &header,
                boot_len(spec.kernel_size, ramdisk),
                seed_of(name, spec.seed),
            )?,
        );
    }
    for (name, size) in [
        ("msm-9615-cdp-image-9615-cdp.rootfs.yaffs2", spec.rootfs_size),
        ("9615-cdp-usr-image.usrfs.yaffs2", spec.usrfs_size),
        ("9615-cdp-recovery-image-9615-cdp.yaffs2", spec.recoveryfs_size),
    ] {
        let size = (size / 2112).max(1) * 2112;
        put(name, write_file(&dir.join(name), &yaffs2_header(), size, seed_of(name, spec.seed))?);
    }
    if spec.extras {
        put(
            "EC20_A20150923.qcn",
            write_file(&dir.join("EC20_A20150923.qcn"), b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 16 * 1024, 7)?,
        );
        put("yaffs_head.aa", write_file(&dir.join("yaffs_head.aa"), &[], 4096, 8)?);
        put("yaffs_head.ab", write_file(&dir.join("yaffs_head.ab"), &[], 4096, 9)?);
        put(
            "Quectel_EC20_Release_Note.pdf",
            write_text(
                &dir.join("Quectel_EC20_Release_Note.pdf"),
                "%PDF-1.4\n% synthetic release note\n%%EOF\n",
            )?,
        );
    }
    Ok(Built { root: dir.to_owned(), files })
}

fn write_text_bytes(path: &Path, data: &[u8]) -> io::Result<u64> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(path, data)?;
    Ok(data.len() as u64)
}
