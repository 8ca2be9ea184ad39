#!/bin/sh
# Build the Debian package: release binary, then man pages and shell completions generated
# by the binary itself (clap_mangen, clap_complete) into target/release/assets/, then cargo-deb.
#   cargo install cargo-deb   # once
#   sh packaging/deb.sh       # → target/debian/modemflash_<version>_<arch>.deb
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p modemflash-cli
bin=target/release/modemflash
rm -rf target/release/assets
mkdir -p target/release/assets/man target/release/assets/completions
"$bin" manpage --dir target/release/assets/man
gzip -9n target/release/assets/man/*.1
"$bin" completions bash > target/release/assets/completions/modemflash
"$bin" completions zsh > target/release/assets/completions/_modemflash
"$bin" completions fish > target/release/assets/completions/modemflash.fish
cargo deb -p modemflash-cli --no-build --strip "$@"
