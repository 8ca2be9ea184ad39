#!/bin/sh
# Build the Debian package: release binary, then man pages and shell completions generated
# by the binary itself (clap_mangen, clap_complete) into target/assets/, then cargo-deb.
#   cargo install cargo-deb   # once
#   sh packaging/deb.sh       # → target/debian/modemflash_<version>_<arch>.deb
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p modemflash-cli
bin=target/release/modemflash
rm -rf target/assets
mkdir -p target/assets/man target/assets/completions
"$bin" manpage --dir target/assets/man
gzip -9n target/assets/man/*.1
"$bin" completions bash > target/assets/completions/modemflash
"$bin" completions zsh > target/assets/completions/_modemflash
"$bin" completions fish > target/assets/completions/modemflash.fish
cargo deb -p modemflash-cli --no-build "$@"
