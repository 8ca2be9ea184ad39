#!/bin/sh
# The real Linux USB stack between modemflash and the virtual modules: each scenario starts
# `modemflash sim --usbip` on the host (the same virtual module the pty and TCP endpoints
# serve) and boots a QEMU guest (TCG, Debian's kernel, an initramfs) that attaches it with
# `usbip attach`, where vhci-hcd, qcserial, option and usbfs carry the update. Each scenario
# prints `SCENARIO <name>: PASS` or `SCENARIO <name>: FAIL <why>`; the run ends with
# `USB E2E PASS` only when every scenario passed. Recipe and pitfalls: README.md here.
#
#   sh tools/usb-e2e/run.sh [WORKDIR]          (E2E_SCENARIOS="a b" to run only some)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${1:-/tmp/modemflash-usb-e2e}
mkdir -p "$work"
work=$(cd "$work" && pwd)
cd "$work"

need="qemu-system-x86_64:qemu-system-x86 usbip:usbip busybox:busybox-static cpio:cpio insmod:kmod"
missing=""
for n in $need; do command -v "${n%%:*}" >/dev/null 2>&1 || missing="$missing ${n#*:}"; done
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing:$missing"
  (timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends $missing >/dev/null) \
    || echo "apt-get could not install:$missing"
fi
for n in $need; do
  if ! command -v "${n%%:*}" >/dev/null 2>&1; then echo "USB E2E: cannot run: ${n#*:} is not installed"; exit 2; fi
done

# Kernel and modules (downloaded, not installed).
if [ ! -d kpkg ]; then
  pkg=$(apt-cache depends linux-image-amd64 | grep -o 'linux-image-[0-9][^ ]*-amd64' | head -1)
  apt-get download "$pkg"
  dpkg-deb -x "$pkg"_*.deb kpkg
fi
kver=$(ls kpkg/lib/modules | head -1)
if [ ! -f vmlinux ]; then
  # The uncompressed ELF boots through PVH: no 2.7 s xz decompression under TCG.
  python3 -c "import lzma,sys;b=open(sys.argv[1],'rb').read();open('vmlinux','wb').write(lzma.LZMADecompressor().decompress(b[b.find(b'\xfd7zXZ\x00'):]))" kpkg/boot/vmlinuz-"$kver"
fi

# modemflash (the same binary on both sides) and the synthetic packages.
(cd "$repo" && cargo build -q -p modemflash-cli && cargo build -q -p modemflash-sim --example write_package)
mf="$repo/target/debug/modemflash"
rm -rf pkgs && mkdir pkgs
rev_legacy=$("$repo/target/debug/examples/write_package" legacy pkgs/legacy)
rev_firehose=$("$repo/target/debug/examples/write_package" firehose pkgs/firehose)

# initramfs: busybox, usbip, modemflash and their libraries, the USB/serial/net modules,
# /init, the scenarios and packages.
R=$(mktemp -d)
mkdir -p $R/bin $R/sbin $R/lib/x86_64-linux-gnu $R/lib64 $R/mods $R/proc $R/sys $R/dev $R/var/run $R/tmp $R/etc $R/pkg
cp /bin/busybox $R/bin/
for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox $R/bin/$a; done
cp /usr/sbin/usbip $R/sbin/
strip -o $R/bin/modemflash "$mf"
for lib in $(ldd /usr/sbin/usbip "$mf" | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do cp -L "$lib" "$R$lib" 2>/dev/null || cp -L "$lib" $R/lib/x86_64-linux-gnu/; done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' > $R/etc/passwd
printf 'root:x:0:\ndialout:x:20:\nplugdev:x:46:\nuser:x:1000:\n' > $R/etc/group
MOD=kpkg/lib/modules/$kver/kernel
for m in drivers/usb/common/usb-common drivers/usb/core/usbcore drivers/usb/usbip/usbip-core \
  drivers/usb/usbip/vhci-hcd drivers/usb/serial/usbserial drivers/usb/serial/usb_wwan \
  drivers/usb/serial/qcserial drivers/usb/serial/option drivers/virtio/virtio_ring drivers/virtio/virtio \
  drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci \
  net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
  cp $MOD/$m.ko $R/mods/; basename $m >> $R/mods/order
done
cp "$here/init" $R/init; chmod +x $R/init
cp -r "$here/scenarios" $R/scenarios
cp -r pkgs/legacy pkgs/firehose $R/pkg/
printf 'REV_LEGACY=%s\nREV_FIREHOSE=%s\n' "$rev_legacy" "$rev_firehose" > $R/pkg/revs
(cd $R && find . | cpio -o -H newc --quiet | gzip -1) > initrd.gz
rm -rf $R

# The modules each scenario needs: "MODEL START-MODE [sim options]" separated by ';'.
modules_for() {
  case $1 in
    list-modes) echo "ec20-r1 normal;ec20-r1 dload;ec25 normal;ec25 edl;ec20-r1 fastboot" ;;
    ec25-update-usbfs|ec25-update-tty) echo "ec25 normal" ;;
    fleet-update-usb) echo "ec25 normal;ec25 normal" ;;
    legacy-update-usb) echo "ec20-r1 normal" ;;
    legacy-recovery-fastboot-usb) echo "ec20-r1 fastboot" ;;
    late-reenum) echo "ec25 normal --fault slow-reenum=20" ;;
    modemmanager) echo "ec20-r1 normal" ;;
    fleet-modemmanager) echo "ec25 normal;ec25 normal" ;;
    permissions) echo "ec20-r1 fastboot" ;;
  esac
}
# Busybox guest (boots in ~4 s), one boot per scenario.
small="list-modes ec25-update-usbfs ec25-update-tty legacy-update-usb legacy-recovery-fastboot-usb late-reenum fleet-update-usb"
# Debian guest with udev, dbus and ModemManager (boots in ~25 s), one boot for all of them.
big="modemmanager permissions fleet-modemmanager"
scenarios=${E2E_SCENARIOS:-$small $big}

sims=""
cleanup() { for p in $sims; do kill "$p" 2>/dev/null || true; done; sims=""; }
trap cleanup EXIT INT TERM

# start_sims NAME: start the scenario's modules on ports from $base; sets $ports.
start_sims() {
  ports=""; i=0
  IFS=';'; set -- $(modules_for "$1"); unset IFS
  for spec in "$@"; do
    set -- $spec
    port=$((base + i)); i=$((i + 1))
    model=$1; mode=$2; shift 2
    "$mf" sim --model "$model" --start-mode "$mode" --reenum-delay 1 --usbip 127.0.0.1:$port --json "$@" > "sim-$s-$i.log" 2>&1 &
    sims="$sims $!"
    ports="${ports:+$ports,}$port"
  done
  base=$((base + 10))
}

failed=0
base=$(( 3400 + $$ % 400 * 10 ))
big_run=""
for s in $scenarios; do
  case " $big " in *" $s "*) big_run="$big_run $s"; continue ;; esac
  t0=$(date +%s)
  start_sims "$s"
  timeout 400 qemu-system-x86_64 -accel tcg -m 768M -smp 1 -nographic -no-reboot \
    -kernel vmlinux -initrd initrd.gz -append "console=ttyS0 quiet panic=-1 usbip_ports=$ports scenario=$s" \
    -nic user,model=virtio-net-pci </dev/null > "guest-$s.log" 2>&1 || true
  cleanup
  t1=$(date +%s)
  line=$(grep -a "^SCENARIO $s: " "guest-$s.log" | tail -1 | tr -d '\r')
  [ -n "$line" ] || line="SCENARIO $s: FAIL no verdict from the guest (see $work/guest-$s.log)"
  echo "$line [$((t1 - t0)) s]"
  case $line in *": PASS"*) ;; *) failed=1; grep -a '^  \[' "guest-$s.log" | tail -20 ;; esac
done

if [ -n "$big_run" ]; then
  # The Debian rootfs, cached: mmdebstrap once (about 2 min), then repacked with this
  # build's modemflash. Docs, locales and apt's state are dropped to keep it small.
  # A folder left by an earlier harness (mmdebstrap picks its format from the file name:
  # without an explicit format, `mmroot.tar.part` became a directory) is no cache.
  [ -d mmroot.tar ] && rm -rf mmroot.tar
  rm -rf mmroot.tar.part
  if [ ! -f mmroot.tar ]; then
    command -v mmdebstrap >/dev/null 2>&1 || (DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null) || true
    if command -v mmdebstrap >/dev/null 2>&1; then
      mmdebstrap --variant=apt --format=tar --include=modemmanager,dbus,udev,kmod,usbip,busybox-static bookworm mmroot.tar.part > mmdebstrap.log 2>&1 \
        && mv mmroot.tar.part mmroot.tar
    fi
  fi
  if [ ! -f mmroot.tar ]; then
    for s in $big_run; do echo "SCENARIO $s: FAIL cannot build the Debian rootfs (mmdebstrap; see $work/mmdebstrap.log)"; done
    failed=1
  else
    t0=$(date +%s)
    B=$(mktemp -d)
    tar -C $B -xf mmroot.tar
    rm -rf $B/usr/share/doc $B/usr/share/man $B/usr/share/locale $B/usr/share/info $B/usr/share/i18n \
      $B/usr/share/zoneinfo $B/var/cache/apt/* $B/var/lib/apt/lists/* $B/usr/share/perl* $B/usr/lib/x86_64-linux-gnu/perl*
    mkdir -p $B/mods $B/pkg $B/usr/local/bin
    for m in drivers/usb/common/usb-common drivers/usb/core/usbcore drivers/usb/usbip/usbip-core \
      drivers/usb/usbip/vhci-hcd drivers/usb/serial/usbserial drivers/usb/serial/usb_wwan \
      drivers/usb/serial/qcserial drivers/usb/serial/option drivers/virtio/virtio_ring drivers/virtio/virtio \
      drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci \
      net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
      cp $MOD/$m.ko $B/mods/; basename $m >> $B/mods/order
    done
    strip -o $B/usr/local/bin/modemflash "$mf"
    cp "$here/init-big" $B/init; chmod +x $B/init
    rm -rf $B/scenarios; cp -r "$here/scenarios" $B/scenarios
    cp -r pkgs/legacy pkgs/firehose $B/pkg/
    printf 'REV_LEGACY=%s\nREV_FIREHOSE=%s\n' "$rev_legacy" "$rev_firehose" > $B/pkg/revs
    # The test user: in plugdev and dialout, as a desktop user is.
    echo 'user:x:1000:1000:user:/tmp:/bin/sh' >> $B/etc/passwd
    echo 'user:x:1000:' >> $B/etc/group
    sed -i 's/^plugdev:x:46:$/plugdev:x:46:user/; s/^dialout:x:20:$/dialout:x:20:user/' $B/etc/group
    (cd $B && find . | cpio -o -H newc --quiet | gzip -1) > initrd-big.gz
    rm -rf $B
    echo "Debian guest initramfs: $(du -m initrd-big.gz | cut -f1) MB, packed in $(( $(date +%s) - t0 )) s"
    append="console=ttyS0 quiet panic=-1 scenarios=$(echo $big_run | tr ' ' ,)"
    for s in $big_run; do start_sims "$s"; append="$append ports_$s=$ports"; done
    timeout 600 qemu-system-x86_64 -accel tcg -m 2048M -smp 1 -nographic -no-reboot \
      -kernel vmlinux -initrd initrd-big.gz -append "$append" \
      -nic user,model=virtio-net-pci </dev/null > guest-debian.log 2>&1 || true
    cleanup
    ready=$(grep -a '^GUEST_READY' guest-debian.log | cut -d' ' -f2 | tr -d '\r')
    echo "Debian guest: booted to udev + dbus in ${ready:-?} s (guest clock)"
    for s in $big_run; do
      line=$(grep -a "^SCENARIO $s: " guest-debian.log | tail -1 | tr -d '\r')
      [ -n "$line" ] || line="SCENARIO $s: FAIL no verdict from the guest (see $work/guest-debian.log)"
      a=$(grep -a "^SCENARIO_START $s " guest-debian.log | cut -d' ' -f3 | tr -d '\r')
      b=$(grep -a "^SCENARIO_END $s " guest-debian.log | cut -d' ' -f3 | tr -d '\r')
      echo "$line [$(awk "BEGIN { printf \"%d\", ${b:-0} - ${a:-0} }") s guest time]"
      case $line in *": PASS"*) ;; *) failed=1 ;; esac
      grep -a "^  \[$s\]" guest-debian.log | tail -20
    done
  fi
fi
if [ "$failed" = 0 ]; then echo "USB E2E PASS"; else echo "USB E2E FAIL"; exit 1; fi
