# The real ModemManager (Debian's) probes the EC20 R1's ports in normal mode; the update
# must inhibit it over D-Bus and complete. First show that ModemManager does touch the
# ports when nothing stops it, so the pass proves something.
ModemManager --debug > /tmp/mm.log 2>&1 &
MM_PID=$!
if ! wait_usb 1 60; then
  fail "no module attached"
else
  i=0
  while [ $i -lt 90 ] && ! grep -q 'ttyUSB[0-9].*\(AT\|QCDM\|probing\)\|probing.*ttyUSB' /tmp/mm.log; do sleep 1; i=$((i + 1)); done
  sleep 5
  touched=$(grep -c 'ttyUSB[0-9]' /tmp/mm.log)
  grep 'ttyUSB[0-9]' /tmp/mm.log | head -8 | cut -c1-200 | sed "s/^/  [$SCENARIO] before: /"
  if [ "$touched" -eq 0 ]; then
    show /tmp/mm.log 15
    fail "ModemManager never touched the module's ports: nothing to prove"
  else
    before=$(wc -l < /tmp/mm.log)
    run_update "$REV_LEGACY" /pkg/legacy
    tail -n +"$before" /tmp/mm.log | grep -i 'inhibit' | head -5 | cut -c1-200 | sed "s/^/  [$SCENARIO] during: /"
    if ! tail -n +"$before" /tmp/mm.log | grep -qi 'inhibit'; then
      echo "SCENARIO $SCENARIO: FAIL ModemManager logged no inhibition during the update"
    fi
  fi
fi
kill $MM_PID 2>/dev/null
