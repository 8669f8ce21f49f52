#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Fetch the delta benchmark corpus by package name into bench/delta/corpus/
# (git-ignored). Needs root for apt-get (armhf foreign architecture) and npm.
# Produces pairs NAME.old / NAME.new:
#   esbuild   @esbuild/linux-arm 0.25.0 -> 0.25.1 bin/esbuild
#   image     linux-image-6.1.0-47-armmp -> -50, decompressed kernel Image
#   modules   same packages, tar of lib/modules/<ver> (deterministic tar)
#   libcrypto libssl3:armhf 3.0.17-1~deb12u2 -> 3.0.20-1~deb12u2 libcrypto.so.3
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
C="$HERE/corpus"
DL="$C/download"
mkdir -p "$DL"
cd "$DL"

# tools for the side-by-side comparison and for extracting the kernel Image
for p in bsdiff xdelta3 zstd binutils xz-utils; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="${need:-} $p"
done
if ! dpkg --print-foreign-architectures | grep -qx armhf; then
	dpkg --add-architecture armhf
	added_arch=1
fi
# the armhf security index is sometimes caught mid-sync: retry, then go on
for i in 1 2 3; do apt-get update -qq && break; sleep 5; done || true
[ -n "${need:-}" ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need

[ -f esbuild-0.25.0.tgz ] || { npm pack --silent @esbuild/linux-arm@0.25.0 && mv esbuild-linux-arm-0.25.0.tgz esbuild-0.25.0.tgz; }
[ -f esbuild-0.25.1.tgz ] || { npm pack --silent @esbuild/linux-arm@0.25.1 && mv esbuild-linux-arm-0.25.1.tgz esbuild-0.25.1.tgz; }
ls linux-image-6.1.0-47-armmp_*.deb >/dev/null 2>&1 || apt-get download linux-image-6.1.0-47-armmp:armhf
ls linux-image-6.1.0-50-armmp_*.deb >/dev/null 2>&1 || apt-get download linux-image-6.1.0-50-armmp:armhf
ls libssl3_3.0.17*.deb >/dev/null 2>&1 || apt-get download 'libssl3:armhf=3.0.17-1~deb12u2'
ls libssl3_3.0.20*.deb >/dev/null 2>&1 || apt-get download 'libssl3:armhf=3.0.20-1~deb12u2'

if [ "${added_arch:-0}" = 1 ]; then
	dpkg --remove-architecture armhf || true
	apt-get update -qq || true
fi

x() { rm -rf "$2"; mkdir -p "$2"; dpkg-deb -x "$1" "$2"; }

# esbuild
for v in 0.25.0 0.25.1; do
	rm -rf es-$v && mkdir es-$v && tar -xzf esbuild-$v.tgz -C es-$v
done
cp es-0.25.0/package/bin/esbuild "$C/esbuild.old"
cp es-0.25.1/package/bin/esbuild "$C/esbuild.new"

# kernel: zImage carries an XZ payload; find the xz stream and decompress it
x linux-image-6.1.0-47-armmp_*.deb k47
x linux-image-6.1.0-50-armmp_*.deb k50
unpack_image() { # zImage -> Image
	python3 - "$1" "$2" <<'PY'
import lzma, sys
d = open(sys.argv[1], 'rb').read()
magic = b'\xfd7zXZ\x00'
i = d.find(magic)
while i >= 0:
    try:
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        out = dec.decompress(d[i:])
        if len(out) > 1 << 20:
            open(sys.argv[2], 'wb').write(out)
            sys.exit(0)
    except lzma.LZMAError:
        pass
    i = d.find(magic, i + 1)
sys.exit('no xz payload in ' + sys.argv[1])
PY
}
unpack_image k47/boot/vmlinuz-6.1.0-47-armmp "$C/image.old"
unpack_image k50/boot/vmlinuz-6.1.0-50-armmp "$C/image.new"

# modules tree as a deterministic tar
(cd k47/lib/modules && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$C/modules.old" 6.1.0-47-armmp)
(cd k50/lib/modules && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$C/modules.new" 6.1.0-50-armmp)

# libcrypto
x libssl3_3.0.17*.deb s17
x libssl3_3.0.20*.deb s20
cp "$(find s17 -name libcrypto.so.3 | head -1)" "$C/libcrypto.old"
cp "$(find s20 -name libcrypto.so.3 | head -1)" "$C/libcrypto.new"

ls -l "$C"/*.old "$C"/*.new
