//! The one place that says which function runs which [`Op`]: one line per operation and no
//! catch-all arm, so an operation added to the plan does not compile until it is handled
//! here. The functions live with their protocol family (`ops.rs` legacy, `firehose_ops.rs`
//! 9x07, `chip_ops.rs` the chipset check) and share only `step.rs`.

use super::step::{Cx, OpError, Session, StepResult};
use super::{backup_ops, chip_ops, firehose_ops, geometry_op, ops};
use crate::plan::Op;

pub(super) fn run(session: &mut Session, cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    match &cx.step.op {
        Op::DiagToDload => ops::diag_to_dload(cx),
        Op::AtToFastboot => ops::at_to_fastboot(cx),
        Op::DmssUpload { programmers, fallback } => ops::dmss_upload(cx, programmers, *fallback),
        Op::StreamingSession { tables, download_flag } => {
            ops::streaming_session(session, cx, tables, *download_flag)
        }
        Op::StreamingWrite { partition, file } => ops::streaming_write(session, cx, partition, file),
        Op::StreamingInvalidate { partition } => ops::streaming_invalidate(session, cx, partition),
        Op::StreamingClearFlag => ops::streaming_clear_flag(session, cx),
        Op::StreamingReset => ops::streaming_reset(session, cx),
        Op::FastbootFlash { partition, file } => ops::fastboot_flash(session, cx, partition, file),
        Op::FastbootReboot => ops::fastboot_reboot(session, cx),
        Op::Verify { expected } => ops::verify(cx, expected.as_deref()),
        Op::DiagToEdl => firehose_ops::diag_to_edl(cx),
        Op::SaharaUpload { programmer, probe } => firehose_ops::sahara_upload(session, cx, programmer, probe),
        Op::FirehoseConfigure { memory } => firehose_ops::configure(session, cx, memory),
        Op::FirehoseErase { erase } => firehose_ops::erase(session, cx, erase),
        Op::FirehoseVendor { element, attrs } => firehose_ops::vendor(session, cx, element, attrs),
        Op::FirehoseProgram { program } => firehose_ops::program(session, cx, program),
        Op::FirehosePatch { patch } => firehose_ops::patch(session, cx, patch),
        Op::FirehosePowerReset { delay_secs } => firehose_ops::power_reset(session, cx, *delay_secs),
        Op::FirehoseCheckGeometry => geometry_op::check_geometry(session, cx),
        Op::NvBackup { out } => backup_ops::nv_backup(cx, out),
        Op::FirehoseRead { label, sector_size, start_sector, num_sectors, out } => {
            backup_ops::firehose_read(session, cx, label, *sector_size, *start_sector, *num_sectors, out)
        }
        Op::NvCompare { backup } => backup_ops::nv_compare(cx, backup),
        Op::CheckChipset { expected, package, probe } => {
            chip_ops::check_chipset(session, cx, *expected, package, probe)
        }
    }
}
