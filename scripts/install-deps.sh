#!/bin/sh
# Install what modemfw needs to build and test, with apt-get, only when
# something is missing (a fresh Debian 12 machine, as root). Sets nothing
# else up. Usage: scripts/install-deps.sh [extra-package...]
set -eu
PKGS="meson ninja-build pkg-config gcc libc6-dev python3 \
libusb-1.0-0-dev libxml2-dev libzip-dev libssl-dev libbz2-dev libzstd-dev \
libdivsufsort-dev libcmocka-dev mtd-utils bsdiff zip unzip \
libsystemd-dev dbus-daemon \
qemu-system-x86 libusbredirparser-dev qdl cpio xz-utils $*"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "modemfw: need root to apt-get install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# an index can fail once ("Mirror sync in progress"); a stale index that still
# has our packages is better than no install at all
apt-get update -qq || apt-get update -qq || echo "warning: apt-get update reported errors; trying the install anyway" >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
