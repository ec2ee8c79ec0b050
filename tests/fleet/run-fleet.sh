#!/bin/bash
# Fleet simulation of the shared module cache (docs/cache.md, "Fleet caches", "Trust model").
#
# Usage: tests/fleet/run-fleet.sh DKMS_BINARY [KERNEL]
#
# Machines are private dkms, source and install trees with their own /etc/dkms
# (SWIFT_DKMS_SYSCONFDIR), all at the same paths, as on a real fleet: each machine's trees
# are renamed into WORK/m while it runs, so cache keys (which cover the build command and
# its paths) agree between machines. The kernel is a real one with headers (default
# 6.1.0-57-amd64). Machine A builds examples/hello-dkms (and acpi-call from the corpus .deb
# cache when it is there), exports its cache signed with a fleet key into a directory that
# `python3 -m http.server` serves on 127.0.0.1. Then:
#   - machines B (http), C (an absent http location, then the good one) and E (a directory)
#     trust A's key and install the same modules with no make or compiler run in their
#     builds, byte-identical to A's installed modules, and count them as fetched; machine S
#     does it with build_cache_size=1K, and keeps no entry (each fetched one evicted);
#   - entries signed by an untrusted key, unsigned, with a module byte changed, with a
#     truncated module, with the manifest edited after signing, or signed by the trusted
#     key but built for another kernel (vermagic) are each refused with one warning, and
#     the module is built locally (make runs); a refused location followed by a good one
#     is served by the good one; a manifest signed by openssl with the trusted key is used.
#   - hostile servers (hostile-server.py on 127.0.0.1): an autoinstall of 3 small modules
#     (tests/faults' fake kbuild) for a new kernel against a refusing port, a server that
#     never answers, trickles, sends an endless or 2 MiB manifest without Content-Length or
#     announces a huge one builds everything locally with one warning, a bounded number of
#     seconds lost per command, and no download past its limit (a curl wrapper logs what
#     each wrote); a signed manifest followed by an endless module stops at its declared
#     size; signed manifests with out-of-range numbers are refused, and entries planted
#     with them (local cache, export directory) crash no command; a file name with URL
#     characters is fetched as itself; a module declaring another name is refused.
# Wrappers for make and gcc (first on PATH, outside /tmp so the build sandbox sees them)
# write a marker line to standard error, which dkms keeps in make.log.
# Prints one line per check, then "N passed, M failed"; exits 1 on any failure.
# FLEET_KEEP=1 keeps the work directory.
# shellcheck disable=SC2317,SC2034,SC2016 # checks run through check() (eval of single-quoted tests); FX_* are read by lib.sh
set -euo pipefail
trap 'echo "run-fleet: unexpected failure at line $LINENO" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/faults/lib.sh
. "$HERE/../faults/lib.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 DKMS_BINARY [KERNEL]" >&2; exit 2; }
HOSTILE=
FX_DKMS=$(readlink -f -- "$1")
K=${2:-6.1.0-57-amd64}
OTHER_K=6.1.0-57-cloud-amd64
ARCH=$(uname -m)
[[ -d /lib/modules/$K/build/include ]] || { echo "run-fleet: no headers for $K" >&2; exit 2; }
started=$SECONDS

WORK=$(mktemp -d /tmp/dkms-fleet.XXXXXX)
# not under /tmp, /var/tmp or /run, which the build sandbox replaces with empty ones
BIN=$(mktemp -d /var/cache/dkms-fleet-bin.XXXXXX)
chmod 755 "$BIN"   # the build user runs the wrapper tools from here
SERVER=
cleanup() {
    [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null
    [[ -n $HOSTILE ]] && kill "$HOSTILE" 2>/dev/null
    rm -rf "$BIN"
    if [[ ${FLEET_KEEP:-} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# make and gcc wrappers: a marker on standard error (make.log), then the real tool.
# shellcheck disable=SC2016 # $1, $* and $@ are the wrapper's own
for tool in make gcc gcc-12 cc; do
    real=$(command -v "$tool" || true)
    [[ -n $real ]] || continue
    printf '#!/bin/sh\ncase "$1" in --version|-v|-dumpversion|-dumpfullversion|-print-*) ;; *) echo "fleet-wrapper: %s $*" >&2 ;; esac\nexec %s "$@"\n' \
        "${tool}[\$(cat $BIN/machine)]" "$real" >"$BIN/$tool"
    chmod 755 "$BIN/$tool"
done
# curl wrapper: the real curl, then one file per download in WORK/curl-log with the size of
# what it wrote (its high-water mark: curl only appends), its --max-filesize and its status.
mkdir -p "$WORK/curl-log"
printf '#!/bin/sh\nout= max= prev=\nfor a in "$@"; do case $prev in -o) out=$a ;; --max-filesize) max=$a ;; esac; prev=$a; done\n%s "$@"; rc=$?\n[ -z "$out" ] || echo "$(stat -c %%s "$out" 2>/dev/null || echo 0) $max $rc" >%s/$$\nexit $rc\n' \
    "$(command -v curl)" "$WORK/curl-log" >"$BIN/curl"
chmod 755 "$BIN/curl"
FX_PATH="$BIN:/usr/sbin:/usr/bin:/sbin:/bin"
FX_TIMEOUT=300

passed=0 failed=0
check() { # check NAME COMMAND...: one line per check (with the last dkms stderr on failure)
    local name=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok    $name"
    else failed=$((failed + 1)); echo "FAIL  $name"; sed 's/^/      | /' "$WORK/err" 2>/dev/null || true; fi
}

# Machines: WORK/machines/NAME, renamed to WORK/m while in use (lib.sh's fx_machine).
ACTIVE=
new_machine() { # the trees of a new machine
    mkdir -p "$WORK/m/i/$K" "$WORK/m/i/$OTHER_K" "$WORK/m/etc/cache-keys"
    ln -s "/lib/modules/$K/build" "$WORK/m/i/$K/build"
    [[ -d /lib/modules/$OTHER_K/build ]] && ln -s "/lib/modules/$OTHER_K/build" "$WORK/m/i/$OTHER_K/build"
    cp -r "$REPO/examples/hello-dkms" "$WORK/m/pk/hello-dkms-1.0"
    [[ -z $ACPI ]] || cp -r "$ACPI" "$WORK/m/pk/$ACPI_DIR"
}
machine() { # machine NAME: makes NAME the active machine (created on first use)
    fx_machine "$WORK" "$1" new_machine
    ACTIVE=$1
    echo "$1" >"$BIN/machine"
}
mkdir -p "$WORK/machines" "$WORK/srv"
M=$WORK/m
FX_ROOT=$M

# acpi-call from the corpus cache, when it was downloaded before (never fetched here).
ACPI='' ACPI_DIR='' ACPI_MOD=''
deb=$(find /var/cache/swift-dkms-corpus -maxdepth 1 -name 'acpi-call-dkms_*.deb' 2>/dev/null | head -1 || true)
if [[ -n $deb ]]; then
    dpkg-deb -x "$deb" "$WORK/acpi"
    ACPI=$(find "$WORK/acpi/usr/src" -mindepth 1 -maxdepth 1 -name 'acpi-call-*' | head -1)
    ACPI_DIR=${ACPI##*/}
    ACPI_MOD=$(sed -n 's/^PACKAGE_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$ACPI/dkms.conf")/$(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$ACPI/dkms.conf")
else
    echo "(acpi-call-dkms .deb not in /var/cache/swift-dkms-corpus: only hello-dkms is used)"
fi
MODULES=(hello-dkms/1.0)
[[ -z $ACPI_MOD ]] || MODULES+=("$ACPI_MOD")

# dk ARGS...: dkms on the active machine; output in WORK/out, standard error in WORK/err.
dk() { fx_dkms "$@" >"$WORK/out" 2>"$WORK/err"; }
add_all() { dk add "$M/pk/hello-dkms-1.0" && { [[ -z $ACPI ]] || dk add "$M/pk/$ACPI_DIR"; }; }
# The make.log files of the active machine's builds of the modules for kernel $1.
makelogs() { local m; for m in "${MODULES[@]}"; do echo "$M/d/$m/$K/$ARCH/log/make.log"; done; }
# The marker lines of the make and gcc wrappers in those make.log files.
# (a build from the cache keeps the make.log of the machine that built it: only the
# active machine's own markers count).
wrapper_calls() {
    local -a logs; mapfile -t logs < <(makelogs)
    cat "${logs[@]}" 2>/dev/null | grep -c "^fleet-wrapper: [a-z0-9-]*\[$ACTIVE\]" || true
}
from_cache() { local f; while read -r f; do grep -q 'from the module cache' "$f" || return 1; done < <(makelogs); }
installed_like_a() {
    local f a
    for f in "$M/i/$K/updates/dkms"/*.ko; do
        a="$WORK/machines/A/i/$K/updates/dkms/${f##*/}"
        cmp -s "$f" "$a" && [[ $(modinfo -F vermagic "$f") == "$(modinfo -F vermagic "$a")" ]] || return 1
    done
    [[ $(find "$M/i/$K/updates/dkms" -name '*.ko' | wc -l) == "${#MODULES[@]}" ]]
}
stat_is() { fx_dkms cache stats >"$WORK/stats" && grep -qx "$1: $2" "$WORK/stats"; }
no_warning() { ! grep -q 'refused\|could not be read' "$WORK/err"; }
refused_once() { [[ $(grep -c "refused: .*$1" "$WORK/err" || true) == 1 ]]; }
# Composite checks.
export_fails_without_key() {
    local rc=0
    fx_dkms cache export "$WORK/srv/good" >/dev/null 2>"$WORK/err" || rc=$?
    [[ $rc == 1 ]] && grep -q '^Error!' "$WORK/err"
}
export_complete() {
    [[ $(wc -l <"$WORK/srv/good/index") == "${#MODULES[@]}" &&
       $(find "$WORK/srv/good/entries" -name manifest.sig | wc -l) == "${#MODULES[@]}" ]]
}
openssl_verifies() {
    local e="$WORK/srv/good/entries/$HELLO"
    sed -n 's/^ed25519 //p' "$e/manifest.sig" | base64 -d >"$WORK/sig.bin" &&
        openssl pkeyutl -verify -pubin -inkey "$WORK/fleet.pub" -rawin -in "$e/manifest" -sigfile "$WORK/sig.bin" >/dev/null
}
fetched_all_quietly() { stat_is fetched "${#MODULES[@]}" && stat_is refused 0 && no_warning; }
built_and_counted_refused() { [[ $(wrapper_calls) -gt 0 ]] && stat_is refused 1 && stat_is fetched 0; }
fetched_after_refusal() { refused_once "does not match" && [[ $(wrapper_calls) == 0 ]] && stat_is fetched 1; }
fetched_quietly() { no_warning && [[ $(wrapper_calls) == 0 ]] && stat_is fetched 1; }
tree_digest() { find "$WORK/srv/good" -printf '%P %s %T@\n' | sort | md5sum; }

# --- Machine A: the fleet key, real builds, the export.
machine A
dk cache keygen "$M/etc/cache-signing"
check "keygen writes a private key (0600) and its public key" \
    test "$(stat -c %a "$M/etc/cache-signing.key")" = 600 -a -s "$M/etc/cache-signing.pub"
check "openssl derives the same public key from the private key" \
    cmp -s <(openssl pkey -in "$M/etc/cache-signing.key" -pubout) "$M/etc/cache-signing.pub"
cp "$M/etc/cache-signing.pub" "$WORK/fleet.pub"
cp "$M/etc/cache-signing.key" "$WORK/fleet.key"
add_all
for m in "${MODULES[@]}"; do dk install "$m" -k "$K"; done
check "A builds with make and gcc (the wrappers are seen)" test "$(wrapper_calls)" -gt 0
mkdir -p "$WORK/srv/empty"
mv "$M/etc/cache-signing.key" "$M/etc/away.key"
check "export without a signing key fails (Error!, exit 1)" export_fails_without_key
mv "$M/etc/away.key" "$M/etc/cache-signing.key"
dk cache export "$WORK/srv/good"
check "export writes every entry, signed, and the index" export_complete
before=$(tree_digest)
sleep 1
dk cache export "$WORK/srv/good"
check "export again changes nothing" test "$before" = "$(tree_digest)" -a -n "$(grep '(0 written' "$WORK/out")"
HELLO=$(awk '$2 == "hello-dkms" { print $1 }' "$WORK/srv/good/index")
check "openssl verifies the manifest signature" openssl_verifies
# hello for another kernel, for the vermagic case (its module is not this kernel's).
if [[ -d /lib/modules/$OTHER_K/build ]]; then dk build hello-dkms/1.0 -k "$OTHER_K"; fi

# --- The web server.
fx_http_serve "$WORK/srv" "$WORK/http.log"
SERVER=$FX_HTTP_PID
URL=$FX_HTTP_URL

# client NAME SHARED: a machine that trusts A's key and reads SHARED; installs everything.
client() {
    machine "$1"
    cp "$WORK/fleet.pub" "$M/etc/cache-keys/a.pub"
    echo "build_cache_shared=\"$2\"" >"$M/etc/framework.conf"
    add_all
    : >"$WORK/errs"
    for m in "${MODULES[@]}"; do dk install "$m" -k "$K"; cat "$WORK/err" >>"$WORK/errs"; done
    cp "$WORK/errs" "$WORK/err"
}
for spec in "B $URL/good" "C $URL/empty $URL/good" "E $WORK/srv/good"; do
    read -r name shared <<<"$spec"
    client "$name" "$shared"
    check "$name ($shared): no make or compiler run" test "$(wrapper_calls)" = 0
    check "$name: make.log says the modules came from the module cache" from_cache
    check "$name: installed modules byte-identical to A's (and same vermagic)" installed_like_a
    check "$name: ${#MODULES[@]} fetched, none refused, no warning" fetched_all_quietly
done

# build_cache_size bounds what a client fetches too (trimmed when each command ends, after the
# install copied from the entry): with 1K, no entry stays, each counted as evicted.
machine S
cp "$WORK/fleet.pub" "$M/etc/cache-keys/a.pub"
printf 'build_cache_shared="%s"\nbuild_cache_size="1K"\n' "$URL/good" >"$M/etc/framework.conf"
add_all
for m in "${MODULES[@]}"; do dk install "$m" -k "$K"; done
dk cache stats
check "S (build_cache_size=1K): installed like A's, the cache left empty, ${#MODULES[@]} evicted" \
    eval 'installed_like_a && [[ -z $(find "$M/d/.cache/entries" -mindepth 1 -maxdepth 1 2>/dev/null) ]] &&
        grep -qx "evicted: ${#MODULES[@]}" "$WORK/out"'

# --- Refusals: each case is a copy of the good export with one thing wrong, served over http.
openssl genpkey -algorithm ed25519 -out "$WORK/other.key" 2>/dev/null
keyid() { openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | sha256sum | cut -c1-16; }
# resign DIR KEY: replaces DIR/entries/HELLO/manifest.sig by an openssl signature with KEY.
resign() {
    local e="$1/entries/$HELLO"
    { echo "swift-dkms cache signature 1"; echo "key $(keyid "$2")"
      echo "ed25519 $(openssl pkeyutl -sign -rawin -inkey "$2" -in "$e/manifest" | base64 -w0)"; } >"$e/manifest.sig"
}
case_dir() { rm -rf "$WORK/srv/$1"; cp -a "$WORK/srv/good" "$WORK/srv/$1"; echo "$WORK/srv/$1/entries/$HELLO"; }
e=$(case_dir untrusted); resign "$WORK/srv/untrusted" "$WORK/other.key"
e=$(case_dir unsigned); rm "$e/manifest.sig"
e=$(case_dir tampered); printf '\x5a' | dd of="$e/modules/hello_dkms.ko" bs=1 seek=200 conv=notrunc status=none
e=$(case_dir truncated); truncate -s -64 "$e/modules/hello_dkms.ko"
e=$(case_dir edited); sed -i 's/^created .*/created 1/' "$e/manifest"
e=$(case_dir openssl); resign "$WORK/srv/openssl" "$WORK/fleet.key"
if [[ -d $WORK/machines/A/d/hello-dkms/1.0/$OTHER_K ]]; then
    e=$(case_dir vermagic)
    ko=$WORK/machines/A/d/hello-dkms/1.0/$OTHER_K/$ARCH/module/hello_dkms.ko
    cp "$ko" "$e/modules/hello_dkms.ko"
    sed -i "s|^file [0-9a-f]* [0-9]* modules/hello_dkms.ko\$|file $(sha256sum <"$ko" | cut -c1-64) $(stat -c %s "$ko") modules/hello_dkms.ko|" "$e/manifest"
    resign "$WORK/srv/vermagic" "$WORK/fleet.key"
fi

# refusal CASE REASON_PATTERN: machine R builds hello from $URL/CASE: refused, then built.
machine R
cp "$WORK/fleet.pub" "$M/etc/cache-keys/a.pub"
dk add "$M/pk/hello-dkms-1.0"
MODULES=(hello-dkms/1.0)
fresh_build() { # fresh_build SHARED...: an empty local cache, no build, then a build
    echo "build_cache_shared=\"$*\"" >"$M/etc/framework.conf"
    fx_dkms unbuild hello-dkms/1.0 -k "$K" >/dev/null 2>&1 || true
    rm -rf "$M/d/.cache"
    dk build hello-dkms/1.0 -k "$K"
}
refusal() {
    local name=$1 reason=$2
    [[ -d $WORK/srv/$name ]] || { echo "skip  $name (no headers for $OTHER_K)"; return; }
    fresh_build "$URL/$name"
    check "$name: refused with one warning ($(grep -o 'refused: [^;]*' "$WORK/err" | head -1))" refused_once "$reason"
    check "$name: built locally (make ran), counted as refused" built_and_counted_refused
}
refusal untrusted "which is not trusted"
refusal unsigned "not signed"
refusal tampered "does not match its digest"
refusal truncated "truncated"
refusal edited "does not match the signature"
refusal vermagic "is for kernel $OTHER_K"

fresh_build "$URL/tampered" "$WORK/srv/good"
check "a refused location, then a good one: the good one serves (no make)" fetched_after_refusal
fresh_build "$URL/openssl"
check "an entry signed with the fleet key by openssl is used" fetched_quietly
fresh_build "$URL/good"
rm "$M/etc/cache-keys/a.pub"
fresh_build "$URL/good"
check "no trusted key: refused and built" refused_once "which is not trusted"


# --- Hostile servers (tests/fleet/hostile-server.py on 127.0.0.1): endless, trickling, silent
# and over-long answers cost one warning and a few seconds per command, never more disk than
# the limits allow; out-of-range numbers, odd file names and a renamed module are refused or
# served correctly; nothing traps.
python3 "$HERE/hostile-server.py" "$WORK/srv" "$WORK/hostile.port" 300 &
HOSTILE=$!
for _ in $(seq 50); do [[ -s $WORK/hostile.port ]] && break; sleep 0.1; done
HURL=http://127.0.0.1:$(cat "$WORK/hostile.port")
CLOSED=http://127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# run_words "WORDS": dkms with those arguments; status in $RC, output in WORK/out and WORK/err.
run_words() { local -a w; read -ra w <<<"$1"; RC=0; fx_dkms "${w[@]}" >"$WORK/out" 2>"$WORK/err" || RC=$?; }
no_trap() { ! grep -q 'Swift runtime failure\|Fatal error' "$WORK/err" "$WORK/out" && ((${RC:-0} < 128)); }
# curl_within_limits: every download since the last call wrote at most max(--max-filesize, 4096)
# bytes; the largest is in $CURL_PEAK.
CURL_PEAK=0
curl_within_limits() {
    local size max rc f ok=0
    CURL_PEAK=0
    for f in "$WORK"/curl-log/*; do
        [[ -e $f ]] || continue
        read -r size max rc <"$f"; rm -f "$f"
        ((size > CURL_PEAK)) && CURL_PEAK=$size
        ((size <= (max > 4096 ? max : 4096))) || { echo "      | wrote $size bytes, limit $max (curl $rc)"; ok=1; }
    done
    return $ok
}
# staging_sampler: the largest size of the staging directories, sampled every 20 ms, in WORK/peak.
staging_sampler() {
    local peak=0 s
    while [[ ! -e $WORK/stop-sampler ]]; do
        s=$(du -sbc "$M"/d/.cache/entries/.staging-* 2>/dev/null | tail -1 | cut -f1 || true)
        ((${s:-0} > peak)) && { peak=$s; echo "$peak" >"$WORK/peak"; }
        sleep 0.02
    done
}
# timed_autoinstall SHARED: autoinstall of the fx modules for a new fake kernel; seconds in $ELAPSED.
KN=0
timed_autoinstall() {
    KN=$((KN + 1)); local kver=6.1.0-fleet$KN t0
    fx_fake_kernel "$kver" 0
    echo "build_cache_shared=\"$1\"" >"$M/etc/framework.conf"
    [[ -z ${2:-} ]] || echo "build_cache_shared_budget=$2" >>"$M/etc/framework.conf"
    rm -f "$WORK/stop-sampler"; echo 0 >"$WORK/peak"
    staging_sampler & local sampler=$!
    t0=$(date +%s%N)
    RC=0; fx_dkms autoinstall -k "$kver" >"$WORK/out" 2>"$WORK/err" || RC=$?
    ELAPSED=$((($(date +%s%N) - t0) / 1000000))
    touch "$WORK/stop-sampler"; wait "$sampler" || true
    BUILT=$(find "$M/i/$kver" -path "$M/i/$kver/build" -prune -o -name "*.ko" -print 2>/dev/null | wc -l)
}
machine H
for n in 1 2 3; do fx_module "fleetmod$n" 1.0 0 "fleetmod$n"; fx_dkms add "$M/pk/fleetmod$n-1.0" >/dev/null; done
timed_autoinstall ""
BASE=$ELAPSED
check "no shared cache: 3 modules built for a new kernel (${BASE} ms)" test "$BUILT" = 3 -a "$RC" = 0
: >"$WORK/lost"
# hostile NAME SHARED MAX_EXTRA_MS [BUDGET]: the autoinstall builds all 3 modules, one warning
# (the location is not tried again), at most MAX_EXTRA_MS more than without a shared cache.
hostile() {
    local name=$1 shared=$2 max=$3
    curl_within_limits >/dev/null || true
    timed_autoinstall "$shared" "${4:-}"
    local warnings extra=$((ELAPSED - BASE))
    warnings=$(grep -c 'could not be read' "$WORK/err" || true)
    local within=0
    curl_within_limits || within=1
    echo "$name: ${ELAPSED} ms, ${extra} ms lost, staging peak $(cat "$WORK/peak") B (sampled), largest download $CURL_PEAK B" >>"$WORK/lost"
    check "$name: 3 built locally, exit 0, no trap" eval '[[ $BUILT == 3 && $RC == 0 ]] && no_trap'
    check "$name: one warning for the command, location not tried again ($warnings)" \
        eval '[[ $warnings == 1 ]] && grep -q "not used again by this command" "$WORK/err"'
    check "$name: ${extra} ms lost for 3 modules (< $max)" test "$extra" -lt "$max"
    check "$name: no download wrote past its limit (largest $CURL_PEAK B)" test "$within" = 0
}
hostile "refused connection" "$CLOSED" 4000
hostile "accepts and never answers" "$HURL/hang" 9000
hostile "trickles a byte a second" "$HURL/trickle" 9000
hostile "endless chunked manifest" "$HURL/endless" 4000
hostile "2 MiB manifest without Content-Length" "$HURL/bigmanifest" 4000
hostile "huge Content-Length" "$HURL/huge" 4000
hostile "silent, build_cache_shared_budget=2" "$HURL/hang" 4000 2
check "the endless manifest stopped at 1 MiB (+4 KiB)" \
    eval "grep -q '^endless chunked manifest: .*largest download 10[0-9][0-9][0-9][0-9][0-9] B' '$WORK/lost'"
sed 's/^/      /' "$WORK/lost"

# Signed entries of hello on the real kernel (machine R): a module served without end after
# a good manifest, out-of-range numbers, URL-special file names, a module of another name.
machine R
cp "$WORK/fleet.pub" "$M/etc/cache-keys/a.pub"
echo 0 >"$WORK/peak"
curl_within_limits >/dev/null || true
fresh_build "$HURL/files-endless"
hello_size=$(sed -n 's|^file [0-9a-f]* \([0-9]*\) modules/hello_dkms.ko$|\1|p' "$WORK/srv/good/entries/$HELLO/manifest")
within=0; curl_within_limits || within=1
check "a module served without end stops at its declared size ($CURL_PEAK of $hello_size B), built locally" \
    eval '[[ $within == 0 && $CURL_PEAK -le $((hello_size > 4096 ? hello_size : 4096)) && $(wrapper_calls) -gt 0 ]] && grep -q "larger than expected" "$WORK/err"'
# numbers NAME SED: a copy of the good entry with its manifest edited by SED, signed with the fleet key.
numbers() { e=$(case_dir "$1"); sed -i "$2" "$e/manifest"; resign "$WORK/srv/$1" "$WORK/fleet.key"; }
numbers created-huge 's/^created .*/created 99999999999999999999/'
numbers created-max 's/^created .*/created 9223372036854775807/'
numbers created-negative 's/^created .*/created -1/'
numbers created-arabic 's/^created .*/created ١٧٩٦٠٦١٩٤٦/'
numbers size-max 's|^file \([0-9a-f]*\) [0-9]* make.log$|file \1 9223372036854775807 make.log|'
for c in created-huge created-max created-negative created-arabic size-max; do
    fresh_build "$URL/$c"
    check "$c (signed): refused as malformed, built locally" eval 'refused_once "malformed" && [[ $(wrapper_calls) -gt 0 ]]'
    for cmd in "cache list" "cache stats" "status --json" "cache prune 1G"; do
        run_words "$cmd"
        check "$c: dkms $cmd exits $RC, no trap" eval '((RC == 0)) && no_trap'
    done
done
# An entry planted in the local cache and an unsigned one in an export directory, both out of
# range: every command that lists entries survives.
plant() { mkdir -p "$1"; sed 's/^created .*/created 9223372036854775807/' "$WORK/srv/good/entries/$HELLO/manifest" >"$1/manifest"; }
plant "$M/d/.cache/entries/$(printf '%064d' 7)"
touch -d @99999999999 "$M/d/.cache/entries/$HELLO/used" 2>/dev/null || true
printf 'hits 9223372036854775807\nmisses 9223372036854775807\nfetched -3\n' >"$M/d/.cache/stats"
for cmd in "cache list" "cache stats" "status --json" "cache prune 1G"; do
    run_words "$cmd"
    check "planted local entry and counters: dkms $cmd exits $RC, no trap" eval '((RC == 0)) && no_trap'
done
machine A
rm -rf "$WORK/srv/planted"; cp -a "$WORK/srv/good" "$WORK/srv/planted"
plant "$WORK/srv/planted/entries/$(printf '%064d' 7)"
RC=0; fx_dkms cache export "$WORK/srv/planted" >"$WORK/out" 2>"$WORK/err" || RC=$?
check "export into a directory holding an out-of-range unsigned manifest: exit $RC, no trap" eval '((RC == 0)) && no_trap'

machine R
# oddname: the entry lists one more file, whose name has URL-special characters.
e=$(case_dir oddname)
odd='odd name ?#[1]{a,b} %41 ..x'
echo extra >"$e/$odd"
echo "file $(sha256sum <"$e/$odd" | cut -c1-64) $(stat -c %s "$e/$odd") $odd" >>"$e/manifest"
resign "$WORK/srv/oddname" "$WORK/fleet.key"
fresh_build "$URL/oddname"
check "a file name with ? # [ ] { } % .. and spaces is fetched as itself (no make)" fetched_quietly
check "  and adopted byte for byte" cmp -s "$e/$odd" "$M/d/.cache/entries/$HELLO/$odd"
# renamed: hello_dkms.ko replaced by a module for this kernel that declares another name.
e=$(case_dir renamed)
printf 'static const char v[] __attribute__((section(".modinfo"), used)) = "vermagic=%s SMP mod_unload modversions ";\nstatic const char n[] __attribute__((section(".modinfo"), used)) = "name=evil_mod";\n' \
    "$(modinfo -F vermagic "$e/modules/hello_dkms.ko" | cut -d' ' -f1)" | cc -x c -c - -o "$e/modules/hello_dkms.ko"
sed -i "s|^file [0-9a-f]* [0-9]* modules/hello_dkms.ko\$|file $(sha256sum <"$e/modules/hello_dkms.ko" | cut -c1-64) $(stat -c %s "$e/modules/hello_dkms.ko") modules/hello_dkms.ko|" "$e/manifest"
resign "$WORK/srv/renamed" "$WORK/fleet.key"
refusal renamed "is module evil_mod, not hello_dkms"

echo "$passed passed, $failed failed ($((SECONDS - started)) s)"
exit $((failed > 0))
