#![no_main]
//! `package::open` over a whole package whose files come from the fuzzer: a directory of
//! files with the names real packages use (or others), or one .zip. Nothing may panic.
//!
//! Input: a flag byte (bit 0: the rest is one zip file), then records of
//! `name-selector, length (2 bytes LE), contents`.
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &[
    "NPRG9x15.hex",
    "ENPRG9x15.hex",
    "partition.mbn",
    "partition2.mbn",
    "sbl1.mbn",
    "sbl2.mbn",
    "rpm.mbn",
    "appsboot.mbn",
    "dsp1.mbn",
    "dsp2.mbn",
    "dsp3.mbn",
    "boot-oe-msm9615.img",
    "recovery-boot-oe-msm9615.img",
    "msm-9615-cdp-image-9615-cdp.rootfs.yaffs2",
    "9615-cdp-usr-image.usrfs.yaffs2",
    "9615-cdp-recovery-image-9615-cdp.yaffs2",
    "md5.txt",
    "contents.xml",
    "update/firehose/prog_nand_firehose_9x07.mbn",
    "update/firehose/rawprogram_nand_p4K_b256K_update.xml",
    "update/firehose/patch_p4K_b256K.xml",
    "update/firehose/partition_complete_p4K_b256K.mbn",
    "update/sbl1.mbn",
    "update/tz.mbn",
    "update/rpm.mbn",
    "update/appsboot.mbn",
    "update/mdm9607-boot.img",
    "update/mdm9607-sysfs.ubi",
    "update/NON-HLOS.ubi",
    "EC20_A20150923.qcn",
];

fn dir() -> PathBuf {
    std::env::temp_dir().join(format!("modemflash-fuzz-pkg-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flag, mut rest)) = data.split_first() else { return };
    let root = dir();
    let _ = std::fs::remove_dir_all(&root);
    if std::fs::create_dir_all(&root).is_err() {
        return;
    }
    if flag & 1 == 1 {
        let zip = root.join("EC25EFAR06A11M4G.zip");
        if std::fs::write(&zip, rest).is_ok() {
            let _ = modemflash::package::open(&zip);
        }
        return;
    }
    let pkg = root.join("EC20AQAR02A04E2G");
    while let [sel, a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*a, *b])).min(tail.len());
        let (content, next) = tail.split_at(len);
        rest = next;
        let name = if usize::from(*sel) < NAMES.len() * 8 {
            NAMES[usize::from(*sel) % NAMES.len()].to_owned()
        } else {
            format!("other{sel}.bin")
        };
        let path = pkg.join(&name);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&path, content);
    }
    let _ = std::fs::create_dir_all(&pkg);
    if let Ok(p) = modemflash::package::open(&pkg) {
        let _ = p.is_valid();
        let _ = serde_json_free(&p);
    }
});

/// Touch the report the way `inspect` does (every finding and file).
fn serde_json_free(p: &modemflash::package::Package) -> usize {
    p.report.findings.len() + p.report.files.iter().map(|f| f.checks.len()).sum::<usize>()
}
