#!/bin/bash
# A fleet client (issue 18, docs/fleet.md): the swift-dkms .deb installs
# with apt in a Debian root that has no compiler, no make and no kernel
# headers, and dkms works there.
#
# The root is tests/chroot's cached Debian 12 root (root-cache.sh: built
# once with debootstrap, then only unpacked), with gcc, make and the
# headers purged from it. Then, in the chroot:
#   1. gcc, cc and make are absent;
#   2. apt-get install --no-install-recommends of the .deb succeeds and
#      installs neither gcc nor make;
#   3. dkms --version and dkms status work;
#   4. dkms cache locations exits 1 and prints nothing; with
#      build_cache_shared in a framework.conf.d drop-in it prints the
#      location and exits 0;
#   5. then the autoinstaller runs dkms autoinstall for the root's kernel,
#      which has no headers, instead of printing the "skipped" notice.
# Nothing outside the temporary root is changed (apt's downloads are cached
# under /var/cache/swift-dkms-tests/apt).
#
# Usage: tests/chroot/run-fleet-client.sh DEB   (root; needs debootstrap
# unless the root is cached). Environment: KEEP=1, CHROOT_CACHE,
# CHROOT_MIRROR. Prints "N passed, M failed" and exits 1 on failure (77
# when it cannot run here).
set -u
here=$(cd "$(dirname "$0")" && pwd)
deb=${1:?usage: run-fleet-client.sh DEB}
# shellcheck source=tests/chroot/root-cache.sh
. "$here/root-cache.sh"

if [[ $(id -u) != 0 ]]; then echo "skip: needs root"; exit 77; fi
if ! command -v debootstrap >/dev/null && [[ ! -f $CHROOT_TARBALL ]]; then
    echo "skip: debootstrap is not installed"; exit 77
fi
[[ -f $deb ]] || { echo "no package at $deb" >&2; exit 2; }

work=$(mktemp -d /var/tmp/swift-dkms-client.XXXXXX)
R=$work/root
cleanup() {
    mountpoint -q "$R/var/cache/apt/archives" && umount -l "$R/var/cache/apt/archives"
    rc_umount "$R"
    if [[ ${KEEP:-} == 1 ]]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

rc_unpack "$R" || { echo "could not prepare the root" >&2; exit 2; }
rc_mount "$R"
mkdir -p "$CHROOT_CACHE/apt/partial"
mount --bind "$CHROOT_CACHE/apt" "$R/var/cache/apt/archives"
in_root() { rc_in_root "$R" "$@"; }
apt_in_root() { in_root apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 "$@"; }
out=$work/out

# The root's kernel: its image is installed, its headers are purged below.
kernel=$(find "$R/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)
[[ -n $kernel && -f $R/boot/vmlinuz-$kernel ]] || { echo "no kernel image in the root" >&2; exit 2; }

# 1. No compiler, make or headers.
apt_in_root purge -y -qq --auto-remove gcc make 'linux-headers-*' 'linux-kbuild-*' >"$out" 2>&1
detail=$(cat "$out")
check "gcc, make and the headers purge from the root" \
    in_root sh -c '! command -v gcc && ! command -v cc && ! command -v make && ! ls -d /lib/modules/*/build/include >/dev/null 2>&1'

# 2. The package installs with apt, and brings neither gcc nor make.
cp "$deb" "$R/tmp/swift-dkms.deb"
apt_in_root update -qq >"$out" 2>&1
apt_in_root install -y -qq --no-install-recommends /tmp/swift-dkms.deb >"$out" 2>&1
rc=$?
detail=$(cat "$out")
check "apt-get install --no-install-recommends swift-dkms succeeds" test "$rc" = 0
check "dkms is ours" in_root sh -c 'dpkg -S /usr/sbin/dkms | grep -q "^swift-dkms:"'
# shellcheck disable=SC2016 # the chroot's shell expands these
detail=$(in_root dpkg-query -W -f='${Package} ${Status}\n' gcc make 2>&1)
# shellcheck disable=SC2016
check "still no gcc and no make" in_root sh -c '! command -v gcc && ! command -v cc && ! command -v make && ! dpkg-query -W -f="\${Status}" gcc make 2>/dev/null | grep -q "ok installed"'

# 3. dkms works.
detail=$(in_root dkms --version 2>&1)
check "dkms --version" test "$detail" = dkms-3.4.3
status=$(in_root dkms status 2>"$out")
rc=$?
detail="$status$(cat "$out")"
check "dkms status exits 0 and lists nothing" test "$rc:$status" = "0:"

# 4. The shared cache question.
detail=$(in_root dkms cache locations 2>&1)
rc=$?
check "dkms cache locations: nothing configured, exit 1, no output" test "$rc:$detail" = "1:"
echo 'build_cache_shared="http://fleet.invalid/dkms"' >"$R/etc/dkms/framework.conf.d/fleet.conf"
detail=$(in_root dkms cache locations 2>&1)
rc=$?
check "dkms cache locations: the drop-in's location, exit 0" test "$rc:$detail" = "0:http://fleet.invalid/dkms"

# 5. The autoinstaller goes on for a kernel without headers.
in_root /usr/lib/dkms/dkms_autoinstaller start "$kernel" >"$out" 2>&1
rc=$?
detail=$(cat "$out")
check "autoinstaller for $kernel (no headers, shared cache) exits 0" test "$rc" = 0
check "and does not skip it" bash -c "! grep -q 'was skipped since the kernel headers' '$out'"
rm "$R/etc/dkms/framework.conf.d/fleet.conf"
in_root /usr/lib/dkms/dkms_autoinstaller start "$kernel" >"$out" 2>&1
detail=$(cat "$out")
check "without a shared cache it is skipped as before" \
    grep -qx "Automatic installation of modules for kernel $kernel was skipped since the kernel headers for this kernel do not seem to be installed." "$out"

echo "$passed passed, $failed failed"
((failed == 0))
