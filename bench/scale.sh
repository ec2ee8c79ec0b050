#!/bin/bash
# Modules by the hundred (upstream issue #32): one package that builds N modules,
# installed, uninstalled and removed, and status over N modules x KERNELS kernels,
# swift-dkms against upstream dkms 3.4.3, side by side.
#
#   bench/scale.sh [DKMS_BINARY]
#
# DKMS_BINARY defaults to .build/release/dkms (else .build/debug/dkms).
# Environment:
#   SCALE_SIZES     module counts (default "100 300 600")
#   SCALE_KERNELS   kernels for the status measurement (default 6)
#   SCALE_KERNEL_MODULES  files the fake kernel's own module tree holds (default 4000, about
#                   a Debian kernel's; names that never clash with the package's)
#   SCALE_CAP       seconds after which an upstream run is stopped and reported as
#                   "over N s" (default 120)
#   UPSTREAM_DKMS   upstream's script (/opt/upstream-dkms/bin/dkms)
#   SCALE_KEEP      keep the trees of the last N in this directory (for profiling)
#   SCALE_OURS_ONLY=1  time only our binary (quick iterations)
#   SCALE_BASELINE  another swift-dkms binary (an older commit) timed beside ours, as "before"
#
# Method: private trees and the fake kbuild of tests/faults/lib.sh (each module a small
# ELF object with a .modinfo section). For each N, our binary adds and builds package
# "big" (N modules, DEST_MODULE_LOCATION /extra) for one kernel; that built tree is saved
# and every timed command starts from a copy of it, for both binaries (the tree layout
# is upstream's). Timed, wall clock, one run each (the figures are seconds, the noise
# milliseconds): `install big/1.0 -k K` from built; `uninstall big/1.0 -k K` and
# `remove big/1.0 --all` from installed. Then the built directory is copied to
# KERNELS-1 more fake kernels, our binary installs it on each, and `status` is timed
# for both binaries (outputs compared byte for byte; a mismatch fails the run).
# Every upstream run is bounded by SCALE_CAP; the table prints the time, and the
# growth factor from the smallest N (linear growth: the ratio of the Ns).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
. "$repo/tests/faults/lib.sh"
upstream=${UPSTREAM_DKMS:-/opt/upstream-dkms/bin/dkms}
sizes=${SCALE_SIZES:-100 300 600}
kernels=${SCALE_KERNELS:-6}
cap=${SCALE_CAP:-120}
if [[ $# -gt 1 || ${1:-} = -h || ${1:-} = --help ]]; then
    echo "usage: $0 [DKMS_BINARY]" >&2
    exit 2
fi
if [[ $# -eq 1 ]]; then ours=$1
elif [[ -x $repo/.build/release/dkms ]]; then ours=$repo/.build/release/dkms
else ours=$repo/.build/debug/dkms; fi
ours=$(realpath -e -- "$ours") || exit 2
[[ -r $upstream ]] || { echo "$0: upstream dkms not found at $upstream" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dkms-scale.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
# a private executable copy (the installed script may lack the x bit)
cp -- "$upstream" "$work/upstream-dkms" && chmod +x "$work/upstream-dkms" && upstream=$work/upstream-dkms

now() { date +%s.%N; }
# timed BINARY CAP ARGS...: sets $took to the seconds, or "over CAP s" when stopped, $rc
# to the exit status of the command; its output is in $work/last.out.
timed() {
    local bin=$1 limit=$2 start end; shift 2
    start=$(now)
    FX_DKMS=$bin FX_TIMEOUT=$limit fx_dkms "$@" >"$work/last.out" 2>&1
    rc=$?
    end=$(now)
    if ((rc == 124 || rc == 137)); then took="over ${limit} s"
    else took=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f s", b - a }'); fi
}
snapshot() { tar -C "$FX_ROOT" -cf "$work/$1.tar" d i; }
restore() { rm -rf "${FX_ROOT:?}"/{d,i}; tar -C "$FX_ROOT" -xf "$work/$1.tar"; }
must() { FX_DKMS=$ours FX_TIMEOUT=3600 fx_dkms "$@" >"$work/prep.out" 2>&1 || { echo "preparation failed: dkms $*" >&2; tail "$work/prep.out" >&2; exit 1; }; }

declare -A R=()
for n in $sizes; do
    echo "== N=$n: preparing (add + build with swift-dkms)" >&2
    fx_init "$work/n$n"
    K=6.1.0-scale
    FX_KVER=$K
    fx_fake_kernel "$K" 0
    for ((i = 0; i < ${SCALE_KERNEL_MODULES:-4000}; i++)); do
        ((i % 100)) || mkdir -p "$FX_ROOT/i/$K/kernel/drivers/d$((i / 100))"
        echo x >"$FX_ROOT/i/$K/kernel/drivers/d$((i / 100))/kmod$i.ko"
    done
    names=(); for ((i = 1; i <= n; i++)); do names+=("$(printf 'big%04d' "$i")"); done
    fx_module big 1.0 0 "${names[@]}"
    must add "$FX_ROOT/pk/big-1.0"
    must build big/1.0 -k "$K"
    snapshot built
    must install big/1.0 -k "$K"
    snapshot installed
    for who in ours ${SCALE_BASELINE:+baseline} ${SCALE_OURS_ONLY:+_}upstream; do
        [[ $who == _* ]] && { R[upstream,install,$n]=-; R[upstream,uninstall,$n]=-; R[upstream,remove,$n]=-; R[upstream,status,$n]=-; continue; }
        case $who in ours) bin=$ours limit=3600 ;; baseline) bin=$SCALE_BASELINE limit=3600 ;; *) bin=$upstream limit=$cap ;; esac
        restore built
        timed "$bin" "$limit" install big/1.0 -k "$K"; R[$who,install,$n]=$took
        echo "   $who install: ${R[$who,install,$n]} (exit $rc)" >&2
        restore installed
        timed "$bin" "$limit" uninstall big/1.0 -k "$K"; R[$who,uninstall,$n]=$took
        echo "   $who uninstall: ${R[$who,uninstall,$n]} (exit $rc)" >&2
        restore installed
        timed "$bin" "$limit" remove big/1.0 --all; R[$who,remove,$n]=$took
        echo "   $who remove --all: ${R[$who,remove,$n]} (exit $rc)" >&2
    done
    # status over n modules x kernels
    restore installed
    for ((k = 2; k <= kernels; k++)); do
        kk=6.1.0-scale$k
        mkdir -p "$FX_ROOT/i/$kk"
        cp -a "$FX_ROOT/i/$K/kernel" "$FX_ROOT/i/$kk/"
        cp -a "$FX_ROOT/d/big/1.0/$K" "$FX_ROOT/d/big/1.0/$kk"
        must install big/1.0 -k "$kk"
    done
    for who in ours ${SCALE_BASELINE:+baseline} ${SCALE_OURS_ONLY:+_}upstream; do
        [[ $who == _* ]] && { R[upstream,install,$n]=-; R[upstream,uninstall,$n]=-; R[upstream,remove,$n]=-; R[upstream,status,$n]=-; continue; }
        case $who in ours) bin=$ours limit=3600 ;; baseline) bin=$SCALE_BASELINE limit=3600 ;; *) bin=$upstream limit=$cap ;; esac
        timed "$bin" "$limit" status; R[$who,status,$n]=$took
        cp "$work/last.out" "$work/status.$who"
        echo "   $who status ($n x $kernels): ${R[$who,status,$n]} (exit $rc)" >&2
    done
    if [[ ${R[upstream,status,$n]} != over* && ${R[upstream,status,$n]} != - ]] && ! cmp -s "$work/status.ours" "$work/status.upstream"; then
        echo "status differs from upstream at N=$n:" >&2
        diff "$work/status.upstream" "$work/status.ours" | head >&2
        exit 1
    fi
    if [[ ${SCALE_KEEP:-} ]]; then rm -rf "$SCALE_KEEP"; mkdir -p "$SCALE_KEEP"; cp -a "$FX_ROOT"/. "$SCALE_KEEP"/; cp "$work"/*.tar "$SCALE_KEEP"/; fi
    rm -rf "${FX_ROOT:?}"
done

read -ra size_list <<<"$sizes"
set -- "${size_list[@]}"
first=$1
growth() { # value first_value
    [[ $1 == over* || $2 == over* ]] && { echo "-"; return; }
    awk -v a="${1% s}" -v b="${2% s}" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'
}
echo
echo "One package of N modules (fake kbuild), one kernel; status over N modules x $kernels kernels."
echo "ours: $ours; upstream: $upstream (capped at $cap s)"
[[ ${SCALE_BASELINE:-} ]] && echo "before: $SCALE_BASELINE"
printf '%-10s %6s %14s %14s %14s %10s %10s\n' command N upstream before swift-dkms "ours/N=$first" "N/$first"
for cmd in install uninstall remove status; do
    for n in $sizes; do
        printf '%-10s %6s %14s %14s %14s %10s %10s\n' "$cmd" "$n" "${R[upstream,$cmd,$n]}" "${R[baseline,$cmd,$n]:--}" "${R[ours,$cmd,$n]}" \
            "$(growth "${R[ours,$cmd,$n]}" "${R[ours,$cmd,$first]}")" "$(awk -v a="$n" -v b="$first" 'BEGIN { printf "%.1fx", a / b }')"
    done
done
