#!/bin/bash
# Installs what swift-dkms needs to build modules and to run its tests on
# Debian 12: kernel headers (the current ABI, through linux-headers-amd64),
# the kernel build tool chain, kmod (modinfo, depmod), and the tools dkms
# calls (patch, openssl, compressors, curl for shared caches), and lintian
# for the package flow.
# Safe to run again.
set -euo pipefail

packages=(
    linux-headers-amd64 gcc make libelf-dev bc kmod patch openssl
    xz-utils zstd gzip file procps python3 debhelper dpkg-dev fakeroot zsh shellcheck groff-base bubblewrap jq curl strace
    debootstrap lintian
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "Installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# dkms keeps its trees here; the Debian package would create them.
mkdir -p /var/lib/dkms /etc/dkms/framework.conf.d
