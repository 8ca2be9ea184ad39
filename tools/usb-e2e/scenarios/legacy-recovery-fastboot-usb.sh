# The field user's module: stuck in fastboot (18d1:d00d, serial MDM9615) at power-on.
if wait_usb 1 60; then run_update "$REV_LEGACY" /pkg/legacy; else fail "no module attached"; fi
