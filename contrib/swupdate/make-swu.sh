#!/bin/sh
# Build a signed .swu for SWUpdate from a modemflash package (zip):
#   sh contrib/swupdate/make-swu.sh PACKAGE.zip KEY.pem CERT.pem OUT.swu [INSTALL_PATH]
# sw-description is signed with CMS (openssl cms), as Debian's SWUpdate requires; install
# with `swupdate -i OUT.swu -k CERT.pem -H BOARD:1.0`. INSTALL_PATH is where SWUpdate puts
# the package (default /var/lib/modemflash/swupdate/fw.zip; the script's `package =`).
set -eu
pkg="$1"; key="$2"; cert="$3"; out="$4"; dest="${5:-/var/lib/modemflash/swupdate/fw.zip}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
cp "$pkg" "$work/fw.zip"
cp "$here/modemflash.sh" "$work/modemflash.sh"
fw_sha="$(sha256sum "$work/fw.zip" | cut -d' ' -f1)"
sh_sha="$(sha256sum "$work/modemflash.sh" | cut -d' ' -f1)"
sed -e "s|@FW_SHA256@|$fw_sha|" -e "s|@SCRIPT_SHA256@|$sh_sha|" \
    -e "s|/var/lib/modemflash/swupdate/fw.zip|$dest|" "$here/sw-description.json" >"$work/sw-description"
openssl cms -sign -in "$work/sw-description" -out "$work/sw-description.sig" -signer "$cert" -inkey "$key" \
    -outform DER -nosmimecap -binary
# sw-description first, its signature next, then the files (cpio "crc" format).
(cd "$work" && printf 'sw-description\nsw-description.sig\nfw.zip\nmodemflash.sh\n' | cpio -o -H crc --quiet) >"$out"
rm -rf "$work"
