#!/usr/bin/env bash
# Regenerate the [[bin]] entries of fuzz/Cargo.toml from fuzz_targets/*.rs.
set -euo pipefail
cd "$(dirname "$0")"
sed -i '/^\[\[bin\]\]/,$d' Cargo.toml
for f in fuzz_targets/*.rs; do
  n=$(basename "$f" .rs)
  printf '[[bin]]\nname = "%s"\npath = "%s"\ntest = false\ndoc = false\nbench = false\n\n' "$n" "$f" >> Cargo.toml
done
