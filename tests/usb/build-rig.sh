#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Build the USB test rig's guest: a Debian kernel (PVH vmlinux) and a busybox
# initramfs with the USB, usb-serial and 9p modules (docs/usb-rig.md,
# shared/reference/usb-test-rig.md section 3).
#
# Everything comes from Debian packages that are downloaded with
# `apt-get download` and only extracted, never installed (busybox-static
# would replace the host's busybox). Artefacts are cached outside the
# checkout, in $MFW_CACHE (default /var/cache/modemfw-usb-rig), so a second
# run costs a few seconds. Prints the cache directory on success.
#
# Usage: tests/usb/build-rig.sh [--force]
set -eu

CACHE=${MFW_CACHE:-/var/cache/modemfw-usb-rig}
HERE=$(cd "$(dirname "$0")" && pwd)
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

log() { echo "build-rig: $*" >&2; }
die() { echo "build-rig: $*" >&2; exit 1; }

for t in apt-get apt-cache dpkg-deb xz cpio gzip python3 flock; do
	command -v "$t" >/dev/null 2>&1 || die "'$t' is missing (scripts/install-deps.sh installs it)"
done
mkdir -p "$CACHE/debs"
# one builder at a time (two suites on one machine share the cache); the
# second finds the guest built and returns at once
exec 9>"$CACHE/.lock"
flock -w 600 9 || die "another build-rig.sh holds $CACHE/.lock for 10 minutes"

# The ABI package changes with every kernel update and old ones leave the
# archive (pitfall 9): resolve it through the metapackage each time.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
[ -n "$kpkg" ] || die "cannot resolve the kernel package from linux-image-amd64 (run apt-get update)"
kver=${kpkg#linux-image-}

# Every step below finishes by renaming into place, so an interrupted run
# leaves nothing that looks complete.
fetch() { # package -> path of its .deb in the cache
	set -- "$1" "$(ls "$CACHE/debs/$1"_*.deb 2>/dev/null | head -n 1)"
	if [ -n "$2" ] && [ "$FORCE" = 0 ]; then
		echo "$2"
		return
	fi
	log "downloading $1"
	rm -rf "$CACHE/debs/tmp.$$"
	mkdir -p "$CACHE/debs/tmp.$$"
	# apt-get download writes into the current directory; the timeout
	# bounds a stuck mirror
	(cd "$CACHE/debs/tmp.$$" && timeout 300 apt-get download -q -o APT::Sandbox::User=root "$1" >&2) ||
		die "apt-get download $1 failed"
	set -- "$1" "$(ls "$CACHE/debs/tmp.$$/$1"_*.deb | head -n 1)"
	rm -f "$CACHE/debs/$1"_*.deb
	mv "$2" "$CACHE/debs/"
	rmdir "$CACHE/debs/tmp.$$"
	ls "$CACHE/debs/$1"_*.deb | head -n 1
}

kdeb=$(fetch "$kpkg")
bdeb=$(fetch busybox-static)
udeb=$(fetch udev)

GUEST="$CACHE/guest-$kver"
if [ "$FORCE" = 0 ] && [ -f "$GUEST/vmlinux" ] && [ -f "$GUEST/initrd.gz" ] &&
   [ -x "$GUEST/udev/bin/udevadm" ] && [ "$GUEST/initrd.gz" -nt "$HERE/build-rig.sh" ] &&
   [ "$GUEST/initrd.gz" -nt "$HERE/init" ]; then
	echo "$GUEST"
	exit 0
fi

W="$CACHE/work.$$"
rm -rf "$W"
mkdir -p "$W/k" "$W/bb" "$W/ud" "$W/root"
trap 'rm -rf "$W"' EXIT INT TERM

log "extracting $kpkg (vmlinuz and modules only)"
dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$W/k" --wildcards \
	'./boot/vmlinuz-*' "./lib/modules/$kver/modules.*" "./lib/modules/$kver/kernel/*"

# PVH entry: QEMU boots the ELF vmlinux directly, skipping the decompressor,
# which is slow under TCG (pitfall 7). The payload is the first xz stream.
log "building vmlinux"
python3 - "$W/k/boot/vmlinuz-$kver" "$W/vmlinux.xz" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
at = data.find(b'\xfd7zXZ\x00')
if at < 0:
    sys.exit('no xz payload in ' + sys.argv[1])
open(sys.argv[2], 'wb').write(data[at:])
EOF
# trailing garbage after the stream is expected: xz exits 1 with a warning
xz -dc "$W/vmlinux.xz" > "$W/vmlinux" 2>/dev/null || true
head -c 4 "$W/vmlinux" | od -An -c | grep -q 'E   L   F' || die "vmlinux is not an ELF"

log "building the initramfs"
dpkg-deb -x "$bdeb" "$W/bb"
dpkg-deb -x "$udeb" "$W/ud"
R="$W/root"
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/mnt/host" "$R/mnt/share" \
	"$R/lib/modules/$kver"
cp "$W/bb/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -s busybox "$R/bin/$a"
done
# If /init fails, the kernel falls back to busybox init, which waits forever
# for Enter (pitfall 2): without these links it panics and QEMU exits.
rm -f "$R/bin/init" "$R/bin/linuxrc" "$R/sbin/init" "$R/linuxrc"

# Modules: what is wanted, plus what it depends on per modules.dep.
python3 - "$W/k/lib/modules/$kver" "$R/lib/modules/$kver" <<'EOF'
import os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
want = ['usbcore', 'usb-common', 'xhci-hcd', 'xhci-pci', 'ehci-hcd', 'ehci-pci',
        'usbserial', 'usb_wwan', 'qcserial', 'option',
        'virtio', 'virtio_ring', 'virtio_pci', 'virtio_pci_modern_dev',
        'virtio_pci_legacy_dev', '9pnet', '9pnet_virtio', '9p', 'netfs', 'fscache']
# modules.dep is made at install time, not shipped: read each module's
# "depends=" from its .modinfo strings instead
path = {}
for d, _, files in os.walk(os.path.join(src, 'kernel')):
    for f in files:
        if f.endswith('.ko'):
            rel = os.path.relpath(os.path.join(d, f), src)
            path[f[:-3].replace('-', '_')] = rel
def deps_of(rel):
    data = open(os.path.join(src, rel), 'rb').read()
    at = data.find(b'\0depends=')
    if at < 0:
        return []
    val = data[at + 9:data.index(b'\0', at + 1)].decode()
    return [path[n.replace('-', '_')] for n in val.split(',') if n]
byname = path
todo = []
for w in want:
    m = byname.get(w) or byname.get(w.replace('-', '_'))
    if m:
        todo.append(m)
    # built-in in this kernel (modules.builtin): nothing to copy
done = set()
while todo:
    m = todo.pop()
    if m in done:
        continue
    done.add(m)
    todo.extend(deps_of(m))
for m in sorted(done):
    os.makedirs(os.path.join(dst, os.path.dirname(m)), exist_ok=True)
    shutil.copy2(os.path.join(src, m), os.path.join(dst, m))
for f in ('modules.builtin', 'modules.builtin.modinfo', 'modules.order'):
    p = os.path.join(src, f)
    if os.path.exists(p):
        shutil.copy2(p, os.path.join(dst, f))
print(len(done), 'modules', file=sys.stderr)
EOF
"$R/bin/busybox" depmod -b "$R" "$kver"
cp "$HERE/init" "$R/init"
chmod 755 "$R/init"
echo "$kver" > "$R/kver"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$W/initrd.gz"

# udevd for the guest (pitfall 4: libusb sees re-enumeration through udevd).
# It runs inside the chroot of the host root, from this directory; it is
# multi-call by argv[0].
mkdir -p "$W/udev/bin"
cp "$W/ud/bin/udevadm" "$W/udev/bin/udevadm"
ln -s udevadm "$W/udev/bin/systemd-udevd"
[ -d "$W/ud/lib/udev" ] && cp -a "$W/ud/lib/udev" "$W/udev/lib-udev"

rm -rf "$GUEST.new"
mkdir -p "$GUEST.new"
mv "$W/vmlinux" "$W/initrd.gz" "$W/udev" "$GUEST.new/"
rm -rf "$GUEST"
mv "$GUEST.new" "$GUEST"
exec 9>&-
log "guest ready in $GUEST ($(du -sh "$GUEST" | cut -f1))"
echo "$GUEST"
