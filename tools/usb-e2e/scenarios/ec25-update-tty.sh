# The same update through the ttys: DIAG on ttyUSB0 (option), then the QDLoader tty that
# qcserial gives 05c6:9008, which takes the name ttyUSB0.
if wait_usb 1 60 && [ -e /dev/ttyUSB0 ] || { sleep 3; [ -e /dev/ttyUSB0 ]; }; then
  run_update "$REV_FIREHOSE" /pkg/firehose --port /dev/ttyUSB0
else
  fail "no /dev/ttyUSB0"
fi
