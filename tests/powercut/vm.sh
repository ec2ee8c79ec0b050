# shellcheck shell=bash
# A small virtual machine for tests: a real Debian kernel under QEMU, a root of our own in an
# initramfs, and one virtio disk with ext4 that the test owns. Sourced, not run.
#
#   vm_packages                      installs what the functions need (apt, only if missing)
#   vm_kernel K DIR                  prints a bootable kernel file for K (the vmlinux unpacked
#                                    from /boot/vmlinuz-K, booted through PVH; else the bzImage)
#   vm_copy_exec ROOT FILE...        copies programs into ROOT at the same paths, with the
#                                    shared libraries ldd lists (and the dynamic loader)
#   vm_boot_modules ROOT K MOD...    copies MOD... and their dependencies (modprobe
#                                    --show-depends) to ROOT/boot-modules, in load order
#                                    (ROOT/boot-modules/order) for the init to insmod
#   vm_initramfs ROOT OUT            packs ROOT as an uncompressed newc cpio
#   vm_disk DIR IMAGE SIZE           an ext4 image holding DIR (mkfs.ext4 -d, default options)
#   vm_start KERNEL INITRD IMAGE SERIAL [APPEND]
#                                    boots in the background (VM_PID); the guest's serial
#                                    console goes line by line to the fifo read by vm_expect
#                                    and to the file SERIAL
#   vm_expect REGEX SECONDS          reads console lines until one matches (VM_LINE) or the
#                                    time runs out (status 1) or the VM ends (status 2)
#   vm_cut                           the power cut: SIGKILL to QEMU, whatever the guest did
#   vm_stop                          the same, for a VM that has done its work
#   vm_fsck IMAGE                    e2fsck -fy on the host (replays the ext4 journal as a
#                                    mount would, then repairs); prints its exit status
#   vm_extract IMAGE PATH DEST       copies PATH of the image to DEST (debugfs rdump)
#
# QEMU writes the guest's disk requests to the image file as they come (cache=writeback):
# what the guest kernel had written to its disk survives the SIGKILL, what it still held in
# its page cache does not. Accelerator: VM_ACCEL (default: kvm when /dev/kvm works, else tcg).

VM_PACKAGES=(qemu-system-x86 busybox-static cpio kmod e2fsprogs xz-utils zstd)
VM_MEMORY=${VM_MEMORY:-512}

vm_die() { echo "vm.sh: $*" >&2; exit 2; }

vm_packages() {
    local p missing=()
    for p in "${VM_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    echo "Installing: ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=1200 "${missing[@]}" >&2 \
        || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y \
            --no-install-recommends -o DPkg::Lock::Timeout=1200 "${missing[@]}" >&2; } \
        || vm_die "apt-get install ${missing[*]} failed"
}

# vm_kernel K DIR: the unpacked vmlinux (PVH entry, ~2 s faster under TCG than letting the
# guest decompress the bzImage), or /boot/vmlinuz-K when it cannot be unpacked.
vm_kernel() {
    local k=$1 dir=$2 img=/boot/vmlinuz-$1 m cmd magic off
    [[ -f $img ]] || vm_die "no $img (install linux-image-$k)"
    if grep -q '^CONFIG_PVH=y' "/boot/config-$k" 2>/dev/null; then
        for m in 'xz:\xFD7zXZ\x00' 'zstd -q:\x28\xB5\x2F\xFD' 'gzip -q:\x1F\x8B\x08'; do
            cmd=${m%%:*} magic=${m#*:}
            command -v "${cmd%% *}" >/dev/null || continue
            for off in $(LC_ALL=C grep -aboP "$magic" "$img" | cut -d: -f1 | head -n 3); do
                tail -c +$((off + 1)) "$img" | $cmd -dc >"$dir/vmlinux" 2>/dev/null
                if [[ $(head -c 4 "$dir/vmlinux" | od -An -c | tr -d ' ') = 177ELF ]]; then
                    echo "$dir/vmlinux"; return 0
                fi
            done
        done
    fi
    echo "$img"
}

# vm_copy_exec ROOT FILE...: FILE (following links) lands at the same path under ROOT; its
# libraries and loader too.
vm_copy_exec() {
    local root=$1 f lib
    shift
    for f in "$@"; do
        [[ -e $f ]] || vm_die "vm_copy_exec: no $f"
        mkdir -p "$root$(dirname "$f")"
        cp -L "$f" "$root$f" || vm_die "cannot copy $f"
        while read -r lib; do
            [[ -e $root$lib ]] && continue
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        done < <(ldd "$f" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' | sort -u)
    done
}

vm_boot_modules() {
    local root=$1 k=$2 m f
    shift 2
    mkdir -p "$root/boot-modules"
    : >"$root/boot-modules/order"
    for m in "$@"; do
        while read -r _ f _; do
            [[ -f $f ]] || continue
            grep -qxF "${f##*/}" "$root/boot-modules/order" && continue
            cp "$f" "$root/boot-modules/" && echo "${f##*/}" >>"$root/boot-modules/order"
        done < <(modprobe -S "$k" --show-depends "$m" 2>/dev/null)
    done
    [[ -s $root/boot-modules/order ]] || vm_die "no boot modules found for $k"
}

vm_initramfs() { (cd "$1" && find . | cpio -o -H newc --quiet) >"$2" || vm_die "cpio failed"; }

vm_disk() {
    rm -f "$2"
    truncate -s "$3" "$2"
    mkfs.ext4 -q -F -d "$1" "$2" >/dev/null 2>&1 || { mkfs.ext4 -F -d "$1" "$2" >&2; vm_die "mkfs.ext4 -d $1 failed"; }
}

vm_start() {
    local kernel=$1 initrd=$2 image=$3 serial=$4 append=${5:-}
    local accel=${VM_ACCEL:-tcg} cpu=()
    [[ $accel == kvm ]] && cpu=(-cpu "${VM_KVM_CPU:-max}")
    VM_FIFO=$serial.fifo
    rm -f "$VM_FIFO"; mkfifo "$VM_FIFO"
    exec {VM_FD}<>"$VM_FIFO"
    : >"$serial"
    VM_SERIAL=$serial
    qemu-system-x86_64 -accel "$accel" "${cpu[@]}" -m "$VM_MEMORY" -smp 1 -nographic -no-reboot \
        -nic none -kernel "$kernel" -initrd "$initrd" \
        -drive "file=$image,format=raw,if=virtio,cache=writeback" \
        -append "console=ttyS0 panic=-1 quiet $append" </dev/null >"$VM_FIFO" 2>&1 &
    VM_PID=$!
}

vm_expect() {
    local re=$1 until=$((SECONDS + $2)) l
    while ((SECONDS < until)); do
        if IFS= read -r -t 1 -u "$VM_FD" l; then
            l=${l%$'\r'}
            printf '%s\n' "$l" >>"$VM_SERIAL"
            # shellcheck disable=SC2034 # VM_LINE is for the caller
            if [[ $l =~ $re ]]; then VM_LINE=$l; return 0; fi
        elif ! kill -0 "$VM_PID" 2>/dev/null; then
            return 2
        fi
    done
    return 1
}

# vm_drain: the console lines still in the fifo, into the serial file.
vm_drain() {
    local l
    while IFS= read -r -t 0.05 -u "$VM_FD" l; do printf '%s\n' "${l%$'\r'}" >>"$VM_SERIAL"; done
}

vm_cut() {
    kill -KILL "$VM_PID" 2>/dev/null
    wait "$VM_PID" 2>/dev/null
    vm_drain
    exec {VM_FD}<&-
    rm -f "$VM_FIFO"
}
vm_stop() { vm_cut; }

vm_fsck() {
    e2fsck -fy "$1" >"$1.fsck" 2>&1
    echo $?
}

vm_extract() {
    mkdir -p "$3"
    debugfs -R "rdump $2 $3" "$1" >/dev/null 2>"$3.debugfs" || return 1
}
