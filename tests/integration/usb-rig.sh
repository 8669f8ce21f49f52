#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The USB rig in the suite (docs/usb-rig.md): one QEMU guest boot in which
# modemfw flashes over libusb and the qcserial tty, survives an unplug and a
# stall, lists the module, and Debian's qdl flashes the eMMC package; the
# images are then checked here. Skips (77) without QEMU or when the guest's
# kernel cannot be downloaded; bounded to 5 minutes in all.
set -eu
: "${MODEMFW:?run through meson test}"
: "${SRCDIR:?}"
: "${BUILDDIR:?}"

# the rig's packages come with scripts/install-deps.sh like every other
# dependency; as non-root it only says what is missing
sh "$SRCDIR/scripts/install-deps.sh" >/dev/null 2>&1 || true
if ! command -v qemu-system-x86_64 >/dev/null 2>&1 || ! command -v qdl >/dev/null 2>&1; then
	echo "usb-rig: qemu-system-x86_64 or qdl missing: skipped"
	exit 77
fi
# kernel .deb and guest artefacts are cached outside the checkout
if [ -z "${MFW_CACHE:-}" ]; then
	if mkdir -p /var/cache/modemfw-usb-rig 2>/dev/null && [ -w /var/cache/modemfw-usb-rig ]; then
		MFW_CACHE=/var/cache/modemfw-usb-rig
	else
		MFW_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/modemfw-usb-rig
	fi
fi
export MFW_CACHE MODEMFW
if ! sh "$SRCDIR/tests/usb/build-rig.sh" >"$BUILDDIR/usb-rig-build.log" 2>&1; then
	cat "$BUILDDIR/usb-rig-build.log"
	if grep -q "apt-get download .* failed\|cannot resolve the kernel" "$BUILDDIR/usb-rig-build.log"; then
		echo "usb-rig: the guest's packages cannot be downloaded: skipped"
		exit 77
	fi
	exit 1
fi

# NAND images are 512 MiB of real 0xFF: on tmpfs they cost no disk time
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	OUT=$(mktemp -d /dev/shm/mfw-usb-rig.XXXXXX)
else
	OUT=$(mktemp -d "${TMPDIR:-/tmp}/mfw-usb-rig.XXXXXX")
fi
LOGS="$BUILDDIR/meson-logs/usb-rig"
keep_logs() {
	rm -rf "$LOGS"
	mkdir -p "$LOGS"
	cp "$OUT"/*.log "$OUT"/*.txt "$OUT"/*.json "$LOGS/" 2>/dev/null || true
	rm -rf "$OUT"
}
trap keep_logs EXIT INT TERM

# 280 s for the guest plus package generation and checks: under the 360 s
# meson timeout; the whole run measured about 100 s (pitfall 8: TCG is noisy)
sh "$SRCDIR/tests/usb/rig.sh" -t 280 "$OUT"
