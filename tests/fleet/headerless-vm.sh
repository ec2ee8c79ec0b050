#!/bin/bash
# The QEMU proof of tests/fleet/run-headerless.sh: kernel K (the real Debian kernel, under TCG
# with tests/powercut/vm.sh) insmods a module a client without headers adopted from the fleet
# and signed with openssl, and the module's init line and /proc/modules show it loaded.
#
# Usage: tests/fleet/headerless-vm.sh KERNEL MODULE.ko WORKDIR
# Prints the guest's result lines, then "loaded NAME in K (N s)" and exits 0, or says what was
# missing and exits 1 (2 on setup errors).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/powercut/vm.sh
. "$HERE/../powercut/vm.sh"
[[ $# -eq 3 ]] || vm_die "usage: $0 KERNEL MODULE.ko WORKDIR"
K=$1 KO=$2 W=$3
NAME=$(modinfo -F name "$KO")
started=$SECONDS
vm_packages
mkdir -p "$W/root/bin" "$W/root/proc" "$W/root/sys" "$W/root/dev" "$W/disk"
R=$W/root
trap '[[ -z ${VM_PID:-} ]] || vm_stop || true' EXIT
vm_copy_exec "$R" "$(command -v busybox)"
for t in sh mount insmod grep cat dmesg poweroff sed; do ln -sf "$(command -v busybox)" "$R/bin/$t"; done
cp "$KO" "$R/module.ko"
# virtio_blk for the (empty) disk vm_start attaches.
vm_boot_modules "$R" "$K" virtio_pci virtio_blk
cat >"$R/init" <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /boot-modules/order); do insmod /boot-modules/$m; done
echo "HLESS UNAME $(cat /proc/sys/kernel/osrelease)"
insmod /module.ko; echo "HLESS INSMOD $?"
dmesg | grep -E 'hello_dkms|module verification' | sed 's/^/HLESS DMESG /'
grep "^$(sed -n 's/.*hless.name=\([a-z_0-9]*\).*/\1/p' /proc/cmdline) " /proc/modules | sed 's/^/HLESS MODULES /'
echo "HLESS END"
poweroff -f
EOF
chmod +x "$R/init"
vm_initramfs "$R" "$W/initrd.cpio"
vm_disk "$W/disk" "$W/disk.img" 8M
KERNEL=$(vm_kernel "$K" "$W")
vm_start "$KERNEL" "$W/initrd.cpio" "$W/disk.img" "$W/serial" "hless.name=$NAME loglevel=7"
vm_expect '^HLESS END' 90 || { tail -20 "$W/serial" >&2; echo "the guest did not finish"; exit 1; }
vm_stop || true
VM_PID=
grep '^HLESS' "$W/serial"
ok=1
grep -qx "HLESS UNAME $K" "$W/serial" || { echo "the guest did not run $K"; ok=0; }
grep -qx 'HLESS INSMOD 0' "$W/serial" || { echo "insmod failed"; ok=0; }
grep -q "^HLESS DMESG .*hello_dkms: loaded" "$W/serial" || { echo "no init line of $NAME"; ok=0; }
grep -q "^HLESS MODULES $NAME " "$W/serial" || { echo "$NAME not in /proc/modules"; ok=0; }
((ok)) || exit 1
echo "loaded $NAME in $K ($((SECONDS - started)) s)"
