# The module comes back only 20 s after each reset; the update waits and completes.
if wait_usb 1 60; then run_update "$REV_FIREHOSE" /pkg/firehose; else fail "no module attached"; fi
