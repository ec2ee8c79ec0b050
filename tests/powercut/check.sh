#!/bin/bash
# The checks after a power cut, run by run-powercut.sh in a namespace where /var/lib/dkms,
# /usr/src and /lib/modules are the disk's (after e2fsck replayed its journal).
# Usage: check.sh OURS K WORKDIR CUTDIR   (OURS=1: the dkms has fsck and status --json)
# Prints one "[class] detail" line per problem (nothing when consistent) and writes
# CUTDIR/summary (hello's state as first read, and what the next commands said).
#   the SIGKILL suite's checks (tests/faults/lib.sh fx_check) on the first `dkms status`, read
#   before any command that repairs: r-CLASS (reader check); then, ours only, `dkms fsck` and
#   status again: [r-changed] if the state the reader saw is not the one fsck left;
#   fx_check after that ([a-..] [b-..] [c-..] [d-..] [x-source], strict for ours: no pending
#   journal, no temporaries);
#   [k-original]  a file of the kernel's own modules changed or lost (hello's namesake
#                 kernel/drivers/misc/hello_dkms.ko may be archived, intact, in
#                 original_module/ while hello is installed; after the next commands, which
#                 end with hello removed, every file must be back in place)
#   [k-index]     modules.dep does not list a kernel module, or modprobe cannot resolve one
#   [b-modinfo]   an installed dkms module that modinfo cannot read (or of another kernel)
#   [x-bystander] bystander-dkms/1.0 not installed any more
#   [g-cache]     (ours) the module cache lost an entry
#   [e-next]      the next commands (remove hello --all when listed, add hello, and for ours
#                 install hello, which only the module cache can serve) failed or left
#                 anything behind
set -u
OURS=$1 K=$2 W=$3 DIR=$4
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/faults/lib.sh
. "$HERE/../faults/lib.sh"
A=$(uname -m)
FX_ROOT=$DIR/fx
FX_DKMS=$W/dkms-under-test
mkdir -p "$FX_ROOT/tmp"
ln -sfn "$W/ref" "$FX_ROOT/ref"; ln -sfn "$W/pk" "$FX_ROOT/pk"
# shellcheck disable=SC2034 # read by fx_check
FX_MODFILES=([hello-dkms]=hello_dkms [bystander-dkms]=bystander_dkms)
dk() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$FX_ROOT" TMPDIR="$FX_ROOT/tmp" try_sign_modules=false LC_ALL=C \
    timeout -k 5 300 "$FX_DKMS" "$@"; }

dk status >"$DIR/status1" 2>"$DIR/status1.err"; rc=$?
((rc != 0)) && echo "[a-status-rc] status exited $rc: $(head -2 "$DIR/status1.err" | tr '\n' ' ')"
fx_reader_check "$DIR/status1" | sed 's/$/ (first status after the cut)/'
first=$(grep -m1 '^hello-dkms/1.0[,:]' "$DIR/status1" | sed 's/.*: //')
final=$DIR/status1 strict=0 next=""
if ((OURS)); then
    dk fsck >"$DIR/fsck.out" 2>&1; rc=$?
    ((rc != 0)) && echo "[f-recover] dkms fsck exited $rc: $(tail -2 "$DIR/fsck.out" | tr '\n' ' ')"
    next="fsck: $(grep -v '^$' "$DIR/fsck.out" | tr '\n' '|')"
    dk status >"$DIR/status2" 2>&1
    final=$DIR/status2 strict=3
    cmp -s "$DIR/status1" "$final" ||
        echo "[r-changed] status after fsck differs from the first status: $(diff "$DIR/status1" "$final" | grep '^[<>]' | head -2 | tr '\n' ' ')"
fi
fx_check "$final" "$strict" | grep -v '^(note)'
grep -qx "bystander-dkms/1.0, $K, $A: installed" "$final" || echo "[x-bystander] bystander-dkms/1.0 is not installed any more"

# the kernel's own modules: every file intact, and indexed
# hello's namesake, the kernel's own, is in place or archived whole while hello is installed
OWN=lib/modules/$K/kernel/drivers/misc/hello_dkms.ko
own_sum=$(grep " $OWN\$" "$W/original.sha256" | cut -d' ' -f1)
own_ok() { # own_ok WHEN: the original in place, or archived intact by an installed hello
    [[ -f /$OWN && $(sha256sum </$OWN | cut -d' ' -f1) == "$own_sum" ]] && return 0
    local a
    for a in /var/lib/dkms/hello-dkms/original_module/"$K"/*/hello_dkms.ko; do
        [[ -f $a && $(sha256sum <"$a" | cut -d' ' -f1) == "$own_sum" ]] && return 0
    done
    echo "[k-original] $1: the kernel's own /$OWN is neither in place nor archived intact ($(ls -l /$OWN /var/lib/dkms/hello-dkms/original_module/"$K"/*/ 2>&1 | tr '\n' ' '))"
}
own_ok "first read"
(cd / && grep -v " $OWN\$" "$W/original.sha256" | sha256sum --quiet -c 2>&1) | head -3 | sed 's/^/[k-original] /'
while read -r _ f; do
    [[ $f == "$OWN" ]] && continue
    grep -q "^${f#lib/modules/"$K"/}:" "/lib/modules/$K/modules.dep" 2>/dev/null ||
        { echo "[k-index] modules.dep does not list ${f##*/}"; break; }
done <"$W/original.sha256"
modprobe -S "$K" --show-depends ext4 >/dev/null 2>&1 || echo "[k-index] modprobe --show-depends ext4 fails (modules.dep.bin)"
# installed dkms modules are whole
for f in "/lib/modules/$K/updates/dkms"/*.ko*; do
    [[ -e $f ]] || continue
    v=$(modinfo -F vermagic "$f" 2>&1)
    [[ $v == "$K "* ]] || echo "[b-modinfo] modinfo $f: $v"
done
# ours: the module cache still holds both builds, whole (a lookup re-hashes every file and
# refuses a damaged entry: hello's is used by the next autoinstall)
if ((OURS)); then
    dk cache list >"$DIR/cache.list" 2>&1
    for m in hello-dkms bystander-dkms; do
        grep -q " $m/1.0, $K, $A " "$DIR/cache.list" || echo "[g-cache] the module cache lost $m/1.0: $(tr '\n' ' ' <"$DIR/cache.list")"
    done
fi
# installed per status but unknown to depmod: not counted (depmod runs after the copy)
if grep -q "^hello-dkms/1.0, $K, $A: installed" "$final" &&
    ! grep -q '^updates/dkms/hello_dkms.ko' "/lib/modules/$K/modules.dep"; then
    echo "(note) hello installed but not yet in modules.dep" >>"$DIR/notes"
fi

# the next commands
listed=0; grep -q '^hello-dkms/1.0[,:]' "$final" && listed=1
dk remove hello-dkms/1.0 --all >"$DIR/e-remove.out" 2>&1; rc=$?
((rc != 0 && listed)) && echo "[e-next] remove --all exited $rc with hello listed: $(grep -m1 -A1 Error "$DIR/e-remove.out" | tr '\n' ' ')"
dk add hello-dkms/1.0 >"$DIR/e-add.out" 2>&1; rc=$?
((rc != 0)) && echo "[e-next] add exited $rc: $(grep -m1 -A1 Error "$DIR/e-add.out" | tr '\n' ' ')"
want="hello-dkms/1.0: added"
if ((OURS)); then
    # and install: the headers here are the disk's stand-in, so only the module cache can
    # serve it (the entry must have survived whole)
    dk install hello-dkms/1.0 -k "$K" >"$DIR/e-install.out" 2>&1; rc=$?
    ((rc != 0)) && echo "[e-next] install (from the module cache) exited $rc: $(grep -m1 -A1 Error "$DIR/e-install.out" | tr '\n' ' ')"
    want="hello-dkms/1.0, $K, $A: installed"
fi
dk status >"$DIR/status3" 2>&1
grep -Eqx "$want( \(Original modules exist\))?" "$DIR/status3" || echo "[e-next] hello-dkms/1.0 is not '${want#*: }' after the next commands: $(tr '\n' ' ' <"$DIR/status3")"
fx_check "$DIR/status3" "$strict" | grep -v '^(note)' | sed 's/^\[\([^]]*\)\]/[e-next] after the next commands: [\1]/'
((OURS)) && dk remove hello-dkms/1.0 --all >>"$DIR/e-remove.out" 2>&1
[[ -z $(find "/lib/modules/$K/updates" -name 'hello_dkms.ko*' 2>/dev/null) ]] ||
    echo "[e-next] hello_dkms.ko still in /lib/modules/$K/updates after remove --all"
# after the final remove, the kernel's own modules are all in place, intact and indexed
(cd / && sha256sum --quiet -c "$W/original.sha256" 2>&1) | head -3 | sed 's/^/[k-original] after the next commands: /'
grep -q "^${OWN#lib/modules/"$K"/}:" "/lib/modules/$K/modules.dep" ||
    echo "[k-index] after the next commands: modules.dep does not list the kernel's own hello_dkms.ko"
echo "hello=${first:-absent} ${next:0:160}" >"$DIR/summary"
exit 0
