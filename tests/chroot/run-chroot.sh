#!/bin/bash
# The right kernel in a debootstrap root (issue 11, items 1 and 3).
#
# A Debian 12 root (debootstrap --variant=minbase bookworm, with a 6.1
# kernel image and its headers installed by apt inside it; cached as a
# tarball under /var/cache/swift-dkms-tests, see root-cache.sh) gets our
# dkms: the binary under test, its Swift runtime libraries and our
# integration files (hooks, common.postinst, autoinstaller,
# framework.conf), packaged on the fly as a small "dkms" provider so that
# apt accepts *-dkms packages (or the .deb given as DEB=, e.g. the one
# packaging/build-deb.sh makes). Then, in the chroot, where `uname -r` is
# the host's kernel and has no headers:
#   1. apt-get install v4l2loopback-dkms: its postinst (common.postinst)
#      builds and installs the module for the root's kernel, not for the
#      running one;
#   2. dkms install / autoinstall without -k target the root's kernel and
#      say so on stderr;
#   3. with the module listed in /etc/initramfs-tools/modules, reinstalling
#      it regenerates the root kernel's initramfs exactly once, and
#      lsinitramfs shows the module in it; an unrelated module (not listed)
#      regenerates nothing;
#   4. the kernel's postinst hook succeeds although a second module fails
#      to build (reported with its log, listed by status --json), and fails
#      once that module is marked REQUIRED_MODULE=yes.
# Nothing outside the temporary root is changed (apt's downloads are cached
# under /var/cache/swift-dkms-tests/apt so reruns need no network).
#
# Usage: tests/chroot/run-chroot.sh [DKMS_BINARY]   (root; needs debootstrap)
# Environment: DEB (install this .deb instead of the provider), KEEP=1,
# CHROOT_CACHE, CHROOT_MIRROR, MODULE_PACKAGE (default v4l2loopback-dkms).
# Prints "N passed, M failed" and exits 1 on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dkms=${1:-$repo/.build/debug/dkms}
package=${MODULE_PACKAGE:-v4l2loopback-dkms}
# shellcheck source=tests/chroot/root-cache.sh
. "$here/root-cache.sh"

if [[ $(id -u) != 0 ]]; then echo "skip: needs root"; exit 0; fi
if ! command -v debootstrap >/dev/null && [[ ! -f $CHROOT_TARBALL ]]; then
    echo "skip: debootstrap is not installed"; exit 0
fi
[[ -x $dkms ]] || { echo "no dkms binary at $dkms" >&2; exit 2; }

work=$(mktemp -d /var/tmp/swift-dkms-chroot.XXXXXX)
R=$work/root
cleanup() {
    rc_umount "$R"
    mountpoint -q "$R/var/cache/apt/archives" && umount -l "$R/var/cache/apt/archives"
    if [[ ${KEEP:-} == 1 ]]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

started=$(date +%s)
rc_unpack "$R" || { echo "could not prepare the root" >&2; exit 2; }
echo "root ready in $(($(date +%s) - started)) s"

# Our dkms as a package that provides dkms.
stage=$work/stage
subst() {
    sed -e 's|@SBINDIR@|/usr/sbin|g' -e 's|@LIBDIR@|/usr/lib/dkms|g' \
        -e 's|@MODDIR@|/lib/modules|g' -e 's|@KCONFDIR@|/etc/kernel|g' \
        -e 's|@SYSCONFDIR@|/etc/dkms|g' -e 's|@DKMSTREE@|/var/lib/dkms|g' \
        -e 's|@SOURCETREE@|/usr/src|g' -e 's|@BOOTDIR@|/boot|g' "$1"
}
put() { install -d "$stage$(dirname "$3")"; subst "$2" >"$stage$3"; chmod "$1" "$stage$3"; }
if [[ ${DEB:-} ]]; then
    cp "$DEB" "$R/tmp/dkms.deb"
else
    install -D -m755 "$dkms" "$stage/usr/sbin/dkms"
    # The Swift runtime the binary links against, at the same paths.
    ldd "$dkms" | awk '$3 ~ /^\/opt\// { print $3 }' | while read -r lib; do
        install -D -m644 "$lib" "$stage$lib"
    done
    put 755 "$repo/integration/common.postinst" /usr/lib/dkms/common.postinst
    put 755 "$repo/integration/dkms_autoinstaller" /usr/lib/dkms/dkms_autoinstaller
    for hook in postinst.d header_postinst.d preinst.d prerm.d; do
        put 755 "$repo/integration/kernel/$hook/dkms" "/etc/kernel/$hook/dkms"
    done
    put 644 "$repo/integration/framework.conf" /etc/dkms/framework.conf
    install -d "$stage/etc/dkms/framework.conf.d" "$stage/var/lib/dkms" "$stage/DEBIAN"
    cat >"$stage/DEBIAN/control" <<CONTROL
Package: swift-dkms-under-test
Version: 3.4.3-test
Architecture: $(dpkg --print-architecture)
Maintainer: swift-dkms tests <swift-dkms@localhost>
Depends: bash, kmod, make, gcc, patch
Provides: dkms (= 3.4.3)
Conflicts: dkms
Description: the dkms binary under test (tests/chroot only)
CONTROL
    dpkg-deb --root-owner-group -Zgzip --build "$stage" "$R/tmp/dkms.deb" >/dev/null
fi

rc_mount "$R"
mkdir -p "$CHROOT_CACHE/apt/partial"
mount --bind "$CHROOT_CACHE/apt" "$R/var/cache/apt/archives"
in_root() { rc_in_root "$R" "$@"; }

running=$(uname -r)
kernel=$(in_root sh -c 'ls -1 /lib/modules | sort -V | tail -1')
echo "running kernel: $running; the root's kernel: $kernel"
detail="/lib/modules of the root: $(ls "$R/lib/modules")"
check "the root has one installed kernel with headers, not the running one" \
    test -d "$R/lib/modules/$kernel/build/include" -a ! -e "$R/lib/modules/$running"

out=$work/install.log
in_root apt-get -o DPkg::Lock::Timeout=600 update -qq >"$out" 2>&1
in_root apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends /tmp/dkms.deb >"$out" 2>&1
detail=$(cat "$out")
check "our dkms installs in the root as the dkms provider" in_root sh -c "dkms --version >/dev/null"

in_root apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$package" >"$out" 2>&1
rc=$?
detail=$(cat "$out")
check "apt-get install $package succeeds" test "$rc" = 0
module=${package%-dkms}
# shellcheck disable=SC2016
version=$(in_root dpkg-query -W -f='${Version}' "$package" | sed 's/-[^-]*$//')
check "common.postinst says the running kernel belongs to the host" grep -q "It is likely that $running belongs to a chroot's host" "$out"
status=$(in_root dkms status)
detail=$status
check "installed for the root's kernel" grep -q "^$module/$version, $kernel, [^:]*: installed" <<<"$status"
check "nothing for the running kernel" test -z "$(grep -F "$running" <<<"$status")"
check "the module file is in the root's kernel tree" test -f "$R/lib/modules/$kernel/updates/dkms/$module.ko" \
    -o -f "$R/lib/modules/$kernel/updates/dkms/$module.ko.xz"

# dkms without -k in the chroot.
in_root dkms remove "$module/$version" --all >"$out" 2>&1
in_root dkms add "$module/$version" >"$out" 2>&1
in_root dkms install "$module/$version" >"$out" 2>"$work/err"
rc=$?
detail="$(cat "$out" "$work/err")"
check "dkms install without -k succeeds" test "$rc" = 0
check "it says which kernel it chose instead of the running one" \
    grep -qx "dkms: the running kernel $running has no headers here; using the installed kernel $kernel instead." "$work/err"
check "it installed for the root's kernel" grep -q "installed" <<<"$(in_root dkms status -k "$kernel" "$module/$version")"
in_root dkms uninstall -k "$kernel" "$module/$version" >"$out" 2>&1
in_root dkms autoinstall >"$out" 2>"$work/err"
rc=$?
detail="$(cat "$out" "$work/err")"
check "dkms autoinstall without -k succeeds" test "$rc" = 0
check "autoinstall ran for the root's kernel" grep -q "Autoinstall on $kernel succeeded for module(s) $module" "$out"

# The initramfs follows a module listed in /etc/initramfs-tools/modules.
if in_root sh -c 'command -v update-initramfs && command -v lsinitramfs' >/dev/null; then
    in_root sh -c "lsinitramfs /boot/initrd.img-$kernel" | grep -q "/$module\.ko" && before=yes || before=no
    check "the initramfs does not hold $module yet" test "$before" = no
    # Regenerations are quiet (upstream's output stays all there is) and
    # recorded in the dkms tree's initramfs log.
    log=$R/var/lib/dkms/.logs/initramfs.log
    regenerations() { grep -c "dkms: regenerating the initramfs of $kernel for $module/$version" "$log" 2>/dev/null || true; }
    n0=$(regenerations)
    in_root dkms uninstall -k "$kernel" "$module/$version" >"$out" 2>"$work/err"
    detail=$(cat "$work/err")
    check "uninstalling an unlisted module regenerates nothing" test "$(regenerations)" = "$n0"
    echo "$module" >>"$R/etc/initramfs-tools/modules"
    in_root dkms install -k "$kernel" "$module/$version" >"$out" 2>"$work/err"
    detail="$(cat "$out" "$work/err")"
    check "installing the listed module regenerates the initramfs exactly once" \
        test "$(grep -c "dkms: regenerating the initramfs of $kernel for $module/$version (listed in /etc/initramfs-tools/modules): update-initramfs -u -k $kernel" "$log")" = 1
    detail=$(in_root sh -c "lsinitramfs /boot/initrd.img-$kernel" | grep -F "$module" || true)
    check "lsinitramfs shows $module in the new initramfs" grep -q "/$module\.ko" <<<"$detail"
fi

# One broken module does not fail the kernel's postinst hook, unless it is
# required.
mkdir -p "$R/usr/src/dkms_broken_test-1.0"
cat >"$R/usr/src/dkms_broken_test-1.0/dkms.conf" <<'CONF'
PACKAGE_NAME="dkms_broken_test"
PACKAGE_VERSION="1.0"
BUILT_MODULE_NAME[0]="dkms_broken_test"
DEST_MODULE_LOCATION[0]="/updates/dkms"
AUTOINSTALL="yes"
CONF
echo 'obj-m := dkms_broken_test.o' >"$R/usr/src/dkms_broken_test-1.0/Makefile"
echo 'this is not C' >"$R/usr/src/dkms_broken_test-1.0/dkms_broken_test.c"
in_root dkms add dkms_broken_test/1.0 >"$out" 2>&1
in_root /etc/kernel/postinst.d/dkms "$kernel" "/boot/vmlinuz-$kernel" >"$out" 2>"$work/err"
rc=$?
detail="$(cat "$out" "$work/err")"
check "the postinst hook succeeds despite the broken module" test "$rc" = 0
check "it names the broken module and its kept log" \
    grep -qF "dkms: dkms_broken_test/1.0 failed for kernel $kernel" "$work/err"
json=$(in_root dkms status --json)
detail=$json
check "status --json lists the failure with its log" \
    grep -q "\"module\": \"dkms_broken_test\", \"version\": \"1.0\", \"kernel\": \"$kernel\".*\"log\": \"/var/lib/dkms/.logs/dkms_broken_test/" <<<"$json"
check "$module stays installed" grep -q "installed" <<<"$(in_root dkms status -k "$kernel" "$module/$version")"
echo 'REQUIRED_MODULE=yes' >"$R/etc/dkms/dkms_broken_test.conf"
in_root /etc/kernel/postinst.d/dkms "$kernel" >"$out" 2>"$work/err"
rc=$?
detail="$(cat "$out" "$work/err")"
check "marked required, it fails the hook as upstream's would" test "$rc" != 0

echo
echo "$passed passed, $failed failed ($(($(date +%s) - started)) s)"
((failed == 0))
