#!/bin/bash
# What a bad shared cache server costs a client: `dkms autoinstall` of N small modules
# (tests/faults' fake kbuild) for a new kernel, with build_cache_shared pointing at
# tests/fleet/hostile-server.py in each MODE, against the same autoinstall without one.
#
#   bench/dead-server.sh DKMS_BINARY [N=3] [TIMEOUT=120] [MODE...]
#
# MODEs: none, refused (a closed port), hang, trickle, endless, bigmanifest, huge
# (default: all). One line per mode: exit status, seconds, the largest size the staging
# directories reached (sampled every 50 ms) and the number of warnings; dkms is killed
# after TIMEOUT seconds (exit 124).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/faults/lib.sh
. "$HERE/../tests/faults/lib.sh"
[[ $# -ge 1 ]] || { echo "usage: $0 DKMS_BINARY [N] [TIMEOUT] [MODE...]" >&2; exit 2; }
FX_DKMS=$(readlink -f -- "$1"); N=${2:-3}; FX_TIMEOUT=${3:-120}; shift $(($# < 3 ? $# : 3))
MODES=("$@"); [[ ${#MODES[@]} -gt 0 ]] || MODES=(none refused hang trickle endless bigmanifest huge)
WORK=$(mktemp -d /tmp/dkms-dead-server.XXXXXX)
mkdir -p "$WORK/srv"
python3 "$HERE/../tests/fleet/hostile-server.py" "$WORK/srv" "$WORK/port" 3600 "$((FX_TIMEOUT + 10))" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do [[ -s $WORK/port ]] && break; sleep 0.1; done
URL=http://127.0.0.1:$(cat "$WORK/port")
CLOSED=http://127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for mode in "${MODES[@]}"; do
    case $mode in none) shared= ;; refused) shared=$CLOSED/cache ;; *) shared=$URL/$mode ;; esac
    root=$WORK/$mode; fx_init "$root"; FX_KVER=6.1.0-bench
    fx_fake_kernel "$FX_KVER" 0
    for i in $(seq "$N"); do fx_module "m$i" 1.0 0 "m$i" >/dev/null; fx_dkms add "$root/pk/m$i-1.0" >/dev/null; done
    echo "build_cache_shared=\"$shared\"" >"$root/etc/framework.conf"
    (while sleep 0.05; do du -sbc "$root"/d/.cache/entries/.staging-* 2>/dev/null | tail -1 | cut -f1; done) >"$root/sizes" &
    sampler=$!
    t0=$(date +%s%N)
    rc=0; fx_dkms autoinstall -k "$FX_KVER" >"$root/out" 2>"$root/err" || rc=$?
    t1=$(date +%s%N)
    kill "$sampler"
    printf '%-12s N=%s exit %3s  %8.2f s  staging peak %10s B  warnings %s\n' "$mode" "$N" "$rc" \
        "$(echo "($t1 - $t0) / 1000000000" | bc -l)" "$(sort -n "$root/sizes" | tail -1)" "$(grep -c '^dkms: ' "$root/err")"
done
