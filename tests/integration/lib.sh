# SPDX-License-Identifier: BSD-3-Clause
# Helpers for integration scenarios. Each scenario sources this file and
# gets: MODEMFW, SRCDIR, BUILDDIR from meson; WORK (a private temp dir,
# removed on exit); start_emu/stop_emu; gen_pkg; fail; expect_exit.
set -eu
: "${MODEMFW:?run through meson test}"
: "${SRCDIR:?}"
# NAND images are 512 MiB of real 0xFF bytes: tmpfs makes creating one instant
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	WORK=$(mktemp -d /dev/shm/mfw-it.XXXXXX)
else
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/mfw-it.XXXXXX")
fi
EMU_PID=""
# journals and backups of this scenario stay in its private directory
export XDG_STATE_HOME="$WORK/state" XDG_DATA_HOME="$WORK/data"
cleanup() {
	if [ -n "$EMU_PID" ]; then kill -KILL "$EMU_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	[ -f "$WORK/emu.log" ] && { echo "--- emu log (tail)" >&2; tail -20 "$WORK/emu.log" >&2; }
	exit 1
}

# Packages are generated once per build dir and reused (the generators are deterministic).
gen_pkg() { # kind(nand|emmc|em12g) profile -> prints the package dir
	kind=$1 profile=${2:-small}
	dir="$BUILDDIR/test-packages/$kind-$profile"
	if [ ! -f "$dir/.done" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		if [ "$kind" = em12g ]; then
			python3 "$SRCDIR/tests/data/em12g-package.py" --out "$dir" \
				--shared "$SRCDIR/../shared" >"$dir.log" 2>&1 || { cat "$dir.log" >&2; return 1; }
		else
			python3 "$SRCDIR/tests/data/gen-package.py" --storage "$kind" --profile "$profile" \
				--out "$dir" >"$dir.log" 2>&1 || { cat "$dir.log" >&2; return 1; }
		fi
		touch "$dir/.done"
	fi
	echo "$dir"
}

# start_emu IMAGE LISTEN [emu options...]; sets EMU_SPEC (the address to connect to)
start_emu() {
	image=$1 listen=$2
	shift 2
	: >"$WORK/emu.log"
	"$MODEMFW" emu --image "$image" --listen "$listen" "$@" >"$WORK/emu.log" 2>&1 &
	EMU_PID=$!
	i=0
	while ! grep -q "listening on" "$WORK/emu.log"; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "virtual modem did not start"
		kill -0 "$EMU_PID" 2>/dev/null || fail "virtual modem exited"
		sleep 0.1
	done
	EMU_SPEC=$(sed -n 's/.*listening on \([^ ,]*\).*/\1/p' "$WORK/emu.log" | head -1)
	case "$EMU_SPEC" in
	pty:*) EMU_SPEC=${EMU_SPEC#pty:} ;;
	esac
}

# stop_emu: SIGTERM, the emulator flushes its image and must exit 0
stop_emu() {
	[ -n "$EMU_PID" ] || return 0
	kill -TERM "$EMU_PID"
	i=0
	while kill -0 "$EMU_PID" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "virtual modem did not exit after SIGTERM"
		sleep 0.1
	done
	rc=0
	wait "$EMU_PID" || rc=$?
	EMU_PID=""
	[ $rc -eq 0 ] || fail "virtual modem exited with $rc after SIGTERM"
}

# expect_exit CODE cmd...: run, require that exit code; output in $WORK/out
expect_exit() {
	want=$1
	shift
	rc=0
	"$@" >"$WORK/out" 2>&1 || rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$WORK/out" >&2
		fail "'$*' exited $rc, expected $want"
	fi
}

check_image() { # expected.json image storage before [extra...]
	python3 "$SRCDIR/tests/data/check-image.py" --expected "$1" --image "$2" --storage "$3" \
		--before "$4" || fail "image check failed"
}

snapshot() { cp --sparse=always "$1" "$2"; }

# ---- the virtual modem in normal mode (docs/emulator.md, "Normal mode") ----
# start_emu_normal IMAGE [emu options...]: AT, DIAG and (after the switch) EDL on
# tcp port 0; sets EMU_AT and EMU_DIAG. The ports keep their numbers across reboots.
start_emu_normal() {
	image=$1
	shift
	: >"$WORK/emu.log"
	"$MODEMFW" emu --mode normal --image "$image" --listen tcp:127.0.0.1:0 \
		--listen-at tcp:127.0.0.1:0 --listen-diag tcp:127.0.0.1:0 "$@" >"$WORK/emu.log" 2>&1 &
	EMU_PID=$!
	wait_emu_normal 1
}

# wait_emu_normal N: until the module booted into normal mode N times; sets EMU_AT, EMU_DIAG
wait_emu_normal() {
	i=0
	while [ "$(grep -c '^normal mode: AT on' "$WORK/emu.log")" -lt "$1" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && fail "virtual modem did not boot into normal mode (#$1)"
		kill -0 "$EMU_PID" 2>/dev/null || fail "virtual modem exited"
		sleep 0.1
	done
	EMU_AT=$(sed -n 's/^normal mode: AT on \([^ ,]*\).*/\1/p' "$WORK/emu.log" | tail -1)
	EMU_DIAG=$(sed -n 's/^normal mode: .*DIAG on \([^ ,]*\).*/\1/p' "$WORK/emu.log" | tail -1)
}

# wait_emu_edl N: until the module switched to EDL N times; sets EMU_EDL
wait_emu_edl() {
	i=0
	while [ "$(grep -c '^switched to EDL: listening on' "$WORK/emu.log")" -lt "$1" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && fail "virtual modem did not switch to EDL (#$1)"
		kill -0 "$EMU_PID" 2>/dev/null || fail "virtual modem exited"
		sleep 0.1
	done
	EMU_EDL=$(sed -n 's/^switched to EDL: listening on \([^ ,]*\).*/\1/p' "$WORK/emu.log" | tail -1)
}
