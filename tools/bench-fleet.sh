#!/bin/sh
# Device-bound fleet benchmark (issue 15): N virtual EC25s, each a separate
# `modemflash sim` process with device timing (NAND 10 MB/s, link 40 MB/s), updated at once
# by one `modemflash update --port … --port …` process. Prints the wall time, the update
# process's CPU (user + system) per module and its peak RSS (GNU time). No backup is taken
# (`--no-backup`): the benchmark times the update itself, the same work for 1 module as for N.
#
#   sh tools/bench-fleet.sh N PACKAGE_DIR [NAND_MBPS LINK_MBPS]
#
# PACKAGE_DIR: an EC25 package, e.g. from
#   target/release/examples/build_package firehose /tmp/pkg32 33554432
# Release builds: cargo build --release -p modemflash-cli
set -eu
n="$1"; pkg="$2"; nand="${3:-10}"; link="${4:-40}"
bin="${MODEMFLASH:-target/release/modemflash}"
work="$(mktemp -d)"
pids=""
ports=""
i=0
while [ "$i" -lt "$n" ]; do
    mkdir -p "$work/m$i"
    "$bin" sim --model ec25 --tty-dir "$work/m$i" --fastboot-tcp 127.0.0.1:0 --reenum-delay 2 \
        --nand-mbps "$nand" --link-mbps "$link" >"$work/sim$i.log" 2>&1 &
    pids="$pids $!"
    ports="$ports --port $work/m$i/dm"
    i=$((i + 1))
done
sleep 2
# shellcheck disable=SC2086
/usr/bin/time -f "wall %e s, cpu %U user + %S sys s, peak RSS %M KiB" \
    "$bin" update "$pkg" $ports --yes --json --no-backup --journal "$work/journal.json" >"$work/update.ndjson" 2>"$work/time.txt" || true
tail -n 1 "$work/time.txt"
grep '"event":"result"' "$work/update.ndjson" | sed 's/.*"ok":\([a-z]*\),"exit":\([0-9]*\).*/ok \1 exit \2/'
grep -o '"elapsed_ms":[0-9]*,"error":null,"event":"module_result"' "$work/update.ndjson" | sed 's/,"error.*//' | tr '\n' ' '
echo
# shellcheck disable=SC2086
kill $pids 2>/dev/null || true
wait 2>/dev/null || true
[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
