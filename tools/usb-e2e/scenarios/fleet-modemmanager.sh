# Two EC25s in normal mode under Debian's real ModemManager, `update --all`: each module's
# USB path must be inhibited over D-Bus (ModemManager logs "device inhibition setup for uid"
# once per module) and both updates complete.
ModemManager --debug > /tmp/mm.log 2>&1 &
MM_PID=$!
if ! wait_usb 2 60; then
  fail "two modules did not attach"
else
  i=0
  while [ $i -lt 90 ] && [ "$(grep -c 'ttyUSB[0-9]' /tmp/mm.log)" -lt 2 ]; do sleep 1; i=$((i + 1)); done
  sleep 5
  before=$(wc -l < /tmp/mm.log)
  update_all /pkg/firehose "$REV_FIREHOSE" 120
  uids=$(tail -n +"$before" /tmp/mm.log | grep -a 'device inhibition setup for uid' | grep -ao "uid '[^']*'" | sort -u | wc -l)
  tail -n +"$before" /tmp/mm.log | grep -a 'inhibition setup' | cut -c1-200 | sed "s/^/  [$SCENARIO] during: /"
  if [ "$rc" = 0 ] && [ "$good" = 2 ] && [ "$uids" -ge 2 ]; then
    pass "2 modules in $took s, ModemManager inhibited on $uids USB paths"
  else
    show /tmp/update.json 12; show /tmp/update.err 12
    fail "update --all exited $rc, $good of 2 modules at $REV_FIREHOSE, $uids inhibited USB paths"
  fi
fi
kill $MM_PID 2>/dev/null
