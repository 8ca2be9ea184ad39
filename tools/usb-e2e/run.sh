#!/bin/sh
# End-to-end check of modemflash's raw USB path on a real Linux USB stack, without hardware:
# a simulated 05c6:9008 (tools/usb-e2e/sim, USB/IP) is attached inside a QEMU guest (TCG),
# where qcserial binds it; tools/usb-e2e/guest then runs modemflash's sysfs discovery, UsbBus
# over the qcserial tty, and nusb raw bulk I/O (qcserial detached, ZLP, 1 MiB transfers).
# Recipe and pitfalls: `tools/usb-e2e/README.md`.
#
# Needs (Debian): qemu-system-x86 busybox-static usbip cpio kmod, and a linux-image package
# (downloaded with apt-get download, not installed). Takes ~1 min after the builds.
#   sh tools/usb-e2e/run.sh [WORKDIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-/tmp/modemflash-usb-e2e}
mkdir -p "$work"
cd "$work"

# Kernel and modules.
if [ ! -d kpkg ]; then
  pkg=$(apt-cache depends linux-image-amd64 | grep -o 'linux-image-[0-9][^ ]*-amd64' | head -1)
  apt-get download "$pkg"
  dpkg-deb -x "$pkg"_*.deb kpkg
fi
kver=$(ls kpkg/lib/modules | head -1)
if [ ! -f vmlinux ]; then
  python3 -c "import lzma,sys;b=open(sys.argv[1],'rb').read();open('vmlinux','wb').write(lzma.LZMADecompressor().decompress(b[b.find(b'\xfd7zXZ\x00'):]))" kpkg/boot/vmlinuz-"$kver"
fi

# The two programs: the device (host) and the check (guest, static).
(cd "$here" && cargo build -q -p usb-e2e-sim)
(cd "$here" && RUSTFLAGS="-C target-feature=+crt-static" cargo build -q -p usb-e2e-guest --target x86_64-unknown-linux-gnu)
sim="$here/target/debug/usb-e2e-sim"
guest="$here/target/x86_64-unknown-linux-gnu/debug/usb-e2e-guest"

# initramfs: busybox, usbip, the USB and network modules, /init, the check.
R=$(mktemp -d)
mkdir -p $R/bin $R/sbin $R/lib/x86_64-linux-gnu $R/lib64 $R/mods $R/proc $R/sys $R/dev $R/var/run $R/tmp
cp /bin/busybox $R/bin/
for a in sh mount insmod ip cat ls echo sleep poweroff stty seq readlink basename; do ln -s busybox $R/bin/$a; done
cp /usr/sbin/usbip $R/sbin/
cp -L /lib/x86_64-linux-gnu/libudev.so.1 /lib/x86_64-linux-gnu/libc.so.6 $R/lib/x86_64-linux-gnu/
cp -L /lib64/ld-linux-x86-64.so.2 $R/lib64/
MOD=kpkg/lib/modules/$kver/kernel
for m in drivers/usb/common/usb-common drivers/usb/core/usbcore drivers/usb/usbip/usbip-core \
  drivers/usb/usbip/vhci-hcd drivers/usb/serial/usbserial drivers/usb/serial/usb_wwan \
  drivers/usb/serial/qcserial drivers/usb/serial/option drivers/virtio/virtio_ring drivers/virtio/virtio \
  drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci \
  net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
  cp $MOD/$m.ko $R/mods/; basename $m >> $R/mods/order
done
cp "$here/init" $R/init; chmod +x $R/init
strip -o $R/guest-check "$guest"
(cd $R && find . | cpio -o -H newc --quiet | gzip -1) > initrd.gz
rm -rf $R

# Device on the host, guest in QEMU.
port=$(( 3300 + $$ % 500 ))
"$sim" $port > sim.log 2>&1 &
simpid=$!
trap 'kill $simpid 2>/dev/null || true' EXIT
for i in $(seq 1 50); do grep -q READY sim.log && break; sleep 0.1; done
timeout 300 qemu-system-x86_64 -accel tcg -m 512M -smp 1 -nographic -no-reboot \
  -kernel vmlinux -initrd initrd.gz -append "console=ttyS0 quiet panic=-1 usbip_port=$port" \
  -nic user,model=virtio-net-pci </dev/null > guest.log 2>&1 || true
kill $simpid 2>/dev/null || true

grep -a -E '^(ATTACH_OK|CHECK|E2E)' guest.log || true
# What the device saw from the raw-USB part: 1000 bytes (no ZLP), 1024 + ZLP, then the
# 2 MiB + 512 write as two 1 MiB transfers, the tail, and a ZLP.
want="OUT 1000 OUT 1024 OUT 0 OUT 1048576 OUT 1048576 OUT 512 OUT 0"
seen=$(sed -n '/^OUT 1000$/,$p' sim.log | tr '\n' ' ' | sed 's/ $//')
echo "SIM OUT transfers: $seen"
grep -a -q '^E2E PASS' guest.log && [ "$seen" = "$want" ] && echo "USB E2E PASS"
