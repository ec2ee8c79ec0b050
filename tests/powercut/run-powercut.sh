#!/bin/bash
# Power cuts: a dkms implementation runs its commands in a real Debian kernel under QEMU, on
# an ext4 disk (default options) holding /var/lib/dkms, /usr/src and /lib/modules/K; the host
# kills QEMU at a uniform random instant of the workload, then checks the disk.
#
# Usage: tests/powercut/run-powercut.sh DKMS_BINARY [CUTS] [SECONDS_LIMIT]
#        (defaults: 20 cuts, 1800 seconds)
#
# The disk, prepared on the host (in a bubblewrap namespace that shows the disk's directories
# at the real paths, so the trees hold the same absolute links they will in the guest):
#   hello-dkms/1.0 (examples/hello-dkms) added and built for K, bystander-dkms/1.0 (a renamed
#   copy) installed; /lib/modules/K holds the kernel's own modules the guest boots with plus a
#   few more, and kernel/drivers/misc/hello_dkms.ko (a copy of dummy.ko): the kernel's own
#   module of hello's name, which install archives and uninstall restores; with depmod's
#   indexes; the module cache (swift-dkms) holds hello's build.
#   /lib/modules/K/build is a stand-in for the headers: .config, Module.symvers,
#   include/config/auto.conf and include/generated's utsrelease.h, utsversion.h and
#   compile.h only (what the cache key reads). There is no compiler in the
#   guest: gcc and gcc-12 are stubs that print the host compiler's --version line (part of the
#   cache key) and fail on anything else.
# The guest (busybox, bash, coreutils, kmod and the dkms under test, in an initramfs) mounts
# the disk, bind-mounts its directories at /var/lib/dkms, /usr/src, /lib/modules and runs:
#   1 install hello-dkms/1.0 -k K      2 uninstall hello-dkms/1.0 -k K
#   3 unbuild hello-dkms/1.0 -k K      4 autoinstall -k K (served from the module cache)
#   5 remove hello-dkms/1.0 --all      6 add hello-dkms/1.0          7 fsck
# (upstream, which has neither a module cache nor fsck: 1 2 3 5 6). The workload's duration is
# the longest of two uninterrupted runs (from the guest's "POWERCUT BEGIN" line to "POWERCUT
# END"); each cut boots a fresh copy of the disk and sends SIGKILL to QEMU a uniformly drawn
# delay after BEGIN. The guest's page cache is lost; what its kernel had written to the
# virtual disk is kept (QEMU cache=writeback, the host does not crash).
# After each cut, on the host: e2fsck -fy replays the ext4 journal, debugfs copies the three
# directories out, and tests/powercut/check.sh runs in the namespace with the guest's paths:
# the checks of the SIGKILL suite (tests/faults/lib.sh fx_check, read before any repair), the
# kernel's own modules intact and indexed, installed modules readable by modinfo, the module
# cache's entries kept (ours), then the next commands (ours: fsck; both: remove --all, add;
# ours: install, which only the module cache can serve) succeed and leave no leftovers.
# Prints one line per cut, "N cuts, M inconsistent" at the end; exits 1 if M > 0, 2 when the
# harness could not set up.
#
# Environment:
#   POWERCUT_SEED      seed of the delays (default random, printed); a cut is repeated by the
#                      seed and its index: POWERCUT_ONLY=I runs cut I of that seed only
#   POWERCUT_KERNEL    kernel version (default: the newest -amd64 with headers, generic first;
#                      its linux-image package is installed when /boot has no image)
#   POWERCUT_STEPS     the workload instead of the default: dkms argument lists separated by
#                      '|' ($K stands for the kernel), e.g. 'install hello-dkms/1.0 -k $K'
#   POWERCUT_TAIL      seconds the guest runs on after the last command, part of the measured
#                      duration (default 0): cuts after dkms returned, before the guest kernel
#                      wrote back what dkms left in its page cache (ext4: up to ~30 s)
#   POWERCUT_KEEP=1    keep the work directory
#   POWERCUT_WORKDIR   where to make it (default /tmp)
#   POWERCUT_LAYOUT    separate (default): /var/lib/dkms, /usr/src and /lib/modules are three
#                      bind mounts of the disk, so a move between them is a copy and a delete
#                      (as on a machine whose /var is its own file system); one-mount: the guest
#                      chroots into the disk, so the three share one mount and moves are renames
#   VM_ACCEL           qemu accelerator (default tcg: a KVM guest did not start in this
#                      container, "failed to set MSR 0x10a")

set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/powercut/vm.sh
. "$HERE/vm.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 DKMS_BINARY [CUTS] [SECONDS_LIMIT]" >&2; exit 2; }
DKMS=$(readlink -f -- "$1") || vm_die "cannot resolve $1"
[[ -x $DKMS ]] || vm_die "$DKMS is not executable"
CUTS=${2:-20}
LIMIT=${3:-1800}
SEED=${POWERCUT_SEED:-$((RANDOM * 32768 + RANDOM))}
LAYOUT=${POWERCUT_LAYOUT:-separate}
[[ $LAYOUT == separate || $LAYOUT == one-mount ]] || vm_die "POWERCUT_LAYOUT is separate or one-mount, not $LAYOUT"
export VM_ACCEL=${VM_ACCEL:-tcg}
START=$SECONDS

vm_packages bubblewrap e2fsprogs coreutils findutils diffutils sed grep mawk
has_headers() { [[ -f /lib/modules/$1/build/Makefile ]]; }
if [[ -n ${POWERCUT_KERNEL:-} ]]; then
    K=$POWERCUT_KERNEL
else
    K=$(for d in /lib/modules/*-amd64; do k=${d#/lib/modules/}; has_headers "$k" && echo "$k"; done |
        grep -Ev -- '-(cloud|rt)-amd64$' | sort -V | tail -n 1)
fi
{ [[ -n $K ]] && has_headers "$K"; } || vm_die "no kernel with headers (set POWERCUT_KERNEL; apt-get install linux-headers-K)"
[[ -f /boot/vmlinuz-$K ]] || vm_packages "linux-image-$K"
A=$(uname -m)
HEADERS=$(readlink -f "/lib/modules/$K/build")

W=$(mktemp -d "${POWERCUT_WORKDIR:-/tmp}/dkms-powercut.XXXXXX")
cleanup() { [[ -n ${VM_PID:-} ]] && kill -KILL "$VM_PID" 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM
cp -- "$DKMS" "$W/dkms-under-test" || vm_die "cannot copy $DKMS"
OURS=0
"$DKMS" cache stats --dkmstree "$W/probe" 2>/dev/null | grep -q '^entries:' && OURS=1
rm -rf "$W/probe"
LOG=$W/log
echo "dkms: $DKMS ($( ((OURS)) && echo swift-dkms || echo upstream)); kernel $K; accel $VM_ACCEL; seed $SEED; layout $LAYOUT; work dir $W" | tee "$LOG"

# --- the disk's contents, prepared on the host ----------------------------------------------
P=$W/prep
mkdir -p "$P/var/lib/dkms" "$P/usr/src" "$P/lib/modules/$K" "$P/etc-dkms" "$W/ref" "$W/pk"
EX=$REPO/examples/hello-dkms
# make_src PKG MOD: a renamed copy of the example in P/usr/src and W/pk (the pristine copy).
make_src() {
    local d=$P/usr/src/$1-1.0
    mkdir -p "$d"
    sed "s/hello_dkms/$2/g" "$EX/Makefile" >"$d/Makefile"
    sed -e "s/^PACKAGE_NAME=.*/PACKAGE_NAME=\"$1\"/" -e "s/^BUILT_MODULE_NAME\[0\]=.*/BUILT_MODULE_NAME[0]=\"$2\"/" \
        "$EX/dkms.conf" >"$d/dkms.conf"
    sed "s/hello_dkms/$2/g" "$EX/hello_dkms.c" >"$d/$2.c"
    cp -a "$d" "$W/pk/"
}
make_src hello-dkms hello_dkms
make_src bystander-dkms bystander_dkms
# The kernel's own modules: those the guest boots with and a few more, with their indexes.
ORIG_MODS=(virtio_pci virtio_blk crc32c_generic ext4 loop dummy veth vfat nls_utf8 isofs)
for m in "${ORIG_MODS[@]}"; do
    while read -r _ f _; do
        [[ -f $f ]] || continue
        mkdir -p "$P$(dirname "$f")"; cp "$f" "$P$f"
    done < <(modprobe -S "$K" --show-depends "$m" 2>/dev/null)
done
# ... and one with hello's name, which installing hello archives and uninstalling restores:
# the kernel's own module that must never be lost (a copy of dummy.ko under that name).
OWN=lib/modules/$K/kernel/drivers/misc/hello_dkms.ko
mkdir -p "$(dirname "$P/$OWN")"
cp "$(modinfo -k "$K" -n dummy)" "$P/$OWN" || vm_die "no dummy.ko for $K"
cp /lib/modules/"$K"/modules.{order,builtin,builtin.modinfo} "$P/lib/modules/$K/" 2>/dev/null
depmod -b "$P" "$K" || vm_die "depmod -b $P $K failed"
ln -s "$HEADERS" "$P/lib/modules/$K/build"

# in_layout ROOT CMD...: runs CMD with ROOT's var/lib/dkms, usr/src, lib/modules and an empty
# /etc/dkms at the real paths (the host's stay untouched). With HEADERS=1 the real kernel
# headers stay visible under /usr/src (for the host-side builds).
in_layout() {
    local root=$1 src=()
    shift
    if [[ ${LAYOUT_HEADERS:-0} == 1 ]]; then
        src=(--tmpfs /usr/src)
        for d in /usr/src/linux-*; do src+=(--ro-bind "$d" "$d"); done
        for d in "$root"/usr/src/*-1.0; do src+=(--bind "$d" "/usr/src/${d##*/}"); done
    else
        src=(--bind "$root/usr/src" /usr/src)
    fi
    bwrap --dev-bind / / --bind "$root/var/lib/dkms" /var/lib/dkms --bind "$root/lib/modules" /lib/modules \
        "${src[@]}" --bind "$W/etc-dkms" /etc/dkms --setenv try_sign_modules false --setenv LC_ALL C \
        --unsetenv SWIFT_DKMS_SYSCONFDIR "${LAYOUT_EXTRA[@]}" --chdir / "$@"
}
mkdir -p "$W/etc-dkms"
LAYOUT_EXTRA=()
prep() {
    echo "+ dkms $*" >>"$W/prep.out"
    LAYOUT_HEADERS=1 in_layout "$P" timeout 600 "$W/dkms-under-test" "$@" >>"$W/prep.out" 2>&1 </dev/null ||
        { tail -20 "$W/prep.out" >&2; vm_die "preparation failed: dkms $*"; }
}
prep add hello-dkms/1.0
prep build hello-dkms/1.0 -k "$K"
prep add bystander-dkms/1.0
prep install bystander-dkms/1.0 -k "$K"
LAYOUT_HEADERS=1 in_layout "$P" "$W/dkms-under-test" status >"$W/prep.status" 2>&1
grep -qx "hello-dkms/1.0, $K, $A: built" "$W/prep.status" && grep -qx "bystander-dkms/1.0, $K, $A: installed" "$W/prep.status" ||
    { cat "$W/prep.status" >&2; vm_die "prepared state is not hello built, bystander installed"; }
cp "$P/var/lib/dkms/hello-dkms/1.0/$K/$A/module/hello_dkms.ko" "$P/var/lib/dkms/bystander-dkms/1.0/$K/$A/module/bystander_dkms.ko" "$W/ref/"
# Headers stand-in: only what the cache key reads.
rm "$P/lib/modules/$K/build"
HS=$P$HEADERS
mkdir -p "$HS/include/config" "$HS/include/generated"
cp -L "$HEADERS/.config" "$HEADERS/Module.symvers" "$HS/"
cp -L "$HEADERS/include/config/auto.conf" "$HS/include/config/"
# the banner (who built the kernel, #N SMP ... Debian VERSION (DATE)) is part of the key too
for f in utsrelease.h utsversion.h compile.h; do
    [[ -f $HEADERS/include/generated/$f ]] && cp -L "$HEADERS/include/generated/$f" "$HS/include/generated/"
done
ln -s "$HEADERS" "$P/lib/modules/$K/build"
# The kernel's own files, as they must stay.
(cd "$P" && find "lib/modules/$K/kernel" -type f -print0 | xargs -0 sha256sum) >"$W/original.sha256"

mkdir -p "$W/disk"
cp -a "$P/var" "$P/usr" "$P/lib" "$W/disk/"
vm_disk "$W/disk" "$W/base.img" 1G

# --- the guest's root ------------------------------------------------------------------------
R=$W/root
mkdir -p "$R"/{bin,sbin,dev,proc,sys,tmp,disk,etc/dkms,var/lib/dkms,usr/src,lib/modules,usr/sbin,usr/bin}
cp /bin/busybox "$R/bin/busybox"
progs=(/bin/bash /usr/bin/kmod /usr/bin/sed /usr/bin/grep /usr/bin/mawk /usr/bin/find /usr/bin/xargs
    /usr/bin/diff /usr/bin/cmp /usr/bin/xz /usr/bin/zstd /usr/bin/gzip /usr/bin/tar /usr/bin/timeout)
while read -r f; do [[ -f $f && -x $f ]] && progs+=("$f"); done < <(dpkg -L coreutils | grep -E '^/(usr/)?bin/')
vm_copy_exec "$R" "${progs[@]}"
ln -sf mawk "$R/usr/bin/awk"
for a in modinfo depmod modprobe insmod rmmod lsmod; do ln -sf /usr/bin/kmod "$R/usr/sbin/$a"; done
ln -sf bash "$R/bin/sh.bash"
for a in sh mount umount sleep poweroff sync chroot; do [[ -e $R/bin/$a ]] || ln -s busybox "$R/bin/$a"; done
mkdir -p "$R/usr/lib"
cp /etc/os-release "$R/etc/os-release" 2>/dev/null; cp -L /usr/lib/os-release "$R/usr/lib/os-release" 2>/dev/null
vm_copy_exec "$R" "$W/dkms-under-test"
mv "$R$W/dkms-under-test" "$R/usr/sbin/dkms"
[[ $(head -c 2 "$DKMS") == '#!' ]] && vm_copy_exec "$R" "$(head -n 1 "$DKMS" | sed 's/^#! *//; s/ .*//')"
for cc in gcc gcc-12; do
    line=$(command -v "$cc" >/dev/null && "$cc" --version | head -n 1)
    printf '#!/bin/bash\n# no compiler in this machine: only the version line (the module cache key reads it)\n[[ $1 == --version ]] && { echo %q; exit 0; }\necho "%s: no compiler here" >&2; exit 1\n' "$line" "$cc" >"$R/usr/bin/$cc"
    chmod +x "$R/usr/bin/$cc"
done
vm_boot_modules "$R" "$K" virtio_pci virtio_blk crc32c_generic ext4
STEPS=("install hello-dkms/1.0 -k $K" "uninstall hello-dkms/1.0 -k $K" "unbuild hello-dkms/1.0 -k $K")
((OURS)) && STEPS+=("autoinstall -k $K")
STEPS+=("remove hello-dkms/1.0 --all" "add hello-dkms/1.0")
((OURS)) && STEPS+=("fsck")
if [[ -n ${POWERCUT_STEPS:-} ]]; then
    IFS='|' read -r -a STEPS <<<"${POWERCUT_STEPS//\$K/$K}"
fi
printf '%s\n' "${STEPS[@]}" >"$R/steps"
TAIL=${POWERCUT_TAIL:-0}
echo "$TAIL" >"$R/tail"
echo "$LAYOUT" >"$R/layout"
cat >"$R/init" <<'EOF'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /boot-modules/order); do insmod /boot-modules/$m; done
mount -t ext4 /dev/vda /disk || { echo "POWERCUT FAIL mount"; poweroff -f; }
if [ "$(cat /layout)" = one-mount ]; then
    # dkms runs chrooted in the disk: its three trees on one mount. The programs, libraries
    # and /etc come from this root, bound in (created before the workload begins).
    for d in /*; do
        case $d in /disk|/proc|/sys|/dev|/var|/usr|/lib) continue;; esac
        [ -d "$d" ] && [ ! -L "$d" ] && { mkdir -p "/disk$d"; mount --bind "$d" "/disk$d"; }
    done
    for d in /usr/* /lib/*; do
        case $d in /usr/src|/lib/modules) continue;; esac
        [ -d "$d" ] && [ ! -L "$d" ] && { mkdir -p "/disk$d"; mount --bind "$d" "/disk$d"; }
    done
    for d in proc sys dev; do mkdir -p "/disk/$d"; mount --bind "/$d" "/disk/$d"; done
    # the point of this layout: a hard link (like a rename) from the dkms tree into
    # /lib/modules must work, which it cannot across two mounts (EXDEV)
    p=/var/lib/dkms/.powercut-layout-probe
    chroot /disk /bin/sh -c "touch $p && ln $p /lib/modules/${p##*/} && rm $p /lib/modules/${p##*/}" ||
        { echo "POWERCUT FAIL one-mount: the dkms tree and /lib/modules are not on one mount"; poweroff -f; }
    sync
else
    for d in var/lib/dkms usr/src lib/modules; do mount --bind /disk/$d /$d; done
fi
exec /bin/bash /workload
EOF
cat >"$R/workload" <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C try_sign_modules=false TMPDIR=/tmp HOME=/tmp
mode=$(sed -n 's/.*powercut.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
mapfile -t steps < /steps
dkms() { if [ "$(cat /layout)" = one-mount ]; then chroot /disk /usr/sbin/dkms "$@"; else command dkms "$@"; fi; }
echo "POWERCUT BEGIN"
n=0
for s in "${steps[@]}"; do
    n=$((n + 1))
    echo "POWERCUT STEP $n $s"
    dkms $s > /tmp/out 2>&1; rc=$?
    echo "POWERCUT RC $n $rc"
    if [ "$mode" = measure ] || [ $rc -ne 0 ]; then sed "s/^/OUT $n /" /tmp/out; fi
done
# the tail: the machine runs on after the last command (its page cache not yet written back)
sleep "$(cat /tail)"
echo "POWERCUT END"
if [ "$mode" = measure ]; then sync; echo "POWERCUT SYNCED"; fi
while :; do sleep 60; done
EOF
chmod +x "$R/init"
vm_initramfs "$R" "$W/initrd.cpio"
KERNEL=$(vm_kernel "$K" "$W")
note() { echo "# $*" | tee -a "$LOG" >&2; }
note "root $(du -sh "$R" | cut -f1), disk $(du -sh "$W/base.img" | cut -f1) used of 1G, setup $((SECONDS - START))s"

now_us() { local t=$EPOCHREALTIME; echo $((${t%.*} * 1000000 + 10#${t#*.})); }

# check DIR IMAGE: fsck + extract + check.sh; prints the reasons, returns their count.
check_image() {
    local dir=$1 img=$2 rc
    rc=$(vm_fsck "$img")
    echo "$rc" >"$dir/e2fsck.rc"
    ((rc >= 4)) && echo "[z-e2fsck] e2fsck -fy exited $rc: $(grep -v '^$' "$img.fsck" | tail -3 | tr '\n' ' ')"
    local X=$dir/x
    mkdir -p "$X/var/lib" "$X/usr" "$X/lib"
    vm_extract "$img" /var/lib/dkms "$X/var/lib" && vm_extract "$img" /usr/src "$X/usr" &&
        vm_extract "$img" /lib/modules "$X/lib" || { echo "[z-extract] debugfs rdump failed"; return 1; }
    # fx_check (tests/faults/lib.sh) reads ROOT/d and ROOT/i: the same trees, bound there
    mkdir -p "$dir/fx/d" "$dir/fx/i"
    LAYOUT_EXTRA=(--bind "$X/var/lib/dkms" "$dir/fx/d" --bind "$X/lib/modules" "$dir/fx/i")
    in_layout "$X" /bin/bash "$HERE/check.sh" "$OURS" "$K" "$W" "$dir"
    LAYOUT_EXTRA=()
}

# --- measure ---------------------------------------------------------------------------------
DUR=0
for i in 1 2; do
    M=$W/measure-$i; mkdir -p "$M"
    cp --sparse=always "$W/base.img" "$M/disk.img"
    t0=$(now_us)
    vm_start "$KERNEL" "$W/initrd.cpio" "$M/disk.img" "$M/serial" "powercut.mode=measure"
    vm_expect 'OWERCUT (BEGIN|FAIL)' 120 || { tail -20 "$M/serial" >&2; vm_die "the guest did not reach the workload"; }
    [[ $VM_LINE == *FAIL* ]] && { tail -20 "$M/serial" >&2; vm_die "guest: $VM_LINE"; }
    tb=$(now_us)
    vm_expect '^POWERCUT END' 600 || { tail -20 "$M/serial" >&2; vm_die "the workload did not end"; }
    te=$(now_us)
    vm_expect '^POWERCUT SYNCED' 60
    vm_stop
    d=$((te - tb)); ((d > DUR)) && DUR=$d
    note "uninterrupted run $i: boot $(((tb - t0) / 1000))ms, workload $((d / 1000))ms: $(grep '^POWERCUT RC' "$M/serial" | awk '{printf "%s=%s ", $3, $4}')"
    if grep -q '^POWERCUT RC [0-9]* [1-9]' "$M/serial"; then
        grep -E '^(POWERCUT|OUT)' "$M/serial" | tail -40 >&2; vm_die "a workload step failed uninterrupted"
    fi
    reasons=$(check_image "$M" "$M/disk.img")
    [[ -z $reasons ]] || { echo "$reasons" >&2; vm_die "the uninterrupted run is already inconsistent"; }
done
((OURS)) && note "autoinstall (no compiler in the guest, so from the module cache): $(grep '^OUT 4 Building' "$W/measure-1/serial")"
echo "workload duration (max of 2): $((DUR / 1000))ms; steps: $(printf '%s; ' "${STEPS[@]}")tail ${TAIL}s" | tee -a "$LOG"

# --- cuts ------------------------------------------------------------------------------------
RANDOM=$SEED
# a delay is a fraction (30 random bits) of the duration: a seed draws the same fractions on
# every machine, whatever the duration measured there
rand_us() { echo $(($1 * ((RANDOM << 15) | RANDOM) / (1 << 30))); }
declare -A CLASS=() ATSTEP=()
done_cuts=0 bad=0 stopped=0
for ((c = 0; c < CUTS; c++)); do
    delay=$(rand_us "$DUR")
    [[ -n ${POWERCUT_ONLY:-} && $c != "$POWERCUT_ONLY" ]] && continue
    if ((SECONDS - START >= LIMIT)); then stopped=1; break; fi
    C=$W/cut-$c; mkdir -p "$C"
    tc=$(now_us)
    cp --sparse=always "$W/base.img" "$C/disk.img"
    vm_start "$KERNEL" "$W/initrd.cpio" "$C/disk.img" "$C/serial" "powercut.mode=cut"
    # A loaded host has been seen to drop the first character of that console line, or
    # the whole line (campaign runs 9 and 10): the first step's line, printed right after
    # it, stands in for it.
    if ! vm_expect 'OWERCUT BEGIN$|CUT STEP 1 ' 120; then
        vm_cut; echo "cut $c: the guest did not reach the workload (harness)" | tee -a "$LOG"; continue
    fi
    sleep "$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))"
    vm_cut
    step=$(grep -c '^POWERCUT RC' "$C/serial"); step=$((step + 1))
    ((step > ${#STEPS[@]})) && step=end
    reasons=$(check_image "$C" "$C/disk.img")
    done_cuts=$((done_cuts + 1))
    ATSTEP[$step]=$((${ATSTEP[$step]:-0} + 1))
    summary="cut $c: delay=$((delay / 1000))ms/$((DUR / 1000))ms step=$step e2fsck=$(cat "$C/e2fsck.rc") $(cat "$C/summary" 2>/dev/null) ($((($(now_us) - tc) / 1000))ms)"
    if [[ -n $reasons ]]; then
        bad=$((bad + 1))
        declare -A seen=()
        while IFS= read -r r; do
            k=${r%%]*}; k=${k#[}
            [[ -n ${seen[$k]+x} ]] || CLASS[$k]=$((${CLASS[$k]:-0} + 1))
            seen[$k]=1
        done <<<"$reasons"
        unset seen
        { echo "$summary INCONSISTENT"; sed 's/^/    /' <<<"$reasons"; } | tee -a "$LOG"
    else
        echo "$summary ok" | tee -a "$LOG"
        [[ ${POWERCUT_KEEP:-0} == 1 ]] || rm -rf "$C"
    fi
done

echo "cuts by step: $(for s in $(printf '%s\n' "${!ATSTEP[@]}" | sort -n); do printf '%s=%d ' "$s" "${ATSTEP[$s]}"; done)"
((${#CLASS[@]})) && echo "inconsistent cuts by class: $(for k in $(printf '%s\n' "${!CLASS[@]}" | sort); do printf '%s=%d ' "$k" "${CLASS[$k]}"; done)"
((stopped)) && echo "time limit of ${LIMIT}s reached after $done_cuts of $CUTS cuts"
echo "repeat: POWERCUT_SEED=$SEED $0 $DKMS $CUTS   (one cut: POWERCUT_ONLY=I)"
if ((bad == 0)) && [[ ${POWERCUT_KEEP:-0} != 1 ]]; then
    rm -rf "$W"; echo "run time $((SECONDS - START))s"
else
    echo "run time $((SECONDS - START))s; log $LOG, evidence in $W/cut-N"
fi
echo "$done_cuts cuts, $bad inconsistent"
((bad == 0))
