#!/bin/bash
# Runs upstream dkms' own test suite (run_test.sh, which is not part of this
# repository) against a dkms binary, without touching the machine: the suite
# runs in a private mount namespace where /etc, /var/lib/dkms, /usr/src,
# /usr/lib, /boot and /lib/modules are overlays (or a private copy) whose
# changes are thrown away afterwards.
#
#   scripts/run-upstream-suite.sh RUN_TEST_SH DKMS_BINARY KERNEL [SECTION...]
#
# RUN_TEST_SH is upstream's run_test.sh in a checkout of upstream dkms (its
# test/ directory beside it); DKMS_BINARY goes first on PATH as `dkms`; KERNEL
# must have headers in /lib/modules/KERNEL/build. When the kernel's module
# tree lacks the files depmod reads (modules.order, modules.builtin*), the
# matching linux-image package is fetched with `apt-get download` and its
# /lib/modules part unpacked into the overlay. Extra environment (e.g.
# build_sandbox=no through /etc/dkms/framework.conf.d) is given with
# UPSTREAM_SUITE_FRAMEWORK="name=value ...", written into a framework.conf.d
# file of the overlay. Prints the suite's output; exits with its status.
set -euo pipefail

[[ $# -ge 3 ]] || { echo "usage: $0 RUN_TEST_SH DKMS_BINARY KERNEL [SECTION...]" >&2; exit 2; }
suite=$(readlink -f "$1") dkms=$(readlink -f "$2") kernel=$3
shift 3
[[ -f $suite && -x $dkms ]] || { echo "no $suite or $dkms" >&2; exit 2; }
[[ -d /lib/modules/$kernel/build/include ]] || { echo "no headers for $kernel" >&2; exit 2; }

work=$(mktemp -d /var/tmp/dkms-upstream-suite.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/image"
cp "$dkms" "$work/bin/dkms"
if [[ ! -f /lib/modules/$kernel/modules.order ]]; then
    (cd "$work/image" && apt-get -q -o APT::Sandbox::User=root download "linux-image-$kernel" >/dev/null 2>&1 \
        || apt-get -q -o APT::Sandbox::User=root download "linux-image-$kernel-unsigned" >/dev/null) \
        || { echo "cannot download linux-image-$kernel" >&2; exit 2; }
    dpkg-deb -x "$work"/image/*.deb "$work/image/root"
fi

unshare -m --propagation private bash -s "$work" "$kernel" "$suite" "$@" <<'EOF'
set -euo pipefail
work=$1 kernel=$2 suite=$3
shift 3
# /etc is a snapshot (other processes may change the machine's /etc while the
# suite runs); the dkms tree starts empty; the others see the machine's files.
cp -a /etc "$work/etc-snapshot"
mkdir -p /var/lib/dkms "$work/dkms-tree"
mount --bind "$work/dkms-tree" /var/lib/dkms
# run_test.sh moves /usr/lib/os-release away for a while: /usr/lib is an
# overlay too (before /lib/modules, which may lie inside it).
dirs=(/etc /usr/src /usr/lib /boot)
[[ $(readlink -f /lib/modules) = /usr/lib/* ]] || dirs+=(/lib/modules)
for dir in "${dirs[@]}"; do
    name=${dir//\//_}
    lower=$dir
    [[ $dir = /etc ]] && lower=$work/etc-snapshot
    mkdir -p "$work/$name/upper" "$work/$name/work"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/$name/upper,workdir=$work/$name/work" "$dir"
done
if [[ -d $work/image/root/lib/modules/$kernel ]]; then
    cp -a "$work/image/root/lib/modules/$kernel/." "/lib/modules/$kernel/"
fi
# The suite expects empty trees of its own.
rm -rf /lib/modules/"$kernel"/updates /etc/dkms/framework.conf.d/*
mkdir -p /etc/dkms/framework.conf.d
for setting in ${UPSTREAM_SUITE_FRAMEWORK:-}; do echo "$setting" >>/etc/dkms/framework.conf.d/zz-suite.conf; done
# The suite writes its temporary files beside itself: run a copy.
cp -a "$(dirname "$suite")" "$work/suite"
cd "$work/suite"
PATH="$work/bin:$PATH" KERNEL_VER=$kernel ./"$(basename "$suite")" "$@"
EOF
