# Helpers for the scenario scripts (sourced by /init, busybox sh).
MF=/usr/local/bin/modemflash
[ -x "$MF" ] || MF=/bin/modemflash
# start_attach PORTS: keep attaching the module exported on each port (comma-separated),
# one attach at a time (the usbip tool picks a free vhci port; two at once pick the same).
# A module that re-enumerates is detached by the host and attached again here, like a replug.
# The tool takes the lowest free vhci port, so a module that came back before one listed
# ahead of it would take its neighbour's USB path: on a real hub a module never changes
# port. So a pass stops at the first listed module that is away, and the ones after it wait:
# module i always gets vhci port i, i.e. USB path 1-(i+1).
start_attach() {
  mkdir -p /var/run
  ( while :; do
      up=$(usbip port 2>/dev/null)
      for p in $(echo "$1" | tr , ' '); do
        case "$up" in *":$p/"*) continue ;; esac
        if usbip --tcp-port "$p" attach -r 10.0.2.2 -b 1-1 > /tmp/attach.log 2>&1; then
          echo "ATTACHED port $p"
          up=$(usbip port 2>/dev/null)
        else
          break
        fi
      done
      sleep 0.3
    done ) &
  ATTACH_PID=$!
}
# stop_attach: stop attaching and unplug everything.
stop_attach() {
  kill "$ATTACH_PID" 2>/dev/null
  for p in 0 1 2 3 4 5 6 7; do usbip detach -p $p >/dev/null 2>&1; done
  sleep 1
}
pass() { echo "SCENARIO $SCENARIO: PASS${1:+ ($1)}"; }
fail() { echo "SCENARIO $SCENARIO: FAIL $*"; }
# wait_usb N SECS: wait until N USB devices are attached.
wait_usb() {
  i=0
  while [ "$i" -lt $(( $2 * 10 )) ]; do
    n=$(ls -d /sys/bus/usb/devices/[0-9]-[0-9]* 2>/dev/null | grep -vc ':')
    [ "$n" -ge "$1" ] && return 0
    sleep 0.1; i=$((i + 1))
  done
  return 1
}
# show FILE: the last lines of a log, on the console for the host's log.
# steps FILE: when each step started (guest uptime), for the host's log.
steps() { grep -av "\"progress\"" "$1" | cut -c1-160 | sed "s/^/  [$SCENARIO] /"; }
show() { tail -n "${2:-25}" "$1" | sed "s/^/  [$SCENARIO] /"; }
# update_ok OUT REV: the update's NDJSON ends with a result whose revision_after is REV.
update_ok() {
  tail -n 1 "$1" | grep -q '"event":"result"' && tail -n 1 "$1" | grep -q "\"revision_after\":\"$2\""
}
# run_update NAME REV ARGS...: one update; PASS when it exits 0 and the module reports REV.
run_update() {
  rev=$1; shift
  t0=$(date +%s)
  { "$MF" update "$@" --yes --json --timeout 90 --journal /tmp/journal.json 2> /tmp/update.err; echo $? > /tmp/rc; } \
    | while IFS= read -r l; do echo "$(cut -d' ' -f1 /proc/uptime) $l"; done > /tmp/update.json
  rc=$(cat /tmp/rc)
  t1=$(date +%s)
  if [ "$rc" = 0 ] && update_ok /tmp/update.json "$rev"; then
    steps /tmp/update.json
    pass "update $((t1 - t0)) s"
  else
    show /tmp/update.json 12; show /tmp/update.err 12
    fail "update exited $rc: $(tail -n 1 /tmp/update.err | cut -c1-200)"
  fi
}
# update_all PKG REV TIMEOUT: one `update PKG --all` (no backup) into /tmp/update.json; sets
# rc (its exit code), took (seconds) and good (module_result lines ok at REV).
update_all() {
  t0=$(date +%s)
  { "$MF" update "$1" --all --yes --json --timeout "$3" --no-backup --journal /tmp/journal-all.json \
      2> /tmp/update.err; echo $? > /tmp/rc; } \
    | while IFS= read -r l; do echo "$(cut -d' ' -f1 /proc/uptime) $l"; done > /tmp/update.json
  rc=$(cat /tmp/rc)
  took=$(( $(date +%s) - t0 ))
  good=$(grep -a ' {"event":"module_result"' /tmp/update.json | grep -a '"ok":true' \
    | grep -ac "\"revision_after\":\"$2\"")
}
[ -f /pkg/revs ] && . /pkg/revs
