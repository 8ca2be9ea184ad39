# Two EC25s from normal mode, `update --all`: one process, one USB watcher handing each
# re-enumerated device (DIAG → EDL → normal, twice over) back to its own module. PASS when
# it exits 0 and both module_result lines report the new revision.
if wait_usb 2 60; then
  t0=$(date +%s)
  { "$MF" update /pkg/firehose --all --yes --json --timeout 90 --no-backup --journal /tmp/journal.json \
      2> /tmp/update.err; echo $? > /tmp/rc; } \
    | while IFS= read -r l; do echo "$(cut -d' ' -f1 /proc/uptime) $l"; done > /tmp/update.json
  rc=$(cat /tmp/rc)
  t1=$(date +%s)
  good=$(grep -a ' {"event":"module_result"' /tmp/update.json | grep -a '"ok":true' \
    | grep -ac "\"revision_after\":\"$REV_FIREHOSE\"")
  ids=$(grep -a ' {"event":"module_result"' /tmp/update.json | grep -ao '"id":"[^"]*"' | sort -u | wc -l)
  if [ "$rc" = 0 ] && [ "$good" = 2 ] && [ "$ids" -ge 2 ]; then
    steps /tmp/update.json | grep -a 'module_result' | cut -c1-200
    pass "update of 2 modules $((t1 - t0)) s"
  else
    show /tmp/update.json 12; show /tmp/update.err 12
    fail "update --all exited $rc with $good of 2 modules at $REV_FIREHOSE: $(tail -n 1 /tmp/update.err | cut -c1-200)"
  fi
else
  fail "two modules did not attach"
fi
usbip port 2>&1 | sed "s/^/  [$SCENARIO] usbip port: /"
