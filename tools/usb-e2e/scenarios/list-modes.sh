# Five modules on the bus at once: EC20 R1 normal and DLOAD, EC25 normal and EDL, fastboot.
# `modemflash list --json` must name each mode from sysfs alone.
if ! wait_usb 5 60; then
  fail "only $(ls -d /sys/bus/usb/devices/[0-9]-[0-9]* 2>/dev/null | grep -vc ':') of 5 modules attached"
else
  sleep 2  # drivers bind after enumeration
  "$MF" list --json > /tmp/list.json 2> /tmp/list.err
  # One line per module: vid pid bcd_device mode.
  # Keys are sorted: each module object starts with "bcd_device".
  got=$(awk 'BEGIN { RS = "\"bcd_device\":" } NR > 1 {
      v = p = m = "?"; b = $0; sub(/[^0-9].*/, "", b)
      if (match($0, /"vid":[0-9]+/)) v = substr($0, RSTART + 6, RLENGTH - 6)
      if (match($0, /"pid":[0-9]+/)) p = substr($0, RSTART + 6, RLENGTH - 6)
      if (match($0, /"mode":"[a-z-]+"/)) m = substr($0, RSTART + 8, RLENGTH - 9)
      print v ":" p ":" b ":" m }' /tmp/list.json | sort | tr '\n' ' ')
  # 05c6:9215 normal (0x0232) and DLOAD (0), 2c7c:0125 normal, 05c6:9008 EDL, 18d1:d00d.
  want="11388:293:792:normal 1478:36872:0:qd-loader 1478:37397:0:dload 1478:37397:562:normal 6353:53261:256:fastboot "
  if [ "$got" = "$want" ]; then pass; else show /tmp/list.json 5; fail "list named: $got (want $want)"; fi
fi
