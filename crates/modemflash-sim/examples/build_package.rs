//! Write a synthetic package: `cargo run -p modemflash-sim --example build_package -- legacy|firehose DIR [TOTAL_BYTES]`.
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "package".into()));
    let total: Option<u64> = args.next().and_then(|s| s.parse().ok());
    let built = match kind.as_str() {
        "legacy" => modemflash_sim::builder::write_legacy(
            &dir,
            &total.map_or_else(Default::default, modemflash_sim::builder::LegacySpec::with_total_size),
        )?,
        "firehose" => modemflash_sim::builder::write_firehose(
            &dir,
            &total.map_or_else(Default::default, modemflash_sim::builder::FirehoseSpec::with_total_size),
        )?,
        _ => {
            eprintln!("usage: build_package legacy|firehose DIR [TOTAL_BYTES]");
            std::process::exit(64);
        }
    };
    eprintln!(
        "wrote {} files, {} bytes, to {}",
        built.files.len(),
        built.total_bytes(),
        built.root.display()
    );
    Ok(())
}
