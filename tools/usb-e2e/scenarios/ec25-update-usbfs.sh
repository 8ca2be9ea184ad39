# EC25 from normal mode, found by USB discovery: DIAG over option's tty, then EDL over raw
# usbfs (qcserial detached, interface claimed, bulk with ZLPs), back to normal, verify.
if wait_usb 1 60; then run_update "$REV_FIREHOSE" /pkg/firehose; else fail "no module attached"; fi
