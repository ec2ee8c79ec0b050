#!/bin/bash
# Benchmarks `dkms status` of swift-dkms against upstream dkms 3.4.3 on
# synthetic trees (bench/make-status-tree.sh), by default 60 modules x 6
# kernels and 600 x 6 side by side.
#
#   bench/status.sh [DKMS_BINARY]
#
# DKMS_BINARY defaults to .build/release/dkms (else .build/debug/dkms).
# Environment:
#   BENCH_SIZES     the trees, as MODULESxKERNELS words ("60x6 600x6")
#   BENCH_MODULES   with BENCH_KERNELS: one tree of that size instead
#   BENCH_KERNELS   (either alone defaults the other to 60 / 6)
#   BENCH_TREE      reuse (or create, when it has no dkms/ yet) this tree;
#                   one size only
#   UPSTREAM_DKMS   upstream's script (/opt/upstream-dkms/bin/dkms)
#   OURS_RUNS       timed runs of our binary (20)
#   UPSTREAM_RUNS   timed runs of upstream per tree (3 below 1000 lines,
#                   else 1: one run of 600x6 takes minutes, so that one
#                   run is the identity check's own, timed with date)
#
# On each tree the outputs (stdout, stderr, exit status) must be
# byte-identical, else the diff is printed and the script fails before
# timing anything. Each binary is timed with hyperfine (output to
# /dev/null; ours with --warmup 1, upstream without, the identity check
# having just run it once); per tree the medians, their ratio, the run
# counts and the wall time of each measurement are printed at the end, and
# ours at the largest tree against ours at the smallest (lines and time).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
upstream=${UPSTREAM_DKMS:-/opt/upstream-dkms/bin/dkms}
ours_runs=${OURS_RUNS:-20}
upstream_runs=${UPSTREAM_RUNS:-3}

if [[ $# -gt 1 || ${1:-} = -h || ${1:-} = --help ]]; then
    echo "usage: $0 [DKMS_BINARY]" >&2
    exit 2
fi
if [[ $# -eq 1 ]]; then
    ours=$1
elif [[ -x $repo/.build/release/dkms ]]; then
    ours=$repo/.build/release/dkms
else
    ours=$repo/.build/debug/dkms
fi
[[ -x $ours ]] || { echo "$0: no dkms binary at $ours (swift build -c release)" >&2; exit 2; }
ours=$(realpath -e -- "$ours")
[[ -x $upstream ]] || { echo "$0: upstream dkms not found at $upstream (set UPSTREAM_DKMS)" >&2; exit 2; }

if ! command -v hyperfine >/dev/null; then
    echo "Installing hyperfine..." >&2
    if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get install -y hyperfine >/dev/null ||
        { "${sudo[@]}" apt-get update >/dev/null && "${sudo[@]}" apt-get install -y hyperfine >/dev/null; }
fi

work=$(mktemp -d)
cleanup() { rm -rf -- "$work"; }
trap cleanup EXIT

if [[ ${BENCH_MODULES:-} || ${BENCH_KERNELS:-} ]]; then
    sizes=("${BENCH_MODULES:-60}x${BENCH_KERNELS:-6}")
else
    read -r -a sizes <<<"${BENCH_SIZES:-60x6 600x6}"
fi
if [[ ${BENCH_TREE:-} && ${#sizes[@]} -ne 1 ]]; then
    echo "$0: BENCH_TREE takes one size (set BENCH_SIZES or BENCH_MODULES/BENCH_KERNELS)" >&2
    exit 2
fi
for size in "${sizes[@]}"; do
    [[ $size =~ ^[0-9]+x[0-9]+$ ]] || { echo "$0: bad size '$size' (MODULESxKERNELS)" >&2; exit 2; }
done

# hyperfine command lines (no shell in between; arguments quoted for it).
command_line() { # binary options...
    local line word
    line=$(printf '%q' "$1")
    shift
    for word in "$@"; do line+=" $(printf '%q' "$word")"; done
    echo "$line"
}

measure() { # name binary runs warmup options...
    local name=$1 binary=$2 runs=$3 warmup=$4 start end
    shift 4
    start=$(date +%s.%N)
    hyperfine --shell=none --warmup "$warmup" --runs "$runs" --output=null --style=basic \
        --export-json "$work/$name.json" --command-name "$name" "$(command_line "$binary" "$@")" >&2
    end=$(date +%s.%N)
    jq -r --arg wall "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" \
        '.results[0] | "\(.median) \(.times | length) \($wall)"' "$work/$name.json"
}

report=()
first_lines= first_median= last_lines= last_median=
for size in "${sizes[@]}"; do
    modules=${size%x*} kernels=${size#*x}
    if [[ ${BENCH_TREE:-} ]]; then
        tree=$BENCH_TREE
        [[ -d $tree/dkms ]] || "$here/make-status-tree.sh" "$tree" "$modules" "$kernels" >&2
    else
        tree=$work/tree-$size
        "$here/make-status-tree.sh" "$tree" "$modules" "$kernels" >&2
    fi
    tree=$(realpath -e -- "$tree")
    options=(status --dkmstree "$tree/dkms" --sourcetree "$tree/src" --installtree "$tree/modules")

    # Same output, byte for byte, before anything is timed.
    run_once() { # binary name
        local status=0 start
        start=$(date +%s.%N)
        "$1" "${options[@]}" >"$work/$2.out" 2>"$work/$2.err" </dev/null || status=$?
        awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }' >"$work/$2.seconds"
        echo "$status" >"$work/$2.status"
    }
    run_once "$upstream" upstream
    run_once "$ours" ours
    failed=
    for part in out err status; do
        if ! cmp -s "$work/upstream.$part" "$work/ours.$part"; then
            echo "MISMATCH in $part at $size (upstream vs ours):"
            diff -u --label "upstream $part" --label "ours $part" "$work/upstream.$part" "$work/ours.$part" || true
            failed=1
        fi
    done
    [[ ! $failed ]] || { echo "$0: $ours status differs from upstream on $tree" >&2; exit 1; }
    lines=$(wc -l <"$work/ours.out")
    echo "$size: output identical: $lines lines, exit status $(cat "$work/ours.status")"
    for state in ': added' ': built' ': installed' '(Original modules exist)' \
        '(Differences between built and installed modules)' \
        '(Built modules are missing in the kernel modules folder)'; do
        grep -qF -- "$state" "$work/ours.out" || echo "warning: no line with '$state' in the $size tree's status" >&2
    done

    runs=${UPSTREAM_RUNS:-}
    [[ $runs ]] || { if ((lines < 1000)); then runs=3; else runs=1; fi; }
    echo
    read -r ours_median ours_count ours_wall <<<"$(measure "swift-dkms-$size" "$ours" "$ours_runs" 1 "${options[@]}")"
    echo
    if ((runs == 1)); then
        up_median=$(cat "$work/upstream.seconds") up_count=1 up_wall=$up_median
        echo "upstream-$size: the identity check's run, $up_median s" >&2
    else
        read -r up_median up_count up_wall <<<"$(measure "upstream-$size" "$upstream" "$runs" 0 "${options[@]}")"
    fi

    report+=("$(printf 'dkms status, %s (%s lines) on %s' "$size" "$lines" "$tree")")
    report+=("$(printf '  %-10s median %9.4f s  (%2d runs + %d warmup, %7.1f s wall)  %s' \
        upstream "$up_median" "$up_count" 0 "$up_wall" "$upstream")")
    report+=("$(printf '  %-10s median %9.4f s  (%2d runs + %d warmup, %7.1f s wall)  %s' \
        swift-dkms "$ours_median" "$ours_count" 1 "$ours_wall" "$ours")")
    report+=("$(printf '  ratio      upstream / swift-dkms = %.0fx' "$(awk -v a="$up_median" -v b="$ours_median" 'BEGIN { print a / b }')")")
    if [[ ! $first_lines ]]; then first_lines=$lines first_median=$ours_median; fi
    last_lines=$lines last_median=$ours_median
done

echo
printf '%s\n' "${report[@]}"
if ((${#sizes[@]} > 1)); then
    printf 'swift-dkms, largest against smallest tree: %.1fx the lines in %.1fx the time\n' \
        "$(awk -v a="$last_lines" -v b="$first_lines" 'BEGIN { print a / b }')" \
        "$(awk -v a="$last_median" -v b="$first_median" 'BEGIN { print a / b }')"
fi
