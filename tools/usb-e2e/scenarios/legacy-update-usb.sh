# EC20 R1 from normal mode, by USB discovery, no --port: DIAG → DLOAD (05c6:9215, one
# interface) → streaming → fastboot over USB (nusb) → normal, then verify.
if wait_usb 1 60; then run_update "$REV_LEGACY" /pkg/legacy; else fail "no module attached"; fi
