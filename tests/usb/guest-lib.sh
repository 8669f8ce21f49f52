# SPDX-License-Identifier: BSD-3-Clause
# Helpers for scenario scripts running in the rig's guest (docs/usb-rig.md).
# Sourced with OUT as $1 of the script; gives: device (ask the host to
# start/stop/kill the virtual modem), wait_usb, gone_usb, load_driver,
# start_udevd, ok/fail, t_ms.
set -eu
OUT=$1
. "$OUT/env.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# the host root is read-only here: state and journals go to the share
export HOME="$OUT/home" XDG_STATE_HOME="$OUT/state" XDG_DATA_HOME="$OUT/data"
mkdir -p "$HOME" "$XDG_STATE_HOME" "$XDG_DATA_HOME"
FAILS=0

t_ms() { # milliseconds since guest boot
	awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}
say() { echo "MFW-RIG: $*"; }
ok() { echo "MFW-RIG-OK: $*"; }
fail() {
	echo "MFW-RIG-FAIL: $*"
	exit 1
}

# device start [emu options...] | stop | kill: the module's power supply on the host
device() {
	# the count lives in a file: scenarios run in subshells
	NREQ=$(($(cat "$OUT/ctl/.n" 2>/dev/null || echo 0) + 1))
	echo "$NREQ" >"$OUT/ctl/.n"
	echo "$*" >"$OUT/ctl/$NREQ.tmp"
	mv "$OUT/ctl/$NREQ.tmp" "$OUT/ctl/$NREQ.req"
	i=0
	while [ ! -f "$OUT/ctl/$NREQ.done" ]; do
		i=$((i + 1))
		[ $i -gt 600 ] && fail "the host did not answer 'device $*' within 60 s"
		sleep 0.1
	done
	read -r st dev_n <"$OUT/ctl/$NREQ.done"
	DEV_LOG="$OUT/emu-$dev_n.log"
	[ "$st" = 0 ] || { tail -5 "$DEV_LOG" 2>/dev/null; fail "device $* failed ($st)"; }
}

# wait_usb VID PID [SECONDS]: until such a device is configured; prints its sysfs name
wait_usb() {
	lim=$(( ${3:-20} * 10 )) i=0
	while :; do
		for d in /sys/bus/usb/devices/*; do
			[ -f "$d/idVendor" ] || continue
			if [ "$(cat "$d/idVendor")" = "$1" ] && [ "$(cat "$d/idProduct")" = "$2" ] &&
			   [ -n "$(cat "$d/bConfigurationValue" 2>/dev/null)" ]; then
				basename "$d"
				return 0
			fi
		done
		i=$((i + 1))
		[ $i -gt $lim ] && return 1
		sleep 0.1
	done
}

# gone_usb VID PID [SECONDS]: until no such device is left
gone_usb() {
	lim=$(( ${3:-20} * 10 )) i=0
	while :; do
		found=0
		for d in /sys/bus/usb/devices/*; do
			[ -f "$d/idVendor" ] || continue
			[ "$(cat "$d/idVendor")" = "$1" ] && [ "$(cat "$d/idProduct")" = "$2" ] && found=1
		done
		[ $found = 0 ] && return 0
		i=$((i + 1))
		[ $i -gt $lim ] && return 1
		sleep 0.1
	done
}

# the host root has no modules for this kernel: the initramfs's busybox loads them
load_driver() { chroot /run/rig /bin/modprobe "$@"; }
unload_driver() { chroot /run/rig /bin/rmmod "$@"; }

# libusb follows re-enumeration through udevd's events (rig pitfall 4)
start_udevd() {
	mkdir -p /run/udev
	"$UDEV_DIR/bin/systemd-udevd" --daemon >/dev/null 2>&1 || fail "udevd did not start"
}
