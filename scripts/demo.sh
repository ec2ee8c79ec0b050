#!/bin/bash
# Sets up a fresh Debian 12 machine and runs the main job of dkms on the
# bundled example module: add, build and install it for an installed
# kernel's headers, into scratch trees, then show the status.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-dependencies.sh
swift build -c release
dkms=$PWD/.build/release/dkms
kernel=$(scripts/kernel-with-headers.sh)

scratch=$(mktemp -d /tmp/swift-dkms-demo.XXXXXX)
# Builds run in a sandbox as an unprivileged user, which must reach the trees.
chmod 755 "$scratch"
mkdir -p "$scratch"/{dkms,src,modules/"$kernel"}
ln -s "/lib/modules/$kernel/build" "$scratch/modules/$kernel/build"
trees=(--dkmstree "$scratch/dkms" --sourcetree "$scratch/src" --installtree "$scratch/modules")

run() { echo "+ dkms $*"; "$dkms" "$@" "${trees[@]}"; }
run add examples/hello-dkms
run build hello-dkms/1.0 -k "$kernel"
run install hello-dkms/1.0 -k "$kernel"
run status
echo "+ modinfo $scratch/modules/$kernel/updates/dkms/hello_dkms.ko"
modinfo "$scratch/modules/$kernel/updates/dkms/hello_dkms.ko" | grep -E '^(filename|version|vermagic):'
echo "Scratch trees kept in $scratch"
