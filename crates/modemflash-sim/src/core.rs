//! The module's state shared by all its endpoints: configuration, NAND, RAM written over
//! DMSS, the running firmware's revision, and fault bookkeeping.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::boot::Model;
use crate::fault::{Fault, FaultState};
use crate::nand::Nand;
use modemflash::module::DeviceMode;

/// Fastboot behaviour of a picky bootloader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastbootQuirks {
    /// Answer to `getvar:max-download-size`.
    pub max_download_size: u64,
    /// Largest single USB transfer accepted during `download` (EG25: 16 KiB) [inferred].
    pub max_block: Option<usize>,
    /// Minimum gap the bootloader needs between blocks; faster hosts get a FAIL.
    pub min_gap: Duration,
    /// Partition names the bootloader accepts for another partition, `(alias, target)`,
    /// used when the alias itself is not in the NAND. [inferred] QFlash flashes
    /// `aboot` on the EC20 R1, whose table names the partition `0:APPSBL`
    /// (`docs/facts/quectel.md`), so its LK must map one to the other.
    pub partition_aliases: Vec<(String, String)>,
}

impl Default for FastbootQuirks {
    fn default() -> Self {
        // EC25 aboot's real max-download-size is unknown (`docs/facts/quectel.md` "Unconfirmed") [inferred].
        FastbootQuirks {
            max_download_size: 0x0800_0000,
            max_block: None,
            min_gap: Duration::ZERO,
            partition_aliases: vec![("aboot".into(), "appsbl".into())],
        }
    }
}

/// How an EC25 behaves in EDL: its boot ROM (Sahara) and the Firehose programmer it
/// loads (`docs/facts/sahara.md`). Values not seen on a real 9x07 are marked [inferred].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdlQuirks {
    /// HELLO `max_cmd_len`: in no public record (`docs/facts/sahara.md`) [inferred]; 0x400 is
    /// what the codec's examples use.
    pub max_cmd_len: u32,
    /// Largest READ_DATA inside a segment: 0x1000 on SDX ROMs, assumed for the MDM9607
    /// ROM [inferred] (`docs/facts/sahara.md`).
    pub read_chunk: u32,
    /// DONE_RESP `image_tx_status`: 1 complete (RM500Q), 0 pending (RM520N-GL) [confirmed].
    pub done_status: u32,
    /// MSM_HW_ID_READ answer (`0x000480E100000000` on MDM9x07 [confirmed]).
    pub msm_hw_id: u64,
    /// OEM_PK_HASH_READ answer (the Qualcomm test root of an unfused EC25-E [confirmed]).
    pub pk_hash: Vec<u8>,
    /// Time from DONE_RESP to the programmer's first `<log>` (~1.0 s on RM500Q [confirmed]).
    pub programmer_boot: Duration,
    /// `Binary build date: %s @ %s` of the programmer (the 2021 EG25-G build [confirmed]).
    pub build_date: String,
    /// NAND page ("sector") size: 4096 on EC25-E (`p4K_b256K`) [confirmed].
    pub page_size: u32,
    /// Pages per erase block: 64 [confirmed].
    pub pages_per_block: u32,
    /// Erase blocks: 2048 on the 512 MiB EC25-E part [confirmed].
    pub total_blocks: u32,
    /// NAND product name for `getstorageinfo` (Toshiba KSLCMBL2VA2M2A on EC25-E [confirmed]).
    pub nand_name: String,
    /// Device timing (benchmarks): USB throughput of `<program>` data in bytes/s. `None`
    /// takes data as fast as it comes. Paced on the module clock.
    pub link_rate: Option<u64>,
    /// Device timing: NAND program throughput in bytes/s; the final ACK of a `<program>`
    /// waits until the NAND has caught up. `None`: instant.
    pub nand_rate: Option<u64>,
    /// Bytes the programmer accepts ahead of the NAND before it stops reading (so a slow
    /// NAND slows the link down). [inferred] the real buffer size is not known.
    pub program_buffer: u64,
}

/// The EC25-E test-root PK hash (`docs/facts/sahara.md`) [confirmed].
pub const TEST_ROOT_PK_HASH: [u8; 32] = [
    0xcc, 0x31, 0x53, 0xa8, 0x02, 0x93, 0x93, 0x9b, 0x90, 0xd0, 0x2d, 0x3b, 0xf8, 0xb2, 0x3e, 0x02, 0x92,
    0xe4, 0x52, 0xfe, 0xf6, 0x62, 0xc7, 0x49, 0x98, 0x42, 0x1a, 0xda, 0xd4, 0x2a, 0x38, 0x0f,
];

impl Default for EdlQuirks {
    fn default() -> Self {
        EdlQuirks {
            max_cmd_len: 0x400,
            read_chunk: 0x1000,
            done_status: 1,
            msm_hw_id: 0x0004_80E1_0000_0000,
            pk_hash: TEST_ROOT_PK_HASH.to_vec(),
            programmer_boot: Duration::from_secs(1),
            build_date: "Apr 21 2021 @ 15:42:43".into(),
            page_size: 4096,
            pages_per_block: 64,
            total_blocks: 2048,
            nand_name: "KSLCMBL2VA2M2A".into(),
            link_rate: None,
            nand_rate: None,
            program_buffer: 1 << 20,
        }
    }
}

/// Who a virtual module is: each instance has its own, drawn at random by
/// [`ModuleConfig::new`] unless set (`modemflash sim --imei … --chip-serial …`), and kept
/// in the state file. Reported through every protocol that carries one: `AT+GSN`/`AT+CGSN`
/// (IMEI), Sahara `SERIAL_NUM_READ` and the Firehose `Chip serial num:` log (chip serial),
/// fastboot `getvar:serialno` and the fastboot USB serial string.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimIdentity {
    /// 15 digits with a Luhn check digit. [inferred] the TAC `86769804` is an assumption.
    pub imei: String,
    /// The chip serial (an EC25-E's was 0x0cf94c64 [confirmed]).
    pub chip_serial: u32,
    /// Fastboot `serialno` and the fastboot USB serial string. `None`: the chip name, as
    /// the EC20 R1's LK reports (`MDM9615`, the same on every such module [confirmed,
    /// field log]). [inferred] that an EC25's LK reports a serial of its own.
    pub fastboot_serial: Option<String>,
    /// USB serial string in normal mode. [inferred] no recording shows one; `None` by default.
    pub normal_usb_serial: Option<String>,
}

/// Identity fields given explicitly; they win over the state file's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityOverrides {
    pub imei: Option<String>,
    pub chip_serial: Option<u32>,
    pub fastboot_serial: Option<String>,
}

impl SimIdentity {
    /// A fresh random identity for `model`.
    pub fn random(model: Model) -> Self {
        let a = random_u64();
        let body = format!("86769804{:06}", a % 1_000_000);
        let chip_serial = u32::try_from((a >> 20) & 0xffff_ffff).unwrap_or(1).max(1);
        let fastboot_serial = match model {
            Model::Ec20R1 => None,
            Model::Ec25 => Some(format!("{:08x}", (a >> 8) as u32)),
        };
        SimIdentity {
            imei: format!("{body}{}", luhn_digit(&body)),
            chip_serial,
            fastboot_serial,
            normal_usb_serial: None,
        }
    }

    /// Apply explicit settings.
    pub fn apply(&mut self, o: &IdentityOverrides) {
        if let Some(x) = &o.imei {
            self.imei.clone_from(x);
        }
        if let Some(x) = o.chip_serial {
            self.chip_serial = x;
        }
        if let Some(x) = &o.fastboot_serial {
            self.fastboot_serial = Some(x.clone());
        }
    }
}

/// Random bits from the standard library's per-process hash keys, a counter and the time.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.finish()
}

/// The Luhn check digit of a string of digits (IMEIs end with one).
pub fn luhn_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b.saturating_sub(b'0'));
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// How a virtual module behaves.
#[derive(Debug, Clone)]
pub struct ModuleConfig {
    pub model: Model,
    /// Revision of the firmware the module starts with.
    pub revision: String,
    pub start_mode: DeviceMode,
    /// Whether the firmware knows `AT+QFASTBOOT` (added 2016-04-28 per an SDK header;
    /// a Dec-2015 build lacks it [inferred]).
    pub qfastboot: bool,
    /// `AT+QFASTBOOT` sends no reply before the module drops off the bus, as the EG25 does
    /// (`docs/facts/usb.md` [confirmed]). Default false: answer `OK` first [inferred].
    pub qfastboot_silent: bool,
    /// The streaming programmer knows Quectel's download-flag command 0x60 (`docs/facts/streaming.md` [confirmed]). When false it answers with an "Invalid command" LOG, like a
    /// programmer without it.
    pub streaming_download_flag: bool,
    /// The streaming programmer appends two extra `7E` when an encoded reply is a multiple
    /// of 64 bytes long (hostdl's USB short-packet hack, `docs/facts/hdlc-diag.md` [confirmed]; that the
    /// 9615 NPRG/ENPRG do it too is [inferred]).
    pub streaming_short_packet_pad: bool,
    /// Time off the bus after a reset.
    pub reenum_delay: Duration,
    pub fastboot: FastbootQuirks,
    /// Largest Firehose payload the programmer accepts (9x07: 8192 [inferred]).
    pub firehose_max_payload: u64,
    /// EC25 EDL behaviour (Sahara boot ROM, Firehose programmer, NAND geometry).
    pub edl: EdlQuirks,
    pub faults: Vec<Fault>,
    /// Keep the NAND and mode in this file across process restarts.
    pub state_file: Option<PathBuf>,
    /// Who the module is (kept in the state file).
    pub identity: SimIdentity,
    /// Identity fields set explicitly, which win over the state file's.
    pub identity_overrides: IdentityOverrides,
    /// Where the module is plugged in, as the host's bus sees it (`1-1`).
    pub port_path: String,
    /// How the streaming programmer reads PARTITION_TABLE sizes: the library's unit table
    /// and 9615 NAND geometry (blocks of 128 KiB [I, strong]; `package::ptable`).
    pub ptable_units: modemflash::package::ptable::TableUnits,
}

impl ModuleConfig {
    /// Defaults for a model: the field user's EC20 R1 at `EC20AQAR02A03E2G`, or an EC25 at
    /// `EC25EFAR06A08M4G`.
    pub fn new(model: Model) -> Self {
        let revision = match model {
            Model::Ec20R1 => "EC20AQAR02A03E2G",
            Model::Ec25 => "EC25EFAR06A08M4G",
        };
        ModuleConfig {
            model,
            revision: revision.into(),
            start_mode: DeviceMode::Normal,
            qfastboot: qfastboot_default(revision),
            qfastboot_silent: false,
            streaming_download_flag: true,
            streaming_short_packet_pad: true,
            reenum_delay: Duration::from_secs(2),
            fastboot: FastbootQuirks::default(),
            firehose_max_payload: 8192,
            edl: EdlQuirks::default(),
            faults: Vec::new(),
            state_file: None,
            identity: SimIdentity::random(model),
            identity_overrides: IdentityOverrides::default(),
            port_path: "1-1".into(),
            ptable_units: modemflash::package::ptable::TableUnits::default(),
        }
    }
}

/// Whether a revision's firmware has `AT+QFASTBOOT` [inferred]: 9615-era R02 builds below A05
/// predate it; everything else is assumed to have it.
pub fn qfastboot_default(revision: &str) -> bool {
    let r = modemflash::catalog::Revision::parse(revision);
    !(r.model.as_deref() == Some("EC20") && r.release == Some(2) && r.build.is_some_and(|b| b < 5))
}

/// Everything the endpoints share.
#[derive(Debug)]
pub struct Core {
    pub config: ModuleConfig,
    pub nand: Nand,
    /// Mode on the bus, `None` while off the bus.
    pub mode: Option<DeviceMode>,
    /// Increments on every enumeration change; endpoints of older generations stop.
    pub generation: u64,
    /// Revision the running firmware reports (normal mode).
    pub running_revision: String,
    /// Bytes written over DMSS WRITE_32BIT, by start address.
    pub ram: BTreeMap<u32, Vec<u8>>,
    pub faults: FaultState,
    /// Set when the NAND changed since the last save.
    pub dirty: bool,
    /// The fastboot bootloader's memory (download buffer, split-image progress), shared
    /// by every host connection.
    pub fastboot: crate::handlers::fastboot_flash::Session,
    /// The module's clock (handlers that pace themselves read it through `Cx::now`).
    pub clock: crate::clock::SharedClock,
    /// The bytes the NAND holds (`nand_data.rs`).
    pub data: crate::nand_data::SharedData,
    /// NV items (`nv.rs`), starting with the instance's IMEI.
    pub nv: crate::nv::NvStore,
}

/// Largest RAM image accepted over DMSS (the 9615 programmers are < 1 MiB).
pub const MAX_RAM: usize = 8 << 20;

impl Core {
    pub fn new(config: ModuleConfig, nand: Nand) -> Self {
        let faults = FaultState::new(config.faults.clone());
        let nv = crate::nv::NvStore::for_imei(&config.identity.imei);
        Core {
            data: crate::nand_data::NandData::shared(),
            nv,
            running_revision: config.revision.clone(),
            config,
            nand,
            mode: None,
            generation: 0,
            ram: BTreeMap::new(),
            faults,
            dirty: false,
            fastboot: crate::handlers::fastboot_flash::Session::default(),
            clock: std::sync::Arc::new(crate::clock::RealClock::default()),
        }
    }

    /// Store a DMSS write in RAM; false if it would exceed [`MAX_RAM`].
    pub fn ram_write(&mut self, addr: u32, data: &[u8]) -> bool {
        let total: usize = self.ram.values().map(Vec::len).sum();
        if total + data.len() > MAX_RAM {
            return false;
        }
        // Extend a region that ends exactly here, else start a new one.
        if let Some((start, region)) = self.ram.range_mut(..=addr).next_back()
            && u64::from(*start) + region.len() as u64 == u64::from(addr)
        {
            region.extend_from_slice(data);
            return true;
        }
        self.ram.insert(addr, data.to_vec());
        true
    }

    /// True when `addr` is the start of a region written over DMSS: the only place a GO
    /// starts the programmer.
    pub fn ram_entry_ok(&self, addr: u32) -> bool {
        self.ram.get(&addr).is_some_and(|r| !r.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_identities_differ_and_are_well_formed() {
        let a = SimIdentity::random(Model::Ec25);
        let b = SimIdentity::random(Model::Ec25);
        assert_ne!(a, b);
        assert_eq!(a.imei.len(), 15);
        assert!(a.imei.bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a.chip_serial, 0);
        assert!(a.fastboot_serial.is_some());
        assert_eq!(SimIdentity::random(Model::Ec20R1).fastboot_serial, None);
        // 49015420323751 + check digit 8 is the textbook Luhn example.
        assert_eq!(luhn_digit("49015420323751"), 8);
    }
}
