//! Write a small synthetic package for tests that run outside this workspace (the USB
//! end-to-end suite, `tools/usb-e2e`): `write_package legacy|firehose DIR`. Prints the
//! revision it installs. Small on purpose: the emulated guest moves about 1.2 MiB/s.

use modemflash_sim::builder::{self, FirehoseSpec, LegacySpec};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(dir)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: write_package legacy|firehose DIR");
        return std::process::ExitCode::from(64);
    };
    let dir = std::path::Path::new(dir);
    let written = match kind.as_str() {
        "legacy" => {
            let spec = LegacySpec {
                dsp_size: 128 * 1024,
                kernel_size: 256 * 1024,
                rootfs_size: 2112 * 128,
                usrfs_size: 2112 * 32,
                recoveryfs_size: 2112 * 64,
                extras: false,
                ..LegacySpec::default()
            };
            builder::write_legacy(dir, &spec).map(|_| spec.revision)
        }
        "firehose" => {
            let spec = FirehoseSpec {
                kernel_size: 256 * 1024,
                modem_size: 512 * 1024,
                sysfs_size: 512 * 1024,
                usrdata_size: 256 * 1024,
                recovery_size: 256 * 1024,
                ..FirehoseSpec::default()
            };
            builder::write_firehose(dir, &spec).map(|_| spec.revision)
        }
        other => {
            eprintln!("write_package: unknown kind {other:?} (legacy or firehose)");
            return std::process::ExitCode::from(64);
        }
    };
    match written {
        Ok(rev) => {
            println!("{rev}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("write_package: cannot write {}: {e}", dir.display());
            std::process::ExitCode::FAILURE
        }
    }
}
