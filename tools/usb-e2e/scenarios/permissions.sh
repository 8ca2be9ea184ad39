# A user in plugdev and dialout, without modemflash's udev rule: the module stuck in
# fastboot (18d1:d00d, no tty; only usbfs, which Debian's default rules leave 0664 root).
# The update must refuse clearly and doctor name the node and the rule. Then install the
# rule as `modemflash setup udev` writes it, and the same update as the same user succeeds.
as_user() { setpriv --reuid=1000 --regid=1000 --groups=46,20 --inh-caps=-all env HOME=/tmp XDG_STATE_HOME=/tmp/user-state "$@"; }
if ! wait_usb 1 60; then
  fail "no module attached"
else
  sleep 1
  d=/sys/bus/usb/devices/1-1
  node=$(printf '/dev/bus/usb/%03d/%03d' "$(cat $d/busnum)" "$(cat $d/devnum)")
  echo "  [$SCENARIO] $(ls -l "$node")"
  as_user "$MF" update /pkg/legacy --yes > /tmp/u1.out 2> /tmp/u1.err; rc1=$?
  as_user "$MF" doctor --json > /tmp/doctor.json 2>/dev/null
  show /tmp/u1.err 6
  why=""
  [ "$rc1" != 0 ] || why="the update ran without access"
  grep -qi "permission\|access" /tmp/u1.err || why="$why; the refusal does not say access/permission"
  grep -q "setup udev" /tmp/u1.err || why="$why; the refusal does not name the udev rule"
  grep -q '"not-accessible"' /tmp/doctor.json || why="$why; doctor has no not-accessible finding"
  grep -q "$node" /tmp/doctor.json || why="$why; doctor does not name $node"
  grep -q '"install-udev-rules"' /tmp/doctor.json || why="$why; doctor does not propose the udev rule"
  if [ -n "$why" ]; then
    show /tmp/doctor.json 3
    fail "without the rule: ${why#; }"
  else
    "$MF" setup udev > /tmp/setup.out 2>&1 || show /tmp/setup.out
    udevadm trigger --action=add; udevadm settle -t 10
    echo "  [$SCENARIO] after the rule: $(ls -l "$node")"
    XDG_STATE_HOME=/tmp/user-state
    mkdir -p /tmp/user-state; chown 1000:1000 /tmp/user-state
    rev=$REV_LEGACY
    t0=$(date +%s)
    as_user "$MF" update /pkg/legacy --yes --json --timeout 90 > /tmp/u2.json 2> /tmp/u2.err; rc2=$?
    t1=$(date +%s)
    if [ "$rc2" = 0 ] && update_ok /tmp/u2.json "$rev"; then
      pass "refused without the rule, updated as the user with it in $((t1 - t0)) s"
    else
      show /tmp/u2.json 8; show /tmp/u2.err 8
      fail "with the rule installed the update exited $rc2"
    fi
  fi
fi
