#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A package this host has flashed before (the next module on a production
# line): its md5.txt check and the SHA-256 of every program range come from
# the verified-file cache, nothing is hashed again, and the device's digests
# are still compared. A cache line that lies (a stale digest) costs a
# rehash of that file, never a failed or wrong flash.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand small)
CACHE="$XDG_STATE_HOME/modemfw/flash/verified-files"

flash_new_module() { # serial tag
	img="$WORK/nand-$2.img"
	start_emu "$img" tcp:127.0.0.1:0 --storage nand --serial "$1"
	snapshot "$img" "$WORK/before-$2.img"
	"$MODEMFW" flash "$PKG" -p "$EMU_SPEC" >"$WORK/flash-$2.log" 2>&1 ||
		{ cat "$WORK/flash-$2.log"; fail "flash of module $2 failed"; }
	grep -q "verified" "$WORK/flash-$2.log" || fail "module $2: no verification summary"
	stop_emu
	check_image "$PKG/expected.json" "$img" nand "$WORK/before-$2.img"
}

flash_new_module 0x1001 first
n_md5=$(grep -c '^v1 ' "$CACHE")
n_digest=$(grep -c '^d1 ' "$CACHE")
[ "$n_digest" -ge 5 ] || fail "only $n_digest range digests were remembered"
echo "ok: first module flashed, $n_md5 files and $n_digest ranges remembered"

flash_new_module 0x1002 second
[ "$(grep -c '^v1 ' "$CACHE")" = "$n_md5" ] || fail "a known file was hashed again"
[ "$(grep -c '^d1 ' "$CACHE")" = "$n_digest" ] || fail "a known range was hashed again"
echo "ok: second module flashed from the cache alone"

# a stale line for the largest range: the last line wins, so append a wrong one
line=$(grep '^d1 ' "$CACHE" | sort -t+ -k2 -n | tail -1)
bad=$(echo "$line" | awk '{ $2 = "00" substr($2, 3); print }')
echo "$bad" >>"$CACHE"
flash_new_module 0x1003 third
last=$(grep '^d1 ' "$CACHE" | tail -1)
[ "$last" = "$line" ] || fail "the stale digest was not replaced by the file's own: $last"
echo "ok: a stale cached digest was noticed, rehashed and corrected"
