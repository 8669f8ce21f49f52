#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Cross-build libmodemfw and the modemfw tool (with the DFOTA updater) for
# 32-bit ARM Linux (armhf), the CPU class of SDX-based modules.
# Installs the Debian cross toolchain and the armhf -dev packages (needs
# root and apt), then configures build-armhf with cross/armhf.txt.
# Not part of `make test`. Usage: scripts/cross-armhf.sh [BUILD_DIR]
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-armhf}
DEV="libzip-dev libbz2-dev libssl-dev libzstd-dev libdivsufsort-dev libxml2-dev libusb-1.0-0-dev zlib1g-dev"
need=""
command -v arm-linux-gnueabihf-gcc >/dev/null 2>&1 || need="gcc-arm-linux-gnueabihf"
command -v arm-linux-gnueabihf-pkg-config >/dev/null 2>&1 || need="$need pkg-config"
for p in $DEV; do
	dpkg-query -W -f='${Status}' "$p:armhf" 2>/dev/null | grep -q "ok installed" || need="$need $p:armhf"
done
if [ -n "$need" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "cross-armhf: need root to install:$need" >&2
		exit 1
	fi
	dpkg --print-foreign-architectures | grep -qx armhf || dpkg --add-architecture armhf
	export DEBIAN_FRONTEND=noninteractive
	# The armhf index can fail once with "Mirror sync in progress": retry.
	apt-get update -qq || apt-get update -qq || echo "cross-armhf: apt-get update reported errors (often only the security index while a mirror syncs); trying the install anyway" >&2
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need
fi
# Tests need cmocka and run binaries: the cross build is library + tool only.
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$SRC" --cross-file "$SRC/cross/armhf.txt" \
		--buildtype=release -Dtests=false
fi
ninja -C "$BUILD" modemfw
file "$BUILD/cli/modemfw" 2>/dev/null || true
