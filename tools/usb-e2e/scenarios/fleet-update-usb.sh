# Two EC25s from normal mode, `update --all`: one process, one USB watcher handing each
# re-enumerated device (DIAG → EDL → normal, twice over) back to its own module. PASS when
# it exits 0 and both module_result lines report the new revision.
if wait_usb 2 60; then
  update_all /pkg/firehose "$REV_FIREHOSE" 90
  ids=$(grep -a ' {"event":"module_result"' /tmp/update.json | grep -ao '"id":"[^"]*"' | sort -u | wc -l)
  if [ "$rc" = 0 ] && [ "$good" = 2 ] && [ "$ids" -ge 2 ]; then
    steps /tmp/update.json | grep -a 'module_result' | cut -c1-200
    pass "update of 2 modules $took s"
  else
    show /tmp/update.json 12; show /tmp/update.err 12
    fail "update --all exited $rc with $good of 2 modules at $REV_FIREHOSE: $(tail -n 1 /tmp/update.err | cut -c1-200)"
  fi
else
  fail "two modules did not attach"
fi
usbip port 2>&1 | sed "s/^/  [$SCENARIO] usbip port: /"
