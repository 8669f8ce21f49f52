#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Cross-build libmodemfw and the modemfw tool (with the DFOTA updater) for
# 32-bit ARM Linux (armhf), the CPU class of SDX-based modules.
# Installs the Debian cross toolchain and the armhf -dev packages (needs
# root and apt), then configures BUILD_DIR with cross/armhf.txt.
#
# Multi-arch installs need the armhf and the host packages at the same
# version. When the host already has newer (security) versions than the
# armhf index offers (e.g. while a mirror syncs), apt refuses; the script
# then downloads the armhf packages with `apt-get download` and unpacks them
# into BUILD_DIR-sysroot, which a generated cross file adds on top of
# cross/armhf.txt. Not part of `make test`.
#
# usage: scripts/cross-armhf.sh [BUILD_DIR]      (default: build-armhf)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-armhf}
TRIPLET=arm-linux-gnueabihf
DEV="libzip-dev libbz2-dev libssl-dev libzstd-dev libdivsufsort-dev libxml2-dev libusb-1.0-0-dev zlib1g-dev liblzma-dev"
# what the -dev packages' shared libraries need at link time
RUNTIME="libzip4 libbz2-1.0 libssl3 libzstd1 libdivsufsort3 libxml2 libusb-1.0-0 zlib1g liblzma5 libicu72 libudev1"
export DEBIAN_FRONTEND=noninteractive

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "cross-armhf: need root to install: $*" >&2
		exit 1
	fi
}

if ! command -v $TRIPLET-gcc >/dev/null 2>&1 || [ ! -f /usr/$TRIPLET/lib/crti.o ]; then
	need_root gcc-$TRIPLET libc6-dev-armhf-cross
	apt-get install -y -qq --no-install-recommends gcc-$TRIPLET libc6-dev-armhf-cross
fi

missing=""
for p in $DEV; do
	dpkg-query -W -f='${Status}' "$p:armhf" 2>/dev/null | grep -q "ok installed" || missing="$missing $p:armhf"
done
EXTRA=""
if [ -n "$missing" ]; then
	need_root "$missing"
	if ! dpkg --print-foreign-architectures | grep -qx armhf; then
		dpkg --add-architecture armhf
		# leave the machine's apt as it was when nothing armhf got installed (the
		# armhf index can break later apt-get updates, reference dfota-and-delta.md §9)
		trap 'dpkg -l | awk '"'"'$4=="armhf"{f=1} END{exit !f}'"'"' || { dpkg --remove-architecture armhf; apt-get update -qq || true; }' EXIT
	fi
	# the armhf index can fail once with "Mirror sync in progress": retry, then go on
	apt-get update -qq || apt-get update -qq ||
		echo "cross-armhf: apt-get update reported errors; trying anyway" >&2
	# shellcheck disable=SC2086
	if ! apt-get install -y -qq --no-install-recommends $missing; then
		SYSROOT=$BUILD-sysroot
		echo "cross-armhf: the armhf packages cannot be installed next to this machine's versions;" >&2
		echo "cross-armhf: unpacking them into $SYSROOT instead" >&2
		mkdir -p "$SYSROOT/debs"
		(
			cd "$SYSROOT/debs"
			for p in $DEV $RUNTIME; do
				ls "$p"_*_armhf.deb >/dev/null 2>&1 || apt-get download -qq "$p:armhf"
			done
		)
		for d in "$SYSROOT"/debs/*.deb; do
			dpkg-deb -x "$d" "$SYSROOT"
		done
		# absolute .so links (libbz2.so -> /lib/...) must point into the sysroot
		find "$SYSROOT" -type l | while read -r l; do
			t=$(readlink "$l")
			case $t in /*) ln -sfn "$SYSROOT$t" "$l" ;; esac
		done
		S=$SYSROOT
		cat >"$SYSROOT/sysroot.txt" <<EOT
[properties]
sys_root = '$S'
pkg_config_libdir = ['$S/usr/lib/$TRIPLET/pkgconfig', '$S/usr/share/pkgconfig']

[built-in options]
c_args = ['-I$S/usr/include', '-I$S/usr/include/$TRIPLET']
c_link_args = ['-L$S/usr/lib/$TRIPLET', '-L$S/lib/$TRIPLET', '-Wl,-rpath-link,$S/usr/lib/$TRIPLET', '-Wl,-rpath-link,$S/lib/$TRIPLET']
EOT
		EXTRA="--cross-file $SYSROOT/sysroot.txt"
	fi
fi
[ -z "$EXTRA" ] && [ -f "$BUILD-sysroot/sysroot.txt" ] && EXTRA="--cross-file $BUILD-sysroot/sysroot.txt"
if [ -n "$EXTRA" ]; then
	# meson's find_library() (bz2, divsufsort64) searches the compiler's own
	# directories: gcc adds LIBRARY_PATH to them
	LIBRARY_PATH="$BUILD-sysroot/usr/lib/$TRIPLET:$BUILD-sysroot/lib/$TRIPLET${LIBRARY_PATH:+:$LIBRARY_PATH}"
	export LIBRARY_PATH
fi

# Tests need cmocka and run binaries: the cross build is library + tool only.
if [ ! -f "$BUILD/build.ninja" ]; then
	# shellcheck disable=SC2086
	meson setup "$BUILD" "$SRC" --cross-file "$SRC/cross/armhf.txt" $EXTRA \
		--buildtype=release -Dtests=false
fi
ninja -C "$BUILD" lib/libmodemfw.a cli/modemfw
file "$BUILD/cli/modemfw" 2>/dev/null || true
