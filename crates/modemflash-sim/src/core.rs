//! The module's state shared by all its endpoints: configuration, NAND, RAM written over
//! DMSS, the running firmware's revision, and fault bookkeeping.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::boot::Model;
use crate::bus::SimMode;
use crate::fault::{Fault, FaultState};
use crate::nand::Nand;

/// Fastboot behaviour of a picky bootloader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastbootQuirks {
    /// Answer to `getvar:max-download-size`.
    pub max_download_size: u64,
    /// Largest single USB transfer accepted during `download` (EG25: 16 KiB) [F].
    pub max_block: Option<usize>,
    /// Minimum gap the bootloader needs between blocks; faster hosts get a FAIL.
    pub min_gap: Duration,
    /// Partition names the bootloader accepts for another partition, `(alias, target)`,
    /// used when the alias itself is not in the NAND. [I] inferred: QFlash flashes
    /// `aboot` on the EC20 R1, whose table names the partition `0:APPSBL`
    /// (`quectel-flows.md` §2.7), so its LK must map one to the other.
    pub partition_aliases: Vec<(String, String)>,
}

impl Default for FastbootQuirks {
    fn default() -> Self {
        // EC25 aboot's real max-download-size is unknown (protocols.md "Unconfirmed") [I].
        FastbootQuirks {
            max_download_size: 0x0800_0000,
            max_block: None,
            min_gap: Duration::ZERO,
            partition_aliases: vec![("aboot".into(), "appsbl".into())],
        }
    }
}

/// How a virtual module behaves.
#[derive(Debug, Clone)]
pub struct ModuleConfig {
    pub model: Model,
    /// Revision of the firmware the module starts with.
    pub revision: String,
    pub start_mode: SimMode,
    /// Whether the firmware knows `AT+QFASTBOOT` (added 2016-04-28 per an SDK header;
    /// a Dec-2015 build lacks it [I]).
    pub qfastboot: bool,
    /// Time off the bus after a reset.
    pub reenum_delay: Duration,
    pub fastboot: FastbootQuirks,
    /// Largest Firehose payload the programmer accepts (9x07: 8192 [D]).
    pub firehose_max_payload: u64,
    pub faults: Vec<Fault>,
    /// Keep the NAND and mode in this file across process restarts.
    pub state_file: Option<PathBuf>,
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
            start_mode: SimMode::Normal,
            qfastboot: qfastboot_default(revision),
            reenum_delay: Duration::from_secs(2),
            fastboot: FastbootQuirks::default(),
            firehose_max_payload: 8192,
            faults: Vec::new(),
            state_file: None,
        }
    }
}

/// Whether a revision's firmware has `AT+QFASTBOOT` [I]: 9615-era R02 builds below A05
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
    pub mode: Option<SimMode>,
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
    pub fastboot: crate::handlers::fastboot::Session,
}

/// Largest RAM image accepted over DMSS (the 9615 programmers are < 1 MiB).
pub const MAX_RAM: usize = 8 << 20;

impl Core {
    pub fn new(config: ModuleConfig, nand: Nand) -> Self {
        let faults = FaultState::new(config.faults.clone());
        Core {
            running_revision: config.revision.clone(),
            config,
            nand,
            mode: None,
            generation: 0,
            ram: BTreeMap::new(),
            faults,
            dirty: false,
            fastboot: crate::handlers::fastboot::Session::default(),
        }
    }

    /// Store a DMSS write in RAM; false if it would exceed [`MAX_RAM`].
    pub fn ram_write(&mut self, addr: u32, data: &[u8]) -> bool {
        let total: usize = self.ram.values().map(Vec::len).sum();
        if total + data.len() > MAX_RAM {
            return false;
        }
        // Extend a region that ends exactly here, else start a new one.
        if let Some((start, region)) = self.ram.range_mut(..=addr).next_back() {
            if u64::from(*start) + region.len() as u64 == u64::from(addr) {
                region.extend_from_slice(data);
                return true;
            }
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
