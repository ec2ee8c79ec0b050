#!/bin/bash
# Benchmarks `dkms status` of swift-dkms against upstream dkms 3.4.3 on a
# synthetic tree (bench/make-status-tree.sh).
#
#   bench/status.sh [DKMS_BINARY]
#
# DKMS_BINARY defaults to .build/release/dkms (else .build/debug/dkms).
# Environment:
#   BENCH_TREE      reuse (or create, when it has no dkms/ yet) this tree
#                   instead of a temporary one
#   BENCH_MODULES   modules in a new tree (60)
#   BENCH_KERNELS   kernels in a new tree (6)
#   UPSTREAM_DKMS   upstream's script (/opt/upstream-dkms/bin/dkms)
#   OURS_RUNS       timed runs of our binary (20)
#   UPSTREAM_RUNS   timed runs of upstream (3; one takes many seconds)
#
# The outputs (stdout, stderr, exit status) must be byte-identical, else
# the diff is printed and the script fails before timing anything. Each
# binary is timed with hyperfine (--warmup 1, output to /dev/null); the
# medians, their ratio, the run counts and the wall time of each
# measurement are printed at the end.
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
if [[ ${BENCH_TREE:-} ]]; then
    tree=$BENCH_TREE
    if [[ ! -d $tree/dkms ]]; then
        "$here/make-status-tree.sh" "$tree" "${BENCH_MODULES:-60}" "${BENCH_KERNELS:-6}" >&2
    fi
else
    tree=$work/tree
    "$here/make-status-tree.sh" "$tree" "${BENCH_MODULES:-60}" "${BENCH_KERNELS:-6}" >&2
fi
tree=$(realpath -e -- "$tree")
options=(status --dkmstree "$tree/dkms" --sourcetree "$tree/src" --installtree "$tree/modules")

# Same output, byte for byte, before anything is timed.
run_once() { # binary name
    local status=0
    "$1" "${options[@]}" >"$work/$2.out" 2>"$work/$2.err" </dev/null || status=$?
    echo "$status" >"$work/$2.status"
}
run_once "$upstream" upstream
run_once "$ours" ours
failed=
for part in out err status; do
    if ! cmp -s "$work/upstream.$part" "$work/ours.$part"; then
        echo "MISMATCH in $part (upstream vs ours):"
        diff -u --label "upstream $part" --label "ours $part" "$work/upstream.$part" "$work/ours.$part" || true
        failed=1
    fi
done
[[ ! $failed ]] || { echo "$0: $ours status differs from upstream" >&2; exit 1; }
echo "Output identical: $(wc -l <"$work/ours.out") lines, exit status $(cat "$work/ours.status")"
for state in ': added' ': built' ': installed' '(Original modules exist)' \
    '(Differences between built and installed modules)' \
    '(Built modules are missing in the kernel modules folder)'; do
    grep -qF -- "$state" "$work/ours.out" || echo "warning: no line with '$state' in the tree's status" >&2
done

# hyperfine command lines (no shell in between; arguments quoted for it).
command_line() { # binary
    local line word
    line=$(printf '%q' "$1")
    for word in "${options[@]}"; do line+=" $(printf '%q' "$word")"; done
    echo "$line"
}

measure() { # name binary runs
    local start end
    start=$(date +%s.%N)
    hyperfine --shell=none --warmup 1 --runs "$3" --output=null --style=basic \
        --export-json "$work/$1.json" --command-name "$1" "$(command_line "$2")" >&2
    end=$(date +%s.%N)
    jq -r --arg wall "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" \
        '.results[0] | "\(.median) \(.times | length) \($wall)"' "$work/$1.json"
}

echo
result=$(measure swift-dkms "$ours" "$ours_runs")
read -r ours_median ours_count ours_wall <<<"$result"
echo
result=$(measure upstream "$upstream" "$upstream_runs")
read -r up_median up_count up_wall <<<"$result"

echo
echo "dkms status on $tree ($(wc -l <"$work/ours.out") lines)"
printf '  %-10s median %9.3f s  (%2d runs + 1 warmup, %7.1f s wall)  %s\n' \
    upstream "$up_median" "$up_count" "$up_wall" "$upstream"
printf '  %-10s median %9.3f s  (%2d runs + 1 warmup, %7.1f s wall)  %s\n' \
    swift-dkms "$ours_median" "$ours_count" "$ours_wall" "$ours"
printf '  ratio      upstream / swift-dkms = %.2fx\n' "$(awk -v a="$up_median" -v b="$ours_median" 'BEGIN { print a / b }')"
