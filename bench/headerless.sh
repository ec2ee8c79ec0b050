#!/bin/bash
# A new kernel on a client without headers or compiler (issue 18, docs/fleet.md): the time and
# the bytes it takes to get the fleet's modules, against what a local build needs.
#
#   bench/headerless.sh [OURS_BINARY] [UPSTREAM_BINARY]
#
# OURS_BINARY defaults to .build/release/dkms (else .build/debug/dkms), copied first;
# UPSTREAM_BINARY to /opt/upstream-dkms/bin/dkms (skipped when absent). Kernel: BENCH_KERNEL
# (default 6.1.0-57-amd64, needs headers here). Modules: examples/hello-dkms, acpi-call-dkms
# and vpoll-dkms (the set of tests/fleet/run-headerless.sh, .debs from
# /var/cache/swift-dkms-corpus, downloaded with apt-get when missing). Private trees at one
# path per machine (tests/faults/lib.sh).
#   1. cold local build, ours: an exporter with the headers, empty cache, `autoinstall -k K`
#      (BENCH_COLD_RUNS, 3); then `cache export` to a directory `python3 -m http.server`
#      serves on 127.0.0.1;
#   2. cold local build, upstream 3.4.3: the same `autoinstall -k K` in fresh trees;
#   3. the headerless client: fresh trees without K/build, the fleet key, build_cache_shared
#      = the URL, modules signed with openssl (try_sign_modules=true, sign_file=/nonexistent,
#      a MOK made beforehand); `autoinstall -k K` timed (BENCH_CLIENT_RUNS, 5); bytes fetched =
#      the sizes of the files curl wrote (a curl wrapper first on PATH);
#   4. what a local build downloads on a minimal system: the Depends closure of
#      linux-headers-K and make (apt-cache depends --recurse, no Recommends), minus the
#      closure of the Priority: required and Essential packages and apt (what a minbase
#      debootstrap has), each package's Size (apt-cache show --no-all-versions) summed; the
#      headers' share (linux-headers-K, linux-headers-*-common, linux-kbuild-*) apart.
# Prints each measurement, then a summary with the issue's targets (client under 2 s, bytes
# under a tenth of the headers').
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=tests/faults/lib.sh
. "$REPO/tests/faults/lib.sh"

OURS=${1:-}
[[ -n $OURS ]] || { OURS=$REPO/.build/release/dkms; [[ -x $OURS ]] || OURS=$REPO/.build/debug/dkms; }
UPSTREAM=${2:-/opt/upstream-dkms/bin/dkms}
K=${BENCH_KERNEL:-6.1.0-57-amd64}
COLD_RUNS=${BENCH_COLD_RUNS:-3}
CLIENT_RUNS=${BENCH_CLIENT_RUNS:-5}
CORPUS_CACHE=${CORPUS_CACHE:-/var/cache/swift-dkms-corpus}
[[ -d /lib/modules/$K/build/include && -f /boot/vmlinuz-$K ]] || { echo "no headers or image for $K" >&2; exit 2; }

WORK=$(mktemp -d /tmp/dkms-bench-hless.XXXXXX)
# not under /tmp, /var/tmp or /run, which the build sandbox replaces with empty ones
BIN=$(mktemp -d /var/cache/dkms-bench-hless.XXXXXX)
chmod 755 "$BIN"
FX_HTTP_PID=
# shellcheck disable=SC2317 # run by the trap
cleanup() { [[ -z $FX_HTTP_PID ]] || kill "$FX_HTTP_PID" 2>/dev/null; rm -rf "$BIN" "$WORK"; }
trap cleanup EXIT
cp "$OURS" "$BIN/dkms-ours"
FX_DKMS=$BIN/dkms-ours
FX_TIMEOUT=900
# curl wrapper: one file per download in WORK/curl-log with the size of what it wrote.
mkdir -p "$WORK/curl-log"
printf '#!/bin/sh\nout= prev=\nfor a in "$@"; do [ "$prev" = -o ] && out=$a; prev=$a; done\n%s "$@"; rc=$?\n[ -z "$out" ] || stat -c %%s "$out" >%s/$$ 2>/dev/null\nexit $rc\n' \
    "$(command -v curl)" "$WORK/curl-log" >"$BIN/curl"
chmod 755 "$BIN/curl"
FX_PATH="$BIN:/usr/sbin:/usr/bin:/sbin:/bin"

# The modules.
mkdir -p "$WORK/pkgs" "$CORPUS_CACHE"
cp -r "$REPO/examples/hello-dkms" "$WORK/pkgs/hello-dkms-1.0"
for p in acpi-call-dkms vpoll-dkms; do
    compgen -G "$CORPUS_CACHE/${p}_*.deb" >/dev/null || (cd "$CORPUS_CACHE" && apt-get download "$p" >/dev/null 2>&1)
    dpkg-deb -x "$(find "$CORPUS_CACHE" -maxdepth 1 -name "${p}_*.deb" | sort -V | tail -1)" "$WORK/deb"
done
cp -r "$WORK/deb/usr/src/"* "$WORK/pkgs/"
NMOD=$(find "$WORK/pkgs" -mindepth 1 -maxdepth 1 | wc -l)
openssl req -new -x509 -nodes -days 36500 -subj "/CN=bench" -newkey rsa:2048 \
    -keyout "$WORK/mok.key" -outform DER -out "$WORK/mok.der" 2>/dev/null

M=$WORK/m
HEADERS=1
new_machine() {
    mkdir -p "$M/etc/cache-keys" "$M/i/$K/kernel"
    cp -r "$WORK/pkgs"/* "$M/pk/"
    if ((HEADERS)); then ln -s "/lib/modules/$K/build" "$M/i/$K/build"; fi
}
fresh() { # fresh NAME: a new machine NAME (an old one of that name is dropped)
    if [[ $FX_MACHINE == "$1" ]]; then rm -rf "$M"; FX_MACHINE=; fi
    rm -rf "$WORK/machines/$1"
    fx_machine "$WORK" "$1" new_machine
    local d; for d in "$M/pk"/*/; do fx_dkms add "$d" >/dev/null 2>&1; done
}
ms() { echo $((($(date +%s%N) - T0) / 1000000)); }
installed() { find "$M/i/$K/updates" -name '*.ko' 2>/dev/null | wc -l; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

echo "# kernel $K, $NMOD modules ($(ls "$WORK/pkgs" | tr '\n' ' ')), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# ours: $OURS ($(git -C "$REPO" rev-parse --short HEAD))"

# 1. Cold local builds, ours; the last one is the exporter.
cold=()
for r in $(seq "$COLD_RUNS"); do
    fresh X
    T0=$(date +%s%N); fx_dkms autoinstall -k "$K" >"$WORK/out" 2>&1; took=$(ms)
    echo "ours cold build + install, run $r: $took ms ($(installed) modules installed)"
    cold+=("$took")
done
fx_dkms cache keygen "$M/etc/cache-signing" >/dev/null
cp "$M/etc/cache-signing.pub" "$WORK/fleet.pub"
fx_dkms cache export "$WORK/srv" >/dev/null
fx_http_serve "$WORK/srv" "$WORK/http.log"
EXPORT_BYTES=$(du -sb "$WORK/srv" | cut -f1)

# 2. Cold local builds, upstream.
up=()
if [[ -x $UPSTREAM ]]; then
    cp "$UPSTREAM" "$BIN/dkms-upstream"
    for r in $(seq "$COLD_RUNS"); do
        fresh U
        T0=$(date +%s%N); FX_DKMS=$BIN/dkms-upstream fx_dkms autoinstall -k "$K" >"$WORK/out" 2>&1 || true; took=$(ms)
        echo "upstream 3.4.3 cold build + install, run $r: $took ms ($(installed) modules installed)"
        up+=("$took")
    done
else
    echo "upstream: $UPSTREAM not found, not measured"
fi

# 3. The headerless client.
HEADERS=0
client=() bytes=()
for r in $(seq "$CLIENT_RUNS"); do
    fresh C
    cp "$WORK/fleet.pub" "$M/etc/cache-keys/fleet.pub"
    echo "build_cache_shared=\"$FX_HTTP_URL\"" >"$M/etc/framework.conf"
    rm -f "$WORK/curl-log"/*
    FX_ENV=(try_sign_modules=true sign_file=/nonexistent mok_signing_key="$WORK/mok.key" mok_certificate="$WORK/mok.der")
    T0=$(date +%s%N); fx_dkms autoinstall -k "$K" >"$WORK/out" 2>&1; took=$(ms)
    FX_ENV=()
    b=$(cat "$WORK/curl-log"/* 2>/dev/null | awk '{s += $1} END {print s + 0}')
    n=$(find "$WORK/curl-log" -type f | wc -l)
    echo "headerless client autoinstall, run $r: $took ms, $b bytes in $n downloads ($(installed) modules installed, $(grep -c 'has no headers here' "$WORK/out") from the fleet, $(grep -c '^Signing module' "$WORK/out") signed)"
    client+=("$took"); bytes+=("$b")
done

# 4. What a local build downloads on a minimal system.
deps() { apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$@" 2>/dev/null |
    grep -v '^[ <]' | sed 's/:any$//' | sort -u; }
mapfile -t base < <(dpkg-query -W -f='${Package} ${Priority} ${Essential}\n' | awk '$2 == "required" || $3 == "yes" {print $1}')
deps "${base[@]}" apt >"$WORK/minbase"
deps "linux-headers-$K" make >"$WORK/build-closure"
comm -23 "$WORK/build-closure" "$WORK/minbase" >"$WORK/missing"
size() { apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Size: //p' | head -1; }
all=0 hdr=0
while read -r p; do
    s=$(size "$p"); all=$((all + ${s:-0}))
    case $p in linux-headers-*|linux-kbuild-*) hdr=$((hdr + ${s:-0})) ;; esac
done <"$WORK/missing"
echo "local build needs $(wc -l <"$WORK/missing") packages missing from a minimal system: $all bytes (.debs); the headers' part (linux-headers-$K, -common, linux-kbuild): $hdr bytes"
echo "  $(tr '\n' ' ' <"$WORK/missing")"

c=$(printf '%s\n' "${client[@]}" | median) b=$(printf '%s\n' "${bytes[@]}" | median)
echo
echo "# summary (medians)"
echo "headerless client, $NMOD modules from the fleet over http: $c ms, $b bytes (export directory: $EXPORT_BYTES bytes) — target < 2000 ms: $( ((c < 2000)) && echo met || echo MISSED)"
echo "bytes: $b fetched vs $hdr for the headers ($(awk -v a="$b" -v h="$hdr" 'BEGIN {printf "%.2f%%", 100 * a / h}')), $all for headers + toolchain — target < 10% of the headers: $( ((b * 10 < hdr)) && echo met || echo MISSED)"
echo "ours cold local build (headers present): $(printf '%s\n' "${cold[@]}" | median) ms"
((${#up[@]})) && echo "upstream 3.4.3 cold local build (headers present): $(printf '%s\n' "${up[@]}" | median) ms"
exit 0
