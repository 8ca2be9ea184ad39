//! The chipset check (`plan::chip`): find out the module's chipset in the mode it is in,
//! and stop unless it is the package's. Which evidence each mode gives is `plan::chip`'s;
//! this only asks and compares.

use super::error::StepFailure;
use super::firehose_ops::edl_chip;
use super::ops::read_revision;
use super::step::{Cx, OpError, Session, StepResult, fastboot};
use super::{FailureKind, port_for};
use crate::catalog::Chipset;
use crate::discovery::Port;
use crate::plan::{DeviceMode, ModuleChip, chip};
use crate::protocol::edl::EdlProbe;

pub(super) fn check_chipset(
    session: &mut Session,
    cx: &mut Cx<'_>,
    expected: Chipset,
    package: &str,
    probe: &EdlProbe,
) -> Result<StepResult, OpError> {
    let mode = cx.step.needs;
    let port = port_for(mode);
    let chip: Option<ModuleChip> = match mode {
        DeviceMode::Normal => {
            let rev = read_revision(cx.bus).map_err(|e| OpError::kind(port, FailureKind::Protocol, e))?;
            chip::chip_from_revision(&rev).or_else(|| cx.bus.chip())
        }
        DeviceMode::Fastboot => {
            let product = fastboot(session, cx)?
                .getvar("product")
                .map_err(|e| OpError::kind(Port::Fastboot, FailureKind::Protocol, e))?;
            chip::chip_from_fastboot_product(&product).or_else(|| cx.bus.chip())
        }
        DeviceMode::Edl => Some(edl_chip(session, cx, probe)?),
        DeviceMode::Dload | DeviceMode::Streaming => chip::chip_from_mode(mode),
    };
    let Some(chip) = chip else {
        return Err(OpError::on(
            port,
            StepFailure::ChipsetUntold { package: package.to_owned(), mode: mode.name() },
        ));
    };
    cx.log(format!("the module is {}", chip.describe()));
    if chip.chipset != expected {
        return Err(OpError::on(
            port,
            StepFailure::OtherChipset { package: package.to_owned(), module: chip.describe() },
        ));
    }
    Ok(StepResult::default())
}
