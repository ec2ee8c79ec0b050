# shellcheck shell=bash
# Sourced by tests/chroot/run-chroot.sh and run-fleet-client.sh. Builds (once) and unpacks a Debian 12
# root for the chroot tests:
#   debootstrap --variant=minbase bookworm, then inside it with apt: a 6.1
#   kernel image and its headers (linux-image-amd64, linux-headers-amd64:
#   initramfs-tools, kmod, gcc and make come with them).
# The result is cached as a tarball under $CHROOT_CACHE (default
# /var/cache/swift-dkms-tests, created when missing), keyed by the mirror and
# the package list, so that later runs only unpack it (seconds instead of
# minutes).

# The suites' check lines: pass/fail counters (passed, failed), and check
# DESCRIPTION COMMAND..., which passes when COMMAND succeeds (on failure the
# last lines of $detail are shown).
passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() {
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$1"
    [[ ${2:-} ]] && printf '%s\n' "$2" | tail -25 | sed 's/^/      | /'
}
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what" "${detail:-}"; fi
}

CHROOT_CACHE=${CHROOT_CACHE:-/var/cache/swift-dkms-tests}
CHROOT_MIRROR=${CHROOT_MIRROR:-http://deb.debian.org/debian}
CHROOT_PACKAGES=(linux-image-amd64 linux-headers-amd64)
CHROOT_TARBALL="$CHROOT_CACHE/bookworm-minbase-kernel-v1.tar.zst"

# rc_mounts ROOT: the pseudo file systems apt and the kernel's hooks need.
rc_mount() {
    local root=$1
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --bind /dev "$root/dev"
    mount -t devpts devpts "$root/dev/pts" 2>/dev/null || true
}

# rc_umount ROOT: undoes rc_mount (quietly, in reverse order).
rc_umount() {
    local root=$1 m
    for m in dev/pts dev sys proc; do
        mountpoint -q "$root/$m" && umount -l "$root/$m"
    done
    return 0
}

# rc_in_root ROOT CMD...: runs CMD in the chroot with a clean environment.
rc_in_root() {
    local root=$1; shift
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive \
        chroot "$root" "$@"
}

# rc_build_tarball: debootstrap + kernel packages, packed into $CHROOT_TARBALL.
rc_build_tarball() {
    local work
    work=$(mktemp -d /var/tmp/swift-dkms-root.XXXXXX)
    echo "chroot: building the cached root (debootstrap, minutes; once per cache)" >&2
    if ! debootstrap --variant=minbase bookworm "$work/root" "$CHROOT_MIRROR" >"$work/debootstrap.log" 2>&1; then
        tail -20 "$work/debootstrap.log" >&2
        rm -rf "$work"
        return 1
    fi
    # Debian's security archive carries the current 6.1 ABI.
    cat >"$work/root/etc/apt/sources.list" <<SOURCES
deb $CHROOT_MIRROR bookworm main
deb $CHROOT_MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
    rc_mount "$work/root"
    local ok=0
    rc_in_root "$work/root" apt-get update -qq >"$work/apt.log" 2>&1 &&
        rc_in_root "$work/root" apt-get install -y -qq --no-install-recommends "${CHROOT_PACKAGES[@]}" >>"$work/apt.log" 2>&1 &&
        rc_in_root "$work/root" apt-get clean || ok=1
    rc_umount "$work/root"
    if ((ok)); then
        tail -20 "$work/apt.log" >&2
        rm -rf "$work"
        return 1
    fi
    mkdir -p "$CHROOT_CACHE"
    tar -C "$work/root" --numeric-owner --zstd -cf "$CHROOT_TARBALL.part" . &&
        mv "$CHROOT_TARBALL.part" "$CHROOT_TARBALL"
    rm -rf "$work"
}

# rc_unpack DIR: a fresh copy of the cached root in DIR (building the cache first).
rc_unpack() {
    local dir=$1
    if [[ ! -f $CHROOT_TARBALL ]]; then rc_build_tarball || return 1; fi
    mkdir -p "$dir"
    tar -C "$dir" --numeric-owner --zstd -xf "$CHROOT_TARBALL"
}
