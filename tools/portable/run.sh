#!/bin/sh
# Runs the portable builds of packaging/dist.sh as their users would, on this Linux machine:
#   - the arm64 binary under qemu-aarch64-static: `demo`, then an update of a virtual EC20 R1
#     served by the arm64 `modemflash sim` over ptys (both sides arm64);
#   - the Windows binary under Wine (Debian's wine64): `demo`, `inspect`, then an update of a
#     virtual EC20 R1 served by the static x86_64 Linux binary, over a COM port that Wine maps
#     to the simulator's DM pty and fastboot over TCP.
# Prints `PORTABLE <name>: PASS|FAIL <why>` per run and ends with `PORTABLE PASS` only when all
# pass. What this proves and what it does not: README.md, "Portable builds".
# Usage: sh tools/portable/run.sh [WORKDIR]     (builds with packaging/dist.sh unless
#        MODEMFLASH_DIST_READY=1 says target/dist is already built)
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
W=${1:-$(mktemp -d)}
mkdir -p "$W"
W=$(cd "$W" && pwd)
DIST=$ROOT/target/dist
FAILS=0
PIDS=""

cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

need() { # command, Debian package
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] && return 0
  (timeout 300 apt-get update -qq && timeout 900 apt-get install -y -qq "$2" >/dev/null) 2>/dev/null || true
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]
}

result() { # name, rc, log, why
  if [ "$2" -eq 0 ]; then
    echo "PORTABLE $1: PASS ($(cat "$W/$1.time" 2>/dev/null || echo '?') s)"
  else
    echo "PORTABLE $1: FAIL $4 (log: $3)"
    sed 's/^/    | /' "$3" | tail -25
    FAILS=$((FAILS + 1))
  fi
}

timed() { # name, command...: runs it, records seconds and the log
  name=$1; shift
  t0=$(date +%s%N)
  rc=0
  "$@" >"$W/$name.log" 2>&1 || rc=$?
  t1=$(date +%s%N)
  ds=$(((t1 - t0) / 100000000))
  echo "$((ds / 10)).$((ds % 10))" >"$W/$name.time"
  return $rc
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # path, seconds
  i=0
  while [ ! -e "$1" ] && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
  [ -e "$1" ]
}

if [ "${MODEMFLASH_DIST_READY:-0}" != 1 ]; then
  sh packaging/dist.sh
fi
for b in modemflash-x86_64-linux modemflash-aarch64-linux modemflash-x86_64-windows.exe; do
  [ -f "$DIST/$b" ] || { echo "PORTABLE build: FAIL $DIST/$b is missing (sh packaging/dist.sh)"; exit 1; }
  echo "PORTABLE size $b: $(wc -c <"$DIST/$b") bytes"
done
# The static binaries must need no dynamic loader at all: no PT_INTERP program header.
for b in modemflash-x86_64-linux modemflash-aarch64-linux; do
  if python3 tools/portable/elf_interp.py "$DIST/$b"; then
    echo "PORTABLE static-$b: PASS (no program interpreter)"
  else
    echo "PORTABLE static-$b: FAIL it names a program interpreter (dynamically linked)"; FAILS=$((FAILS + 1))
  fi
done

# A package to update with, written by the project's package builder (host build).
PKG=$W/EC20AQAR02A04E2G
rm -rf "$PKG"
cargo run -q --locked -p modemflash-sim --example build_package -- legacy "$PKG" 2>"$W/build_package.log"

# --- arm64 under qemu-user ---------------------------------------------------------------
if need qemu-aarch64-static qemu-user-static; then
  A64="qemu-aarch64-static $DIST/modemflash-aarch64-linux"
  rc=0; timed arm64-demo $A64 demo || rc=$?
  [ $rc -eq 0 ] && ! grep -q "EC20AQAR02A04E2G" "$W/arm64-demo.log" && rc=1
  result arm64-demo $rc "$W/arm64-demo.log" "demo exited $rc or did not reach EC20AQAR02A04E2G"

  D=$W/a64-ec20; rm -rf "$D"; P=$(free_port)
  $A64 sim --model ec20-r1 --tty-dir "$D" --fastboot-tcp "127.0.0.1:$P" --reenum-delay 1 >"$W/arm64-sim.log" 2>&1 &
  PIDS="$PIDS $!"
  if wait_for "$D/dm" 30; then
    rc=0; timed arm64-update-pty $A64 update "$PKG" --port "$D/dm" --fastboot "tcp:127.0.0.1:$P" --yes --journal "$W/a64-journal.json" || rc=$?
    [ $rc -eq 0 ] && ! grep -q "EC20AQAR02A04E2G" "$W/arm64-update-pty.log" && rc=1
    result arm64-update-pty $rc "$W/arm64-update-pty.log" "update exited $rc"
  else
    result arm64-update-pty 1 "$W/arm64-sim.log" "the arm64 simulator never showed $D/dm"
  fi
else
  echo "PORTABLE arm64: SKIPPED (qemu-user-static cannot be installed here)"
fi

# --- Windows under Wine --------------------------------------------------------------------
WINE=/usr/lib/wine/wine64
if need "$WINE" wine64 && need x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64; then
  WD=$W/win; mkdir -p "$WD"
  cp "$DIST/modemflash-x86_64-windows.exe" "$WD/modemflash.exe"
  # Test-harness shim for Wine 8 (see bcryptprimitives-shim.c); it never ships.
  x86_64-w64-mingw32-gcc -shared -O2 -o "$WD/bcryptprimitives.dll" tools/portable/bcryptprimitives-shim.c \
    tools/portable/bcryptprimitives-shim.def -ladvapi32
  export WINEPREFIX="$W/wineprefix" WINEDEBUG=-all
  mkdir -p "$WINEPREFIX"
  timeout 300 "$WINE" wineboot -i >/dev/null 2>&1 || true
  run_win() { (cd "$WD" && timeout 600 "$WINE" modemflash.exe "$@"); }

  rc=0; timed win-demo run_win demo || rc=$?
  [ $rc -eq 0 ] && ! grep -q "EC20AQAR02A04E2G" "$W/win-demo.log" && rc=1
  result win-demo $rc "$W/win-demo.log" "demo exited $rc or did not reach EC20AQAR02A04E2G"

  rc=0; timed win-inspect run_win inspect "Z:$PKG" || rc=$?
  [ $rc -eq 0 ] && ! grep -qi "MDM9615" "$W/win-inspect.log" && rc=1
  result win-inspect $rc "$W/win-inspect.log" "inspect exited $rc or did not name the MDM9615"

  D=$W/win-ec20; rm -rf "$D"; P=$(free_port)
  "$DIST/modemflash-x86_64-linux" sim --model ec20-r1 --tty-dir "$D" --fastboot-tcp "127.0.0.1:$P" --reenum-delay 1 >"$W/win-sim.log" 2>&1 &
  PIDS="$PIDS $!"
  # COM5 is the simulator's DM pty; the link follows the module across re-enumerations.
  ln -sfn "$D/dm" "$WINEPREFIX/dosdevices/com5"
  if wait_for "$D/dm" 30; then
    rc=0; timed win-update-com-tcp run_win update "Z:$PKG" --port COM5 --fastboot "tcp:127.0.0.1:$P" --yes --journal "Z:$W/win-journal.json" || rc=$?
    [ $rc -eq 0 ] && ! grep -q "EC20AQAR02A04E2G" "$W/win-update-com-tcp.log" && rc=1
    result win-update-com-tcp $rc "$W/win-update-com-tcp.log" "update exited $rc"
  else
    result win-update-com-tcp 1 "$W/win-sim.log" "the simulator never showed $D/dm"
  fi
else
  echo "PORTABLE windows: SKIPPED (wine64 or gcc-mingw-w64-x86-64 cannot be installed here)"
fi

if [ $FAILS -eq 0 ]; then echo "PORTABLE PASS"; else echo "PORTABLE FAIL ($FAILS)"; exit 1; fi
