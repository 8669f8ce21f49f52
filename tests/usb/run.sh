#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Boot the USB rig once and run a scenario script in the guest
# (docs/usb-rig.md). The guest sees the host's root read-only (so it runs
# the same modemfw, qdl and python3) and OUT read-write at the same path.
# The virtual modem runs here, on the host, as
#   modemfw emu --listen usbredir:OUT/usbredir.sock ...
# and the guest asks for it to be started, restarted or killed by dropping
# request files into OUT/ctl (the "power supply" of the module).
#
# Usage: tests/usb/run.sh [-t SECONDS] OUT SCRIPT
#   OUT      an empty or new directory (absolute path): logs, images, results
#   SCRIPT   scenario script, run in the guest as: sh SCRIPT OUT
# Environment: MODEMFW (default BUILD/cli/modemfw), MFW_CACHE (rig artefacts).
# Exit: the script's exit code; 124 when the whole run hit its time limit;
# 125 when the guest could not run the script.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
LIMIT=300
if [ "${1:-}" = "-t" ]; then
	LIMIT=$2
	shift 2
fi
[ $# -eq 2 ] || { echo "usage: $0 [-t SECONDS] OUT SCRIPT" >&2; exit 2; }
OUT=$1
SCRIPT=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
case "$OUT" in /*) ;; *) echo "run.sh: OUT must be an absolute path" >&2; exit 2 ;; esac
MODEMFW=${MODEMFW:-$SRC/build/cli/modemfw}
[ -x "$MODEMFW" ] || { echo "run.sh: no modemfw at $MODEMFW" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "run.sh: qemu-system-x86_64 missing" >&2; exit 77; }

mkdir -p "$OUT/ctl"
rm -f "$OUT"/ctl/* "$OUT"/ctl/.n "$OUT/console.log" "$OUT/usbredir.sock"
GUEST=$(sh "$HERE/build-rig.sh")
SOCK="$OUT/usbredir.sock"
cat >"$OUT/env.sh" <<EOF
MODEMFW='$MODEMFW'
SRCDIR='$SRC'
OUT='$OUT'
UDEV_DIR='$GUEST/udev'
ONLY='${MFW_RIG_ONLY:-}'
EOF

QPID=""
DPID=""
cleanup() {
	# `if`, not `&&`: under set -e a failing kill (already gone) would set the exit code
	if [ -n "$DPID" ]; then kill -KILL "$DPID" 2>/dev/null || true; fi
	if [ -n "$QPID" ]; then kill -KILL "$QPID" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

# QEMU always runs under timeout (pitfall 1); TCG, since KVM may hang.
# no_timer_check: on a loaded host TCG can miss the kernel's timer IRQ test,
# which then panics ("IO-APIC + timer doesn't work").
start_qemu() {
timeout -k 5 "$LIMIT" qemu-system-x86_64 -accel tcg -cpu max -m 512 -smp 1 \
	-nographic -no-reboot -nic none -monitor none -serial stdio \
	-kernel "$GUEST/vmlinux" -initrd "$GUEST/initrd.gz" \
	-append "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off no_timer_check mfw_test=$SCRIPT mfw_share=$OUT mfw_keep=$SRC mfw_keep=$(dirname "$MODEMFW") mfw_keep=$(dirname "$SCRIPT")" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$OUT,mount_tag=share,security_model=none,multidevs=remap" \
	-device qemu-xhci,id=hc \
	-chardev "socket,id=ur0,path=$SOCK,server=on,wait=off" \
	-device usb-redir,chardev=ur0,bus=hc.0 \
	</dev/null >"$OUT/console.log" 2>&1 &
QPID=$!
}
T0=$(date +%s)
start_qemu

# ---- the module's power supply: requests from the guest ----
ndev=0
dev_stop() { # signal
	[ -n "$DPID" ] || return 0
	kill "-$1" "$DPID" 2>/dev/null || true
	i=0
	while kill -0 "$DPID" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$DPID" 2>/dev/null || true
	wait "$DPID" 2>/dev/null || true
	DPID=""
}
dev_start() { # emu options...
	dev_stop TERM
	ndev=$((ndev + 1))
	log="$OUT/emu-$ndev.log"
	: >"$log"
	"$MODEMFW" -v emu --listen "usbredir:$SOCK" "$@" >"$log" 2>&1 &
	DPID=$!
	i=0
	# listening = connected to QEMU's socket (it retries until QEMU listens)
	while ! grep -q "listening on\|in normal mode" "$log"; do
		kill -0 "$DPID" 2>/dev/null || { DPID=""; return 1; }
		[ $i -gt 400 ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

handle() { # request file
	req=$1
	name=${req%.req}
	set -- $(cat "$req")
	cmd=$1
	shift
	st=0
	case "$cmd" in
	start) dev_start "$@" || st=1 ;;
	stop) dev_stop TERM ;;
	kill) dev_stop KILL ;;
	*) st=2 ;;
	esac
	echo "$st $ndev" >"$name.tmp"
	mv "$name.tmp" "$name.done"
	rm -f "$req"
	echo "run.sh: +$(($(date +%s) - T0))s device $cmd $* -> $st" >>"$OUT/host.log"
}

booted=0
while :; do
	while kill -0 "$QPID" 2>/dev/null; do
		for req in "$OUT"/ctl/*.req; do
			if [ -f "$req" ]; then handle "$req"; fi
		done
		sleep 0.1
	done
	qrc=0
	wait "$QPID" || qrc=$?
	# a guest that died early, before /init got going, is the host's
	# hiccup, not a result: boot once more (bounded: within the first minute)
	if [ $booted = 0 ] && [ $(($(date +%s) - T0)) -lt 60 ] &&
	   ! grep -aq "MFW-RIG-READY" "$OUT/console.log"; then
		booted=1
		cp "$OUT/console.log" "$OUT/console-failed-boot.log"
		echo "run.sh: +$(($(date +%s) - T0))s the guest did not boot (QEMU exit $qrc), once more" >>"$OUT/host.log"
		start_qemu
		continue
	fi
	break
done
dev_stop TERM
echo "run.sh: guest ran $(($(date +%s) - T0)) s" >>"$OUT/host.log"

rc=$(grep -a -o 'MFW-RIG-RC=[0-9]*' "$OUT/console.log" | tail -n 1 | cut -d= -f2)
if [ -z "$rc" ]; then
	[ "$qrc" = 124 ] && { echo "run.sh: the rig hit its ${LIMIT} s limit" >&2; exit 124; }
	echo "run.sh: the guest ended without a result (QEMU exit $qrc)" >&2
	exit 125
fi
exit "$rc"
