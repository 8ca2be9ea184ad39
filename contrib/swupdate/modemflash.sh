#!/bin/sh
# SWUpdate shell-script handler for cellular modules updated by modemflash.
#
# In sw-description (JSON), the package goes in as a file and this script as a
# `shellscript` (see sw-description.json next to it):
#   "files":   [{"filename": "fw.zip", "path": "/var/lib/modemflash/swupdate/fw.zip", "sha256": "…"}]
#   "scripts": [{"filename": "modemflash.sh", "type": "shellscript", "sha256": "…"}]
# SWUpdate runs it with `preinst` before the files are installed and `postinst` after; at
# postinst it runs `modemflash update PACKAGE --yes --json`.
#
# Configuration: /etc/modemflash/swupdate.conf (MODEMFLASH_SWUPDATE_CONF names another):
#   package = PATH    where sw-description installs the package (default
#                     /var/lib/modemflash/swupdate/fw.zip)
#   device = SEL      which module (the selectors of `modemflash update --device`);
#                     without it the one module found on USB
#   journal = PATH    the journal (keep it on persistent storage: after a reboot in the
#                     middle, installing the same .swu again continues from it)
#   result = PATH     where the last `result` object is kept (default: next to the package,
#                     modemflash-result.json)
#   binary = PATH     the modemflash binary (default: modemflash on PATH)
#   timeout = SECS    seconds to wait for each re-enumeration
#
# The exit status is modemflash's (0 only when its result says "ok":true), so SWUpdate
# reports the update failed when the module was not updated. Note: SWUpdate 2022.12's own
# exit status after `-i` is not reliable (identical successful runs exit 0 or 1); read its
# log ("SWUPDATE successful" / "SWUpdate *failed*") and the result file instead.
set -u

conf="${MODEMFLASH_SWUPDATE_CONF:-/etc/modemflash/swupdate.conf}"

setting() {
    [ -r "$conf" ] || return 0
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$conf" | sed 's/[[:space:]]*$//' | tail -n 1
}

pkg="$(setting package)"
[ -n "$pkg" ] || pkg=/var/lib/modemflash/swupdate/fw.zip
device="$(setting device)"
journal="$(setting journal)"
timeout="$(setting timeout)"
result_file="$(setting result)"
[ -n "$result_file" ] || result_file="$(dirname "$pkg")/modemflash-result.json"
bin="$(setting binary)"
[ -n "$bin" ] || bin=modemflash

log() { echo "modemflash swupdate script: $*" >&2; }

case "${1:-}" in
    preinst)
        log "preinst"
        command -v "$bin" >/dev/null 2>&1 || { log "no modemflash binary ($bin)"; exit 1; }
        exit 0
        ;;
    postinst)
        log "postinst"
        [ -f "$pkg" ] || { log "the package is not at $pkg (the files entry of sw-description)"; exit 1; }
        set -- update "$pkg" --yes --json
        [ -n "$device" ] && set -- "$@" --device "$device"
        [ -n "$journal" ] && set -- "$@" --journal "$journal"
        [ -n "$timeout" ] && set -- "$@" --timeout "$timeout"
        log "running $bin $*"
        out="$(mktemp)"
        "$bin" "$@" >"$out"
        code=$?
        grep '"event":"result"' "$out" | tail -n 1 >"$result_file"
        rm -f "$out"
        log "exit $code; result: $(cat "$result_file")"
        if [ "$code" -eq 0 ] && grep -q '"ok":true' "$result_file"; then exit 0; fi
        [ "$code" -eq 0 ] && code=1
        exit "$code"
        ;;
    *)
        # postfailure and anything newer: nothing to undo on the module.
        exit 0
        ;;
esac
