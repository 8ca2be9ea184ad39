//! Does every image of a legacy package fit the partition its table gives it?
//!
//! The tables' sizes are read with [`ptable::TableUnits`] (blocks of the 9615 NAND
//! geometry [I, strong]), so this check is only as right as that unit; an image that does
//! not fit makes the package invalid before anything is written, because the programmer
//! refuses it with "out of space" halfway through the boot chain.

use super::LegacyLayout;
use super::ptable::{self, PartitionTable};
use super::report::{FileDetails, Report};
use super::source::SourceFile;

/// The table name of a legacy flow target: streaming targets are table names already
/// (`0:SBL1`); fastboot names map to them (`aboot` → `0:APPSBL`, `system` → `0:SYSTEM`).
fn table_name(target: &str) -> String {
    let t = target.split(' ').next().unwrap_or(target);
    if t.starts_with("0:") {
        return t.to_ascii_uppercase();
    }
    match t {
        "aboot" => "0:APPSBL".into(),
        other => format!("0:{}", other.to_ascii_uppercase()),
    }
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{bytes} bytes ({:.1} MiB)", bytes as f64 / f64::from(1u32 << 20))
    } else {
        format!("{bytes} bytes ({:.1} KiB)", bytes as f64 / 1024.0)
    }
}

/// Check every streaming and fastboot image of `layout` against every usable table.
pub(super) fn check_legacy(layout: &LegacyLayout, files: &[SourceFile], report: &mut Report) {
    let units = ptable::TableUnits::default();
    let tables: Vec<(String, PartitionTable)> = layout
        .partition_tables
        .iter()
        .filter_map(|path| {
            let f = report.files.iter().find(|f| &f.path == path)?;
            match &f.details {
                Some(FileDetails::PartitionTable(t)) => Some((path.clone(), t.clone())),
                _ => None,
            }
        })
        .collect();
    let images = layout
        .streaming
        .iter()
        .map(|(t, f)| (t, f, true))
        .chain(layout.fastboot.iter().map(|(t, f)| (t, f, false)))
        .chain(layout.temp_loaders.iter().map(|(t, f)| (t, f, true)));
    let images: Vec<(String, String, bool)> = images.map(|(t, f, s)| (t.clone(), f.clone(), s)).collect();
    for (path, table) in &tables {
        if !units.knows(table.version) {
            report.warning(
                Some(path),
                &format!(
                    "table version {} has no known size unit; its sizes are read as {} of {} bytes [inferred]",
                    table.version,
                    table.unit.name(),
                    table.unit_bytes
                ),
            );
        }
        let mut fitted = 0;
        for (target, file, streaming) in &images {
            let Some(size) = files.iter().find(|f| &f.path == file).map(|f| f.size) else { continue };
            let name = table_name(target);
            let Some(entry) = table.find(&name) else {
                let msg = format!("{file} goes to {name}, which {path} does not define");
                if *streaming {
                    report.error(Some(path), &format!("{msg}: the programmer would refuse to open it"));
                } else {
                    report.warning(Some(path), &format!("{msg}; fastboot may refuse it"));
                }
                continue;
            };
            match entry.length_bytes {
                Some(cap) if size > cap => report.error(
                    Some(file),
                    &format!(
                        "does not fit {name}: the file is {}, the partition in {path} is {} {} = {}; \
                         use the package's own partition table or a package built for this module",
                        human(size),
                        entry.length.unwrap_or(0),
                        table.unit.name(),
                        human(cap)
                    ),
                ),
                _ => fitted += 1,
            }
        }
        report.check_passed(
            path,
            &format!(
                "{fitted} of {} images fit their partitions (sizes in {} of {} bytes)",
                images.len(),
                table.unit.name(),
                table.unit_bytes
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::table_name;

    #[test]
    fn names() {
        assert_eq!(table_name("0:SBL1"), "0:SBL1");
        assert_eq!(table_name("0:SBL2 (temporary)"), "0:SBL2");
        assert_eq!(table_name("aboot"), "0:APPSBL");
        assert_eq!(table_name("recoveryfs"), "0:RECOVERYFS");
    }
}
