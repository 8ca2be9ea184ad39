#!/bin/sh
# Portable binaries of the `modemflash` CLI:
#   target/dist/modemflash-x86_64-linux        static (musl), no system libraries
#   target/dist/modemflash-aarch64-linux       static (musl), for arm64 gateways
#   target/dist/modemflash-x86_64-windows.exe  the gnu target, linked with mingw-w64
# Installs what it needs (rustup targets; mingw-w64 with apt when missing). Every crate in the
# tree is pure Rust (no -sys crate that links a system library); the script checks that.
# Usage: sh packaging/dist.sh [linux-x86_64|linux-aarch64|windows-x86_64 ...]   (default: all)
set -eu
cd "$(dirname "$0")/.."
OUT=target/dist
mkdir -p "$OUT"
WANT=${*:-"linux-x86_64 linux-aarch64 windows-x86_64"}

need_target() {
  rustup target list --installed | grep -qx "$1" || timeout 300 rustup target add "$1"
}

build() { # triple, output name
  need_target "$1"
  # No -sys crate may need a system library: the only ones allowed are pure-Rust bindings
  # (raw Linux syscalls, the Windows API import libraries).
  sys=$(cargo tree --locked -p modemflash-cli -e normal --prefix none --target "$1" \
    | sed 's/ .*//' | grep -- '-sys$' | sort -u | grep -vxE 'linux-raw-sys|windows-sys|windows-targets' || true)
  if [ -n "$sys" ]; then
    echo "dist: for $1 these -sys crates would need system libraries: $sys" >&2
    exit 1
  fi
  echo "== cargo build --profile dist --target $1"
  cargo build --locked --profile dist -p modemflash-cli --target "$1"
  src=target/$1/dist/modemflash
  [ -f "$src" ] || src=$src.exe
  cp "$src" "$OUT/$2"
  echo "dist: $OUT/$2 ($(wc -c <"$OUT/$2") bytes)"
}

for w in $WANT; do
  case $w in
    linux-x86_64)
      # The musl target links self-contained (its own crt and libc) with rust-lld.
      CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
        build x86_64-unknown-linux-musl modemflash-x86_64-linux ;;
    linux-aarch64)
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
        build aarch64-unknown-linux-musl modemflash-aarch64-linux ;;
    windows-x86_64)
      if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
        (timeout 300 apt-get update -qq && timeout 600 apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null) ||
          { echo "dist: gcc-mingw-w64-x86-64 is needed to link the Windows binary (apt-get install gcc-mingw-w64-x86-64)" >&2; exit 1; }
      fi
      build x86_64-pc-windows-gnu modemflash-x86_64-windows.exe ;;
    *) echo "dist: unknown build '$w' (linux-x86_64, linux-aarch64, windows-x86_64)" >&2; exit 64 ;;
  esac
done
