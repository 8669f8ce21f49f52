#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# USB scenarios, run inside the rig's guest by tests/usb/run.sh (one boot for
# all of them; docs/usb-rig.md). The virtual modem runs on the host behind
# QEMU's usb-redir; `device` asks the host to power it up, cycle or cut it.
# Images are checked on the host afterwards (tests/usb/check-results.sh):
# python over 9p under TCG would be slow.
#
# Expects in OUT: pkg-nand/ and pkg-emmc/ (sample packages). Writes images
# and logs there, one line per scenario on the console:
#   MFW-RIG-OK: <name> ...   or   MFW-RIG-FAIL: <name>: <why>
# MFW_RIG_ONLY=a,b on the host runs only those scenarios.
. "$(dirname "$0")/guest-lib.sh"
# run.sh writes ONLY (MFW_RIG_ONLY on the host) into env.sh

want() {
	[ -z "$ONLY" ] && return 0
	case ",$ONLY," in *",$1,"*) return 0 ;; esac
	return 1
}

# Stall detection: the flash's --stall-timeout and the margin TCG needs (pitfall 8).
STALL_S=5
STALL_MARGIN_S=15
# A replugged device must be back within this (the reference saw 1.5 s).
REPLUG_S=20

edl_dev() { wait_usb 05c6 9008 "${1:-$REPLUG_S}"; }
wait_tty() {
	i=0
	while [ ! -c /dev/ttyUSB0 ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && return 1
		sleep 0.1
	done
}

flash_usb() { # log flash-options...: modemfw flash over libusb; returns its exit code
	log=$1
	shift
	rc=0
	"$MODEMFW" -v flash "$OUT/pkg-nand" -p usb "$@" >"$OUT/$log" 2>&1 || rc=$?
	return $rc
}

# 1. libusb: qcserial bound, modemfw detaches it (and says so), flashes, resets.
sc_libusb() {
	rm -rf "$OUT/nand-libusb.img"*
	device start --storage nand --image "$OUT/nand-libusb.img"
	dev=$(edl_dev) || fail "libusb: no 05c6:9008 on the bus"
	load_driver qcserial
	t0=$(t_ms)
	flash_usb flash-libusb.log --journal-dir "$OUT/j-libusb" || {
		tail -5 "$OUT/flash-libusb.log"
		fail "libusb: flash failed"
	}
	t1=$(t_ms)
	grep -q "detached kernel driver 'qcserial'" "$OUT/flash-libusb.log" ||
		fail "libusb: no notice that qcserial was detached"
	# the reset re-enumerates: the device comes back in its boot ROM
	edl_dev >/dev/null || fail "libusb: the device did not come back after the reset"
	device stop
	ok "libusb flash of the NAND package in $((t1 - t0)) ms (device $dev, qcserial detached)"
}

# 2. tty: the same through qcserial's /dev/ttyUSB0. Without the identity
# backup: qcserial has no flow control on reads, and under TCG the guest
# reader falls behind a 24 MiB backup read, so the kernel drops bytes
# (docs/usb-rig.md, "Findings"). Flashing itself reads only answers.
sc_tty() {
	rm -rf "$OUT/nand-tty.img"*
	load_driver qcserial
	device start --storage nand --image "$OUT/nand-tty.img"
	edl_dev >/dev/null || fail "tty: no 05c6:9008 on the bus"
	wait_tty || fail "tty: qcserial made no /dev/ttyUSB0"
	t0=$(t_ms)
	rc=0
	"$MODEMFW" -v flash "$OUT/pkg-nand" -p /dev/ttyUSB0 --journal-dir "$OUT/j-tty" --no-backup \
		>"$OUT/flash-tty.log" 2>&1 || rc=$?
	t1=$(t_ms)
	[ $rc = 0 ] || { tail -5 "$OUT/flash-tty.log"; fail "tty: flash failed ($rc)"; }
	device stop
	ok "tty flash of the NAND package through /dev/ttyUSB0 in $((t1 - t0)) ms"
}

# 3. faults in the middle of the flash: an unplug (the device comes back
# after 1.5 s and modemfw resumes by itself), then a stall (the device NAKs
# forever: detected within --stall-timeout, then a power cycle and a resumed
# run). The image must end up identical to the clean libusb flash.
sc_faults() {
	rm -rf "$OUT/nand-faults.img"*
	unload_driver qcserial 2>/dev/null || true
	device start --storage nand --image "$OUT/nand-faults.img" \
		--fault disconnect@bytes=3M,delay=1500
	edl_dev >/dev/null || fail "faults: no 05c6:9008 on the bus"
	t0=$(t_ms)
	flash_usb flash-unplug.log --journal-dir "$OUT/j-faults" --stall-timeout $STALL_S || {
		tail -5 "$OUT/flash-unplug.log"
		fail "faults: the flash did not survive the unplug"
	}
	t1=$(t_ms)
	grep -qi "gone\|disconnect" "$OUT/flash-unplug.log" ||
		fail "faults: the unplug was not noticed"
	edl_dev >/dev/null || fail "faults: no device after the unplugged flash"
	say "unplug: $(grep -i -m1 'gone\|disconnect' "$OUT/flash-unplug.log")"
	ok "unplug at 3 MiB: detected, device back after 1.5 s, flash resumed and completed in $((t1 - t0)) ms"

	# a second flash of the same image, stalled in the middle
	rm -rf "$OUT/j-faults"
	device start --storage nand --image "$OUT/nand-faults.img" \
		--fault stall@bytes=3M
	edl_dev >/dev/null || fail "faults: no device for the stall run"
	t0=$(t_ms)
	src=0
	flash_usb flash-stall.log --journal-dir "$OUT/j-faults" --stall-timeout $STALL_S \
		--restart || src=$?
	t1=$(t_ms)
	[ $src != 0 ] || fail "faults: a flash against a stalled device succeeded"
	[ $((t1 - t0)) -lt $(((STALL_S + STALL_MARGIN_S) * 1000 + 20000)) ] ||
		fail "faults: the stall took $((t1 - t0)) ms to be reported"
	msg=$(grep -m1 "modemfw: flash:" "$OUT/flash-stall.log" || true)
	say "stall: $msg"
	echo "$msg" | grep -q "stopped\|without progress\|stall" ||
		fail "faults: the stall was not reported as one: $msg"
	# power cycle: the hung module is cut off and powered again
	device kill
	gone_usb 05c6 9008 10 || fail "faults: the killed device stayed on the bus"
	device start --storage nand --image "$OUT/nand-faults.img"
	edl_dev >/dev/null || fail "faults: no device after the power cycle"
	t2=$(t_ms)
	flash_usb flash-resume.log --journal-dir "$OUT/j-faults" || {
		tail -5 "$OUT/flash-resume.log"
		fail "faults: the resumed flash failed"
	}
	t3=$(t_ms)
	grep -q "done in an earlier run" "$OUT/flash-resume.log" ||
		fail "faults: the resumed run did not pick up the journal"
	device stop
	ok "stall at 3 MiB reported after $((t1 - t0)) ms (exit $src), resumed after a power cycle in $((t3 - t2)) ms"
}

# 3b. a STALL handshake: the OUT endpoint halts in the middle of a
# partition (the "halt" fault). libusb reports a pipe error, modemfw clears
# the halt and stops at once with where it was; after a power cycle the
# journal resumes the flash to the same image as the clean one.
sc_halt() {
	rm -rf "$OUT/nand-halt.img"*
	unload_driver qcserial 2>/dev/null || true
	device start --storage nand --image "$OUT/nand-halt.img" --fault halt@bytes=2M
	edl_dev >/dev/null || fail "halt: no 05c6:9008 on the bus"
	t0=$(t_ms)
	hrc=0
	flash_usb flash-halt.log --journal-dir "$OUT/j-halt" --stall-timeout $STALL_S || hrc=$?
	t1=$(t_ms)
	[ $hrc != 0 ] || fail "halt: a flash through a halted endpoint succeeded"
	# libusb's pipe error, the halt cleared; modemfw then waits for the
	# device and finds it stuck in the transfer (it asks for a power cycle)
	msg=$(grep -m1 "stalled during write" "$OUT/flash-halt.log" || true)
	say "halt: $msg"
	[ -n "$msg" ] || fail "halt: the stalled endpoint was not reported"
	device kill
	gone_usb 05c6 9008 10 || fail "halt: the killed device stayed on the bus"
	device start --storage nand --image "$OUT/nand-halt.img"
	edl_dev >/dev/null || fail "halt: no device after the power cycle"
	flash_usb flash-halt-resume.log --journal-dir "$OUT/j-halt" || {
		tail -5 "$OUT/flash-halt-resume.log"
		fail "halt: the resumed flash failed"
	}
	device stop
	ok "endpoint halt at 2 MiB reported after $((t1 - t0)) ms (exit $hrc), resumed after a power cycle"
}

# 4. modemfw devices: the EDL module with its tty port.
sc_devices() {
	load_driver qcserial
	device start --storage nand --image "$OUT/nand-libusb.img"
	edl_dev >/dev/null || fail "devices: no 05c6:9008 on the bus"
	wait_tty || true
	"$MODEMFW" devices >"$OUT/devices.txt" 2>&1 || { cat "$OUT/devices.txt"; fail "devices: failed"; }
	"$MODEMFW" devices --json >"$OUT/devices.json" 2>&1 || true
	cat "$OUT/devices.txt"
	grep -q "05c6:9008" "$OUT/devices.txt" || fail "devices: 05c6:9008 not listed"
	grep -q "ttyUSB0" "$OUT/devices.txt" || fail "devices: /dev/ttyUSB0 not listed"
	device stop
	ok "modemfw devices lists 05c6:9008 with /dev/ttyUSB0"
}

# 5. Debian's qdl, an independent host: programmer upload and the eMMC
# package. rawprogram0-qdl.xml is rawprogram0.xml with the sparse system.img
# laid out as its chunks (tests/usb/qdl-manifest.py): this qdl would write
# the sparse container as it is.
sc_qdl() {
	rm -rf "$OUT/emmc-qdl.img"*
	load_driver qcserial
	device start --storage emmc --image "$OUT/emmc-qdl.img"
	edl_dev >/dev/null || fail "qdl: no 05c6:9008 on the bus"
	fh="$OUT/pkg-emmc/update/firehose"
	t0=$(t_ms)
	rc=0
	(cd "$fh" && timeout 120 qdl --storage emmc prog_emmc_firehose_8953_ddr.mbn \
		rawprogram0-qdl.xml patch0.xml) >"$OUT/qdl.log" 2>&1 || rc=$?
	t1=$(t_ms)
	[ $rc = 0 ] || { tail -8 "$OUT/qdl.log"; fail "qdl: exit $rc"; }
	device stop
	ok "qdl flashed the eMMC package in $((t1 - t0)) ms"
}

# 6. normal mode: an EC25 (2c7c:0125) whose interfaces option binds as
# ttyUSB0 (DIAG) .. ttyUSB3 (modem); modemfw devices lists it with its ports,
# modemfw edl switches it over DIAG, it re-enumerates as 05c6:9008 and is
# found again; a Firehose reset boots the firmware again.
sc_normal() {
	rm -rf "$OUT/nand-normal.img"*
	load_driver option
	load_driver qcserial
	device start --mode normal --listen-at usbredir --listen-diag usbredir --storage nand \
		--image "$OUT/nand-normal.img" --diag-noise 0
	dev=$(wait_usb 2c7c 0125 20) || fail "normal: no 2c7c:0125 on the bus"
	i=0
	while [ ! -c /dev/ttyUSB2 ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "normal: option made no /dev/ttyUSB2"
		sleep 0.1
	done
	"$MODEMFW" devices >"$OUT/devices-normal.txt" 2>&1 || { cat "$OUT/devices-normal.txt"; fail "normal: devices failed"; }
	cat "$OUT/devices-normal.txt"
	grep -q "2c7c:0125" "$OUT/devices-normal.txt" || fail "normal: 2c7c:0125 not listed"
	grep -q "ttyUSB0" "$OUT/devices-normal.txt" && grep -q "ttyUSB2" "$OUT/devices-normal.txt" ||
		fail "normal: the DIAG and AT ports are not listed"
	t0=$(t_ms)
	"$MODEMFW" -v edl -p /dev/ttyUSB0 >"$OUT/edl-switch.log" 2>&1 || {
		tail -5 "$OUT/edl-switch.log"
		fail "normal: modemfw edl failed"
	}
	edl_dev >/dev/null || fail "normal: no 05c6:9008 after the DIAG switch"
	t1=$(t_ms)
	gone_usb 2c7c 0125 5 || fail "normal: 2c7c:0125 still on the bus in EDL"
	"$MODEMFW" devices >"$OUT/devices-edl.txt" 2>&1 || true
	grep -q "05c6:9008" "$OUT/devices-edl.txt" || fail "normal: 05c6:9008 not listed after the switch"
	device stop
	ok "normal mode 2c7c:0125 ($dev) listed with DIAG/AT ports, switched to EDL over DIAG and re-found as 05c6:9008 in $((t1 - t0)) ms"
}

start_udevd
for s in libusb tty faults halt devices qdl normal; do
	want "$s" || continue
	say "scenario $s at $(t_ms) ms"
	if ! (sc_$s); then
		FAILS=$((FAILS + 1))
		device stop 2>/dev/null || true
	fi
done
say "scenarios done at $(t_ms) ms, $FAILS failed"
[ "$FAILS" = 0 ]
