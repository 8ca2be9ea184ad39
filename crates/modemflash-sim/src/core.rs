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
}

impl Default for FastbootQuirks {
    fn default() -> Self {
        // EC25 aboot's real max-download-size is unknown (protocols.md "Unconfirmed") [I].
        FastbootQuirks { max_download_size: 0x0800_0000, max_block: None, min_gap: Duration::ZERO }
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
    /// `AT+QFASTBOOT` sends no reply before the module drops off the bus, as the EG25 does
    /// (`real-traces.md` §1.2 [C]). Default false: answer `OK` first [I].
    pub qfastboot_silent: bool,
    /// The streaming programmer knows Quectel's download-flag command 0x60 (`protocols.md`
    /// §3.1 [C:S6,S7]). When false it answers with an "Invalid command" LOG, like a
    /// programmer without it.
    pub streaming_download_flag: bool,
    /// The streaming programmer appends two extra `7E` when an encoded reply is a multiple
    /// of 64 bytes long (hostdl's USB short-packet hack, `protocols.md` §1 [C:S4]; that the
    /// 9615 NPRG/ENPRG do it too is [I]).
    pub streaming_short_packet_pad: bool,
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
            qfastboot_silent: false,
            streaming_download_flag: true,
            streaming_short_packet_pad: true,
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
