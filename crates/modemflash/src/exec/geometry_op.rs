//! The pre-flight geometry check of the 9x07 flow (`Op::FirehoseCheckGeometry`): after
//! `<configure>`, before the first erase, ask the programmer for its NAND geometry
//! (`<getstorageinfo>`) and refuse a package built for another chip
//! (`package::geometry`), naming both sides.
//!
//! A programmer that does not answer `getstorageinfo` with a storage report leaves the
//! check undone, said in an event; the programmer still refuses a wrong
//! `SECTOR_SIZE_IN_BYTES`/`PAGES_PER_BLOCK` itself (docs/facts/firehose.md) [confirmed],
//! only later, at the first erase.

use super::StepFailure;
use super::step::{Cx, OpError, Session, StepResult, firehose};
use crate::discovery::Port;
use crate::package::geometry::{PackageGeometry, check};
use crate::protocol::firehose::storage::parse_storage_info;

pub(super) fn check_geometry(session: &mut Session, cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    let Some(layout) = cx.package.firehose.as_ref() else {
        return Err(OpError::on(Port::Edl, StepFailure::NoFirehoseLayout));
    };
    let pkg = PackageGeometry::of(layout);
    let answer = firehose(session, cx)?.getstorageinfo(0);
    let note = |cx: &mut Cx<'_>, text: String| cx.log(text);
    let resp = match answer {
        Ok(r) => r,
        Err(e) => {
            note(cx, format!("geometry not checked: the programmer refused getstorageinfo ({e})"));
            return Ok(StepResult::default());
        }
    };
    cx.device_logs(&resp.log);
    let Some(chip) = parse_storage_info(&resp.log) else {
        note(cx, "geometry not checked: the programmer sent no storage report".into());
        return Ok(StepResult::default());
    };
    let wrong = check(&pkg, &chip);
    if wrong.is_empty() {
        note(
            cx,
            format!(
                "geometry fits: {} blocks of {} bytes, {}-byte pages{}",
                chip.total_blocks,
                chip.block_size,
                chip.page_size,
                pkg.farthest.as_ref().map_or(String::new(), |e| format!(
                    "; the package reaches sector {} ({})",
                    e.end(),
                    e.what
                ))
            ),
        );
        return Ok(StepResult::default());
    }
    let list: Vec<String> = wrong.iter().map(ToString::to_string).collect();
    Err(OpError::on(
        Port::Edl,
        StepFailure::WrongGeometry { mismatches: list.join("; "), chip: chip.prod_name.clone() },
    ))
}
