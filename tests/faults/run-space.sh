#!/bin/bash
# Faults beyond SIGKILL: a full file system (ENOSPC), a read-only and a vanished tree
# during build, install, uninstall and remove. Needs root (tmpfs mounts).
#
# Usage: tests/faults/run-space.sh DKMS_BINARY [LEVELS]
#        LEVELS: free space left, in percent of what the command writes (default "0 30 60 90")
#
# Private trees and fake kernel of lib.sh; the install tree I (and, for build, the dkms tree
# D) is a small tmpfs. Module hello/1.0 (two .ko of FAULT_MODULE_KB KiB each, default 256)
# is the subject; the fake kernel ships its own older hello.ko in I/KVER/kernel/drivers, so
# that install archives it into D/hello/original_module and uninstall puts it back (across
# file systems: a copy that needs room); other/1.0 is an installed bystander.
#
# Cases (each from a prepared state):
#   build      D filled to leave LEVEL% of what a build writes; then D read-only
#   install    D filled to leave LEVEL% of the kernel's hello.ko install archives there
#   install    I filled to leave LEVEL% of the two modules; then I read-only; then I/KVER gone
#   uninstall  I full (no room for the restored original) at LEVEL% of its size; read-only
#   remove     the same as uninstall, with remove --all
# For each: the command runs; it must succeed, or fail with the exit code and the first
# "Error!" line docs/consistency.md gives for that fault (FAIL_AS per case: exit 6 and
# "Copying ... failed", "Archiving the original module", "Cannot write the journal",
# "Cannot install|uninstall M/V: DIR is not writable (Read-only file system)", "has no room
# to restore the original module"; a build: 10 or 7, upstream's; a read-only D: 1, upstream's).
# Then, as in run-fault-injection.sh, the next command is `status` (text and --json): the
# trees must be consistent with it (fx_check and fx_reader_check: no installed .ko without
# `installed`, no Differences), the kernel's own hello.ko must be at its place when hello is
# not installed and archived (identical) when it is, the bystander untouched. Then the space
# is freed (or the tree made writable, or put back) and the same command again must succeed
# and leave the expected state, checked the same way.
# Prints one line per case, failures with reasons, and "N cases, M failed"; exits 1 if M > 0.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 DKMS_BINARY [LEVELS]" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "$0: needs root (tmpfs mounts)" >&2; exit 2; }
FX_DKMS=$(readlink -f -- "$1") || exit 2
LEVELS=${2:-0 30 60 90}
PADKB=${FAULT_MODULE_KB:-256}
WORK=$(mktemp -d "${FAULT_WORKDIR:-/tmp}/dkms-space.XXXXXX")
chmod 755 "$WORK"   # sandboxed builds run as an unprivileged user that must reach the trees
cp -- "$FX_DKMS" "$WORK/dkms" && chmod +x "$WORK/dkms" && FX_DKMS=$WORK/dkms
ROOT=$WORK/root
cleanup() {
    mountpoint -q "$ROOT/i" && { umount "$ROOT/i" || umount -l "$ROOT/i"; }
    mountpoint -q "$ROOT/d" && { umount "$ROOT/d" || umount -l "$ROOT/d"; }
    [[ ${FAULT_KEEP:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
fx_init "$ROOT"
K=$FX_KVER A=$FX_ARCH
JSON=0

# --- fixtures: modules, the kernel's own hello.ko, prepared states (on plain disk) ----------
fx_fake_kernel "$K" 0
fx_module hello 1.0 "$PADKB" hello hello2
fx_module other 1.0 "$PADKB" other
mkdir -p "$ROOT/i/$K/kernel/drivers" "$WORK/kmod"
cat >"$WORK/kmod/hello.c" <<'EOF'
__attribute__((section(".modinfo"), used, aligned(1))) static const char v[] = "version=0.9";
__attribute__((section(".modinfo"), used, aligned(1))) static const char s[] = "srcversion=KERNELHELLO09";
EOF
# bigger than the two modules together: an uninstall's restore needs more room than it frees
echo "__attribute__((used)) static const char pad[$((3 * PADKB)) * 1024] = \"kernel's own hello\";" >>"$WORK/kmod/hello.c"
(cd "$WORK/kmod" && cc -c hello.c -o hello.ko) || exit 2
cp "$WORK/kmod/hello.ko" "$ROOT/i/$K/kernel/drivers/hello.ko"
KERNEL_HELLO=$ROOT/i/$K/kernel/drivers/hello.ko

prep() { fx_dkms "$@" >>"$WORK/prep.out" 2>&1 || { echo "preparation failed: dkms $*" >&2; tail "$WORK/prep.out" >&2; exit 2; }; }
snapshot() { tar -C "$ROOT" -cf "$WORK/$1.tar" d s i tmp etc; }
restore() { # restore STATE: contents back (the mounts stay)
    local x
    for x in d s i tmp etc; do
        if mountpoint -q "$ROOT/$x"; then find "$ROOT/$x" -mindepth 1 -delete; else rm -rf "${ROOT:?}/$x"; fi
    done
    tar -C "$ROOT" -xf "$WORK/$1.tar"
}
prep add "$ROOT/pk/other-1.0"
prep install other/1.0 -k "$K"
prep add "$ROOT/pk/hello-1.0"
snapshot added
prep build hello/1.0 -k "$K"
snapshot built
prep install hello/1.0 -k "$K"
snapshot installed
if fx_dkms status --json 2>/dev/null | jq -e .entries >/dev/null 2>&1; then JSON=1; fi
# what a build writes in D, and what install writes in I
restore added; before=$(du -sB1 "$ROOT/d" | cut -f1); prep build hello/1.0 -k "$K"
BUILD_BYTES=$(($(du -sB1 "$ROOT/d" | cut -f1) - before))
INSTALL_BYTES=$((2 * $(stat -c %s "$ROOT/ref/hello.ko")))
RESTORE_BYTES=$(stat -c %s "$KERNEL_HELLO")
echo "dkms: $1; module ${PADKB} KiB; a build writes $BUILD_BYTES bytes in D, an install $INSTALL_BYTES in I, an uninstall restores $RESTORE_BYTES; work dir $WORK"

# mount_small DIR: DIR's current contents onto a tmpfs just big enough, plus slack
mount_small() {
    local dir=$1 used
    tar -C "$dir" -cf "$WORK/mnt.tar" .
    used=$(du -sB1 "$dir" | cut -f1)
    find "$dir" -mindepth 1 -delete
    mount -t tmpfs -o size=$((used + 8 * 1024 * 1024)) tmpfs "$dir"
    tar -C "$dir" -xf "$WORK/mnt.tar"
}
# fill DIR BYTES: leaves about BYTES free on DIR's file system
fill() {
    local avail
    rm -f "$1/.filler"
    avail=$(df --output=avail -B1 "$1" | tail -1)
    ((avail > $2 + 4096)) && fallocate -l $((avail - $2 - 4096)) "$1/.filler"
    # fallocate rounds to pages: top up with a small file until only BYTES are left
    avail=$(df --output=avail -B1 "$1" | tail -1)
    ((avail > $2)) && head -c $((avail - $2)) /dev/zero >"$1/.filler2" 2>/dev/null
    return 0
}
unfill() { rm -f "$1/.filler" "$1/.filler2"; }

# check LABEL: the reader check and the trees; prints reasons, returns their number
check() {
    local n=0 l st
    fx_dkms status >"$WORK/status" 2>"$WORK/status.err" || { echo "[a-status-rc] status failed: $(head -2 "$WORK/status.err")"; n=$((n + 1)); }
    if ((JSON)); then
        fx_dkms status --json 2>/dev/null >"$WORK/status.json"
        fx_status_from_json "$WORK/status.json" >"$WORK/status.json.txt"
        cmp -s "$WORK/status" "$WORK/status.json.txt" || { echo "[r-json] status and --json disagree"; n=$((n + 1)); }
    fi
    while IFS= read -r l; do echo "$l"; n=$((n + 1)); done < <(fx_reader_check "$WORK/status")
    grep -qx "other/1.0, $K, $A: installed" "$WORK/status" || { echo "[x-bystander] other/1.0 not installed"; n=$((n + 1)); }
    st=$(grep -m1 '^hello/1.0[,:]' "$WORK/status" | sed 's/.*: //')
    if [[ $st == *"(Original modules exist)"* ]] && [[ -z $(find "$ROOT/d/hello/original_module" -type f 2>/dev/null) ]]; then
        echo "[r-original] status says original modules exist, but none is archived"; n=$((n + 1))
    fi
    if ((NO_ORIGINAL)); then
        :
    elif [[ $st == installed* ]]; then
        cmp -s "$ROOT/d/hello/original_module/$K/$A/hello.ko" "$WORK/kmod/hello.ko" ||
            { echo "[o-lost] hello installed but the kernel's own hello.ko is not archived intact"; n=$((n + 1)); }
        [[ -e $KERNEL_HELLO ]] && { echo "[o-dup] hello installed but the kernel's own hello.ko is still in place"; n=$((n + 1)); }
    else
        cmp -s "$KERNEL_HELLO" "$WORK/kmod/hello.ko" ||
            { echo "[o-lost] hello not installed but the kernel's own hello.ko is not back in place"; n=$((n + 1)); }
    fi
    echo "state=${st:-absent}" >"$WORK/state"
    return $n
}

cases=0 failed=0 NO_ORIGINAL=0
# run_case NAME EXPECT_FINAL CMD...: runs the command (the fault is in place), checks, lifts
# the fault (heal), runs it again, checks that the final state of hello is EXPECT_FINAL.
run_case() {
    local name=$1 expect=$2 rc reasons=() l; shift 2
    cases=$((cases + 1))
    fx_dkms "$@" >"$WORK/cmd.out" 2>&1; rc=$?
    if ((rc != 0)); then
        grep -q '^Error!' "$WORK/cmd.out" || reasons+=("[e-message] exit $rc without an Error! message: $(tail -2 "$WORK/cmd.out" | tr '\n' ' ')")
        ((rc == 124 || rc == 137 || rc > 128)) && reasons+=("[e-crash] exit $rc")
        # FAIL_AS="CODES REGEX": the exit codes and the first Error! line (ERE) a failure must have
        local codes=${FAIL_AS%% *} pattern=${FAIL_AS#* } first
        first=$(grep -m1 '^Error!' "$WORK/cmd.out")
        [[ ",$codes," == *",$rc,"* ]] || reasons+=("[e-code] exit $rc, not one of $codes")
        grep -qE "$pattern" <<<"$first" || reasons+=("[e-text] first error line is not /$pattern/: $first")
    fi
    while IFS= read -r l; do [[ $l == \[* ]] && reasons+=("$l (after the fault)"); done < <(check)
    local first_state; first_state=$(cat "$WORK/state")
    heal
    [[ $first_state == "state=$expect"* ]] && set -- status # it succeeded: the retry is a plain read
    fx_dkms "$@" >"$WORK/cmd2.out" 2>&1 || reasons+=("[f-next] the same command after the fault was lifted exited $?: $(grep -m1 -A1 Error "$WORK/cmd2.out" | tr '\n' ' ')")
    while IFS= read -r l; do [[ $l == \[* ]] && reasons+=("$l (after the retry)"); done < <(check)
    grep -q "^state=$expect" "$WORK/state" || reasons+=("[f-state] hello $(cat "$WORK/state") after the retry, expected $expect")
    if ((${#reasons[@]})); then
        failed=$((failed + 1))
        echo "$name: exit $rc, then ${first_state}: FAILED"; printf '    %s\n' "${reasons[@]}"
        mkdir -p "$WORK/failed-$cases" && cp "$WORK"/cmd*.out "$WORK/status" "$WORK/failed-$cases/"
    else
        echo "$name: exit $rc ($(grep -m1 '^Error!' -A1 "$WORK/cmd.out" | tail -1 | cut -c1-60)), then ${first_state}; retry ok"
    fi
}

# --- install tree on tmpfs --------------------------------------------------------------
restore built
mount_small "$ROOT/i"
for level in $LEVELS; do
    # without the kernel's own hello.ko (archiving it would free room), then with it
    restore built; rm "$KERNEL_HELLO"; fill "$ROOT/i" $((INSTALL_BYTES * level / 100))
    heal() { unfill "$ROOT/i"; }
    NO_ORIGINAL=1
    FAIL_AS="6 ^Error! Copying '.*' failed" run_case "install, I full at ${level}% of the modules" installed install hello/1.0 -k "$K"
    NO_ORIGINAL=0
    restore built; fill "$ROOT/i" $((INSTALL_BYTES * level / 100))
    FAIL_AS="6 ^Error! Copying '.*' failed" \
        run_case "install archiving the kernel's hello.ko, I full at ${level}% of the modules" installed install hello/1.0 -k "$K"
    for cmd in uninstall remove; do
        restore installed; fill "$ROOT/i" $((RESTORE_BYTES * level / 100))
        heal() { unfill "$ROOT/i"; }
        if [[ $cmd == remove ]]; then
            FAIL_AS="6 ^Error! Cannot uninstall hello/1.0: .* has no room to restore the original module" \
                run_case "remove, I full at ${level}% of the restored original" absent remove hello/1.0 --all
        else
            FAIL_AS="6 ^Error! Cannot uninstall hello/1.0: .* has no room to restore the original module" \
                run_case "uninstall, I full at ${level}% of the restored original" built uninstall hello/1.0 -k "$K"
        fi
    done
done
# shellcheck disable=SC2317 # called by run_case
heal() { mount -o remount,rw "$ROOT/i"; }
restore built; mount -o remount,ro "$ROOT/i"
FAIL_AS="6 ^Error! Cannot install hello/1.0: .* is not writable \(Read-only file system\)\.$" \
    run_case "install, I read-only" installed install hello/1.0 -k "$K"
restore installed; mount -o remount,ro "$ROOT/i"
FAIL_AS="6 ^Error! Cannot uninstall hello/1.0: .* is not writable \(Read-only file system\)\.$" \
    run_case "uninstall, I read-only" built uninstall hello/1.0 -k "$K"
restore installed; mount -o remount,ro "$ROOT/i"
FAIL_AS="6 ^Error! Cannot uninstall hello/1.0: .* is not writable \(Read-only file system\)\.$" \
    run_case "remove, I read-only" absent remove hello/1.0 --all
# the kernel's module directory vanished (kernel package removed under dkms)
heal() { tar -C "$ROOT" -xf "$WORK/built.tar" i; }
restore built; mv "$ROOT/i/$K" "$WORK/kdir"
cases=$((cases + 1))
fx_dkms install hello/1.0 -k "$K" >"$WORK/cmd.out" 2>&1; rc=$?
if ((rc == 6)) && grep -q "^Error! The directory $ROOT/i/$K doesn't exist" "$WORK/cmd.out" && [[ ! -e $ROOT/i/$K ]] &&
    ! [[ -e $ROOT/d/hello/kernel-$K-$A ]]; then
    echo "install, I/KVER vanished: exit 6, nothing written"
else
    failed=$((failed + 1)); echo "install, I/KVER vanished: exit $rc: FAILED ($(head -3 "$WORK/cmd.out" | tr '\n' ' '))"
fi
rm -rf "$WORK/kdir"
umount "$ROOT/i" || umount -l "$ROOT/i"

# --- dkms tree on tmpfs -----------------------------------------------------------------
restore added
mount_small "$ROOT/d"
for level in $LEVELS; do
    restore added; fill "$ROOT/d" $((BUILD_BYTES * level / 100))
    heal() { unfill "$ROOT/d"; }
    FAIL_AS="10,7 ^Error! (Bad return status for module build on kernel: $K \($A\)|Missing module 'hello2?' in )" \
        run_case "build, D full at ${level}% of a build" built build hello/1.0 -k "$K"
done
# install must archive the kernel's hello.ko into D, which has no room for it
for level in $LEVELS; do
    restore built; fill "$ROOT/d" $((RESTORE_BYTES * level / 100))
    heal() { unfill "$ROOT/d"; }
    FAIL_AS="6 ^Error! (Archiving the original module $KERNEL_HELLO failed\.|Cannot write the journal .* \(No space left on device\)\.)$" \
        run_case "install, D full at ${level}% of the archived original" installed install hello/1.0 -k "$K"
done
heal() { mount -o remount,rw "$ROOT/d"; }
restore added; mount -o remount,ro "$ROOT/d"
FAIL_AS="1 ^Error! No write access to DKMS tree at $ROOT/d$" run_case "build, D read-only" built build hello/1.0 -k "$K"
umount "$ROOT/d" || umount -l "$ROOT/d"

echo "$cases cases, $failed failed"
((failed == 0))
