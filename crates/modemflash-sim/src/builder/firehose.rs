//! Firehose 9x07 package (QFirehose layout, `quectel-flows.md` §3.2; partition order
//! modelled on the EG25-G `rawprogram_nand_p2K_b128K_update.xml` of `real-traces.md` §4.5).

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use modemflash::package::md5;

use super::write::{boot_header, boot_len, elf32_arm_header, mbn_header, seed_of, write_file, write_text};
use super::{Built, version_blob, version_offset, write_file_with};

/// What to put in a Firehose package.
#[derive(Debug, Clone)]
pub struct FirehoseSpec {
    pub revision: String,
    /// NAND page ("sector") size: 4096 for `p4K_b256K`, 2048 for `p2K_b128K`.
    pub sector_size: u32,
    pub pages_per_block: u32,
    pub programmer_size: u64,
    pub boot_chain_size: u64,
    pub kernel_size: u32,
    pub modem_size: u64,
    pub sysfs_size: u64,
    pub usrdata_size: u64,
    pub recovery_size: u64,
    /// Write `md5.txt`.
    pub md5: bool,
    /// Add a `vendor="quectel"` line to the rawprogram XML.
    pub vendor_line: bool,
    /// Write the system image as an Android sparse image (`sparse="true"`): RAW, DONT_CARE,
    /// FILL and RAW chunks, each a whole number of erase blocks.
    pub sparse_system: bool,
    /// Add a `filename="DISK"` patch line (the device applies it).
    pub disk_patch: bool,
    pub seed: u64,
}

impl Default for FirehoseSpec {
    fn default() -> Self {
        FirehoseSpec {
            revision: "EC25EFAR06A11M4G".into(),
            sector_size: 4096,
            pages_per_block: 64,
            programmer_size: 300 * 1024,
            boot_chain_size: 200 * 1024,
            kernel_size: 1024 * 1024,
            modem_size: 2 << 20,
            sysfs_size: 2 << 20,
            usrdata_size: 512 * 1024,
            recovery_size: 512 * 1024,
            md5: true,
            vendor_line: false,
            sparse_system: false,
            disk_patch: false,
            seed: 2,
        }
    }
}

impl FirehoseSpec {
    /// A spec whose images add up to roughly `total` bytes (split modem/sysfs).
    pub fn with_total_size(total: u64) -> Self {
        let rest = total.saturating_sub(4 << 20).max(1 << 20);
        FirehoseSpec { modem_size: rest / 2, sysfs_size: rest / 2, ..FirehoseSpec::default() }
    }

    fn geometry(&self) -> String {
        let block_kib = u64::from(self.sector_size) * u64::from(self.pages_per_block) / 1024;
        format!("p{}K_b{block_kib}K", self.sector_size / 1024)
    }
}

/// The images of a package: (label, file relative to `update/firehose`, header, size).
fn images(spec: &FirehoseSpec) -> Vec<(&'static str, String, Vec<u8>, u64)> {
    let geo = spec.geometry();
    let cmdline = "console=ttyHSL0,115200";
    let ramdisk = spec.kernel_size / 4;
    vec![
        (
            "sbl",
            "../sbl1.mbn".into(),
            mbn_header(21, 0x0800_c000, spec.boot_chain_size as u32),
            40 + spec.boot_chain_size,
        ),
        ("mibib", format!("partition_complete_{geo}.mbn"), Vec::new(), u64::from(spec.sector_size) * 4),
        (
            "tz",
            "../tz.mbn".into(),
            mbn_header(25, 0x8740_0000, spec.boot_chain_size as u32),
            40 + spec.boot_chain_size,
        ),
        (
            "rpm",
            "../rpm.mbn".into(),
            mbn_header(23, 0x0020_0000, spec.boot_chain_size as u32),
            40 + spec.boot_chain_size,
        ),
        (
            "aboot",
            "../appsboot.mbn".into(),
            mbn_header(5, 0x8290_0000, spec.boot_chain_size as u32),
            40 + spec.boot_chain_size,
        ),
        (
            "boot",
            "../mdm9607-boot.img".into(),
            boot_header(spec.kernel_size, ramdisk, "boot", cmdline),
            boot_len(spec.kernel_size, ramdisk),
        ),
        ("modem", "../NON-HLOS.ubi".into(), b"UBI#".to_vec(), spec.modem_size),
        ("recoveryfs", "../mdm9607-recovery.ubi".into(), b"UBI#".to_vec(), spec.recovery_size),
        ("usrdata", "../usrdata.ubi".into(), b"UBI#".to_vec(), spec.usrdata_size),
        ("system", "../mdm9607-sysfs.ubi".into(), b"UBI#".to_vec(), spec.sysfs_size),
    ]
}

/// Partition layout of the package's rawprogram XML: (label, start sector, sectors). Each
/// partition is its image rounded up to whole blocks, plus one spare block.
pub fn partition_layout(spec: &FirehoseSpec) -> Vec<(String, u64, u64)> {
    let sector = u64::from(spec.sector_size);
    let block = u64::from(spec.pages_per_block);
    let mut start = 0;
    images(spec)
        .into_iter()
        .map(|(label, _, _, size)| {
            let num = size.div_ceil(sector).div_ceil(block) * block + block;
            let row = (label.to_owned(), start, num);
            start += num;
            row
        })
        .collect()
}

/// Write a Firehose package into `dir`.
pub fn write(dir: &Path, spec: &FirehoseSpec) -> io::Result<Built> {
    let geo = spec.geometry();
    let fh = "update/firehose";
    let mut files: Vec<(String, u64)> = Vec::new();
    let prog = format!("{fh}/prog_nand_firehose_9x07.mbn");
    files.push((
        prog.clone(),
        write_file(
            &dir.join(&prog),
            &elf32_arm_header(0x0800_0000, spec.programmer_size),
            spec.programmer_size,
            seed_of(&prog, spec.seed),
        )?,
    ));
    let sector = u64::from(spec.sector_size);
    let block = u64::from(spec.pages_per_block);
    let mut programs = String::new();
    let mut erases = String::new();
    let mut sbl_program = String::new();
    for ((label, rel, header, size), (_, start, num)) in images(spec).iter().zip(partition_layout(spec)) {
        let path = resolve(fh, rel);
        let sparse = spec.sparse_system && *label == "system";
        let written = if sparse {
            write_sparse(
                &dir.join(&path),
                header,
                *size,
                spec.sector_size,
                spec.pages_per_block,
                seed_of(&path, spec.seed),
            )?
        } else {
            // The modem firmware carries the revision string, like a real package [I].
            let version = version_blob(&spec.revision);
            let insert =
                (*label == "modem").then(|| (version_offset(*size, header.len()), version.as_slice()));
            write_file_with(&dir.join(&path), header, *size, seed_of(&path, spec.seed), insert)?
        };
        files.push((path.clone(), written));
        let line = format!(
            "  <program PAGES_PER_BLOCK=\"{block}\" SECTOR_SIZE_IN_BYTES=\"{sector}\" filename=\"{}\" label=\"{label}\" last_sector=\"{}\" num_partition_sectors=\"{num}\" physical_partition_number=\"0\"{} start_sector=\"{start}\"/>\n",
            rel.replace('/', "\\"),
            start + num - 1,
            if sparse { " sparse=\"true\"" } else { "" }
        );
        let erase = format!(
            "  <erase PAGES_PER_BLOCK=\"{block}\" SECTOR_SIZE_IN_BYTES=\"{sector}\" num_partition_sectors=\"{num}\" start_sector=\"{start}\"/>\n"
        );
        if start == 0 {
            sbl_program = line;
        } else {
            programs.push_str(&line);
        }
        erases.push_str(&erase);
    }
    let mut raw = String::from("<?xml version=\"1.0\" ?>\n<data>\n");
    raw.push_str(&sbl_program);
    raw.push_str(&erases);
    if spec.vendor_line {
        raw.push_str(
            "  <erase vendor=\"quectel\" a_rawdata_start_sector=\"0\" c_project_name=\"synthetic\"/>\n",
        );
    }
    raw.push_str(&programs);
    raw.push_str("</data>\n");
    let raw_name = format!("{fh}/rawprogram_nand_{geo}_update.xml");
    files.push((raw_name.clone(), write_text(&dir.join(&raw_name), &raw)?));
    let disk = if spec.disk_patch {
        format!(
            "  <patch SECTOR_SIZE_IN_BYTES=\"{sector}\" byte_offset=\"16\" filename=\"DISK\" physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"4\" value=\"CRC32(4,{sector})\" what=\"table checksum on the device\"/>\n"
        )
    } else {
        String::new()
    };
    let patch = format!(
        "<?xml version=\"1.0\" ?>\n<patches>\n  <patch SECTOR_SIZE_IN_BYTES=\"{sector}\" byte_offset=\"12\" filename=\"partition_complete_{geo}.mbn\" physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"3\" value=\"CRC32(0,{sector})\" what=\"host-side patch of the table\"/>\n{disk}</patches>\n"
    );
    let patch_name = format!("{fh}/patch_{geo}.xml");
    files.push((patch_name.clone(), write_text(&dir.join(&patch_name), &patch)?));
    for (name, id) in [("update/NPRG9x07.mbn", 7u32), ("update/ENPRG9x07.mbn", 13)] {
        files.push((
            name.into(),
            write_file(
                &dir.join(name),
                &mbn_header(id, 0x0800_0000, 64 * 1024),
                40 + 64 * 1024,
                seed_of(name, spec.seed),
            )?,
        ));
    }
    let contents = format!(
        "<?xml version=\"1.0\" ?>\n<contents>\n  <product_info><product_name>{}</product_name></product_info>\n  <partition_file>update/firehose/rawprogram_nand_{geo}_update.xml</partition_file>\n</contents>\n",
        spec.revision
    );
    files.push(("contents.xml".into(), write_text(&dir.join("contents.xml"), &contents)?));
    if spec.md5 {
        let mut text = String::new();
        for (path, _) in &files {
            let digest = md5::digest(std::fs::File::open(dir.join(path))?)?;
            let _ = write!(text, "D:\\{}:{}\r\n", path.replace('/', "\\"), digest.to_ascii_uppercase());
        }
        files.push(("md5.txt".into(), write_text(&dir.join("md5.txt"), &text)?));
    }
    Ok(Built { root: dir.to_owned(), files })
}

/// An Android sparse image that expands to `size` bytes (rounded up to whole blocks of
/// `blk`): RAW (`header` first), DONT_CARE, FILL, then RAW for the rest, each chunk a
/// whole number of `ppb`-block erase blocks so every piece can be programmed on its own.
fn write_sparse(path: &Path, header: &[u8], size: u64, blk: u32, ppb: u32, seed: u64) -> io::Result<u64> {
    use modemflash::protocol::fastboot::sparse::{
        CHUNK_DONT_CARE, CHUNK_FILL, CHUNK_HEADER_LEN, CHUNK_RAW, ChunkHeader, FILE_HEADER_LEN, SparseHeader,
    };
    use std::io::Write;
    let blocks = u32::try_from(size.div_ceil(u64::from(blk))).map_err(io::Error::other)?;
    let unit = ppb.max(1);
    let mut chunks = vec![(CHUNK_RAW, unit.min(blocks))];
    let mut left = blocks - unit.min(blocks);
    for kind in [CHUNK_DONT_CARE, CHUNK_FILL] {
        let n = unit.min(left);
        if n > 0 {
            chunks.push((kind, n));
            left -= n;
        }
    }
    if left > 0 {
        chunks.push((CHUNK_RAW, left));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all(&SparseHeader::new(blk, blocks, chunks.len() as u32).encode())?;
    let mut written = FILE_HEADER_LEN as u64;
    let mut rng = super::write::Prng::new(seed);
    let mut first = true;
    let mut buf = vec![0u8; blk as usize];
    for (kind, n) in chunks {
        let data_len = u64::from(n) * u64::from(blk);
        let payload = match kind {
            CHUNK_RAW => data_len,
            CHUNK_FILL => 4,
            _ => 0,
        };
        let total_sz = u32::try_from(CHUNK_HEADER_LEN as u64 + payload).map_err(io::Error::other)?;
        out.write_all(&ChunkHeader { chunk_type: kind, reserved: 0, chunk_sz: n, total_sz }.encode())?;
        written += CHUNK_HEADER_LEN as u64 + payload;
        match kind {
            CHUNK_RAW => {
                for _ in 0..n {
                    rng.fill(&mut buf);
                    if first {
                        for (d, s) in buf.iter_mut().zip(header) {
                            *d = *s;
                        }
                        first = false;
                    }
                    out.write_all(&buf)?;
                }
            }
            CHUNK_FILL => out.write_all(&[0xA5, 0x5A, 0x00, 0xFF])?,
            _ => {}
        }
    }
    out.flush()?;
    Ok(written)
}

fn resolve(dir: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = dir.split('/').collect();
    for seg in rel.split('/') {
        if seg == ".." {
            parts.pop();
        } else {
            parts.push(seg);
        }
    }
    parts.join("/")
}
