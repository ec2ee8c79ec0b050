#!/bin/bash
# A kernel upgrade with no headers and no compiler (docs/fleet.md): fleet clients take every
# module of a new kernel from the fleet's signed builds, found by the kernel's identity.
#
# Usage: tests/fleet/run-headerless.sh DKMS_BINARY
#
# Machines are private trees at the same paths (tests/faults/lib.sh: fx_machine), each with
# its own /etc/dkms (SWIFT_DKMS_SYSCONFDIR). The kernels are every installed kernel with
# headers and an image and configuration in /boot (installs linux-image-cloud-amd64 when only
# one is there). The modules are examples/hello-dkms and two small Debian packages of the
# corpus (acpi-call-dkms, vpoll-dkms; downloaded once with apt-get into
# /var/cache/swift-dkms-corpus, as tests/corpus does).
#   - The exporter X has the headers: it builds the modules for every kernel (make runs) and
#     exports its cache, signed, to a directory served by `python3 -m http.server`.
#   - Clients have no K/build at all, and make, gcc, gcc-12, cc, cpp and ld wrappers first on
#     PATH that fail (and are logged) when called. Client A installs everything with
#     `autoinstall -k K`, client B with the kernel hook's `kernel_postinst -k K`
#     (DKMS_KERNEL_HOOK=postinst). Each module is installed, says where it came from, has
#     vermagic K, is signed through openssl (sign_file=/nonexistent) and equals what
#     sign-file makes of the fleet's module with the same key; status --json names the shared
#     location and the lookup.
#   - Client C installs every module for every kernel with one `autoinstall --all-kernels`;
#     client D runs `build` (built from the fleet, not installed), then `install`. Client E
#     (build_cache="no") gets upstream's headers error, unchanged; client F (BUILD_CACHE=no in
#     /etc/dkms/hello-dkms.conf) fails hello alone with the line that says why. Client G keeps
#     what it adopted after the fleet key is revoked, until `cache prune 0`; then refuses.
#   - Refusals, each exit 21 with exactly one line on standard error and nothing half
#     installed (no file under updates/, status not installed, no staging left in the
#     cache): a record of another build of the same release (an exporter Y whose headers
#     carry another UTS_VERSION), a record signed by an untrusted key, a record edited after
#     signing, a module byte changed in the entry, a module the fleet does not have.
#     A refused location followed by a good one: installed, the refusal one warning.
#   - A module the fleet lacks fails alone: autoinstall installs the others (exit 11), the
#     kernel hook too and exits 0.
#   - With the headers present nothing changes (a module the fleet lacks is built: make
#     runs; no "has no headers" line); without build_cache_shared a kernel without headers
#     gets upstream's error, unchanged (exit 21).
#   - The QEMU proof: kernel K booted under TCG (tests/powercut/vm.sh) insmods the module
#     client A adopted and signed with openssl, and its init line is seen
#     (HEADERLESS_SKIP_VM=1 skips it).
# Prints one line per check, then "N passed, M failed"; exits 1 on any failure.
# HEADERLESS_KEEP=1 keeps the work directory.
# shellcheck disable=SC2034,SC2317,SC2016 # FX_* are read by lib.sh; cleanup and checks run indirectly
set -Eeuo pipefail
trap 'echo "run-headerless: unexpected failure at line $LINENO" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/faults/lib.sh
. "$HERE/../faults/lib.sh"

[[ $# -eq 1 ]] || { echo "usage: $0 DKMS_BINARY" >&2; exit 2; }
FX_DKMS=$(readlink -f -- "$1")
ARCH=$(uname -m)
started=$SECONDS
CORPUS_CACHE=${CORPUS_CACHE:-/var/cache/swift-dkms-corpus}
SIGN_FILE=$(find /usr/lib/linux-kbuild-*/scripts -name sign-file 2>/dev/null | sort -V | tail -1)

# The kernels: headers, image and configuration.
kernels() {
    local b k
    for b in /lib/modules/*/build; do
        k=${b#/lib/modules/}; k=${k%/build}
        [[ -d $b/include && -f /boot/vmlinuz-$k && -f /boot/config-$k ]] && echo "$k"
    done
}
mapfile -t KERNELS < <(kernels)
if ((${#KERNELS[@]} < 2)) && ! dpkg-query -W -f='${Status}' linux-image-cloud-amd64 2>/dev/null | grep -q 'ok installed'; then
    echo "Installing linux-image-cloud-amd64 linux-headers-cloud-amd64 (a second kernel)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=600 \
        linux-image-cloud-amd64 linux-headers-cloud-amd64 >&2
    mapfile -t KERNELS < <(kernels)
fi
((${#KERNELS[@]} >= 1)) || { echo "run-headerless: no kernel with headers and an image in /boot" >&2; exit 2; }
[[ -n $SIGN_FILE ]] || { echo "run-headerless: no sign-file (linux-kbuild-*)" >&2; exit 2; }
K0=${KERNELS[0]}
for k in "${KERNELS[@]}"; do [[ $k == *-amd64 && $k != *-cloud-* && $k != *-rt-* ]] && K0=$k; done

# The corpus packages (never installed: unpacked into the work directory).
CORPUS_PKGS=(acpi-call-dkms vpoll-dkms)
mkdir -p "$CORPUS_CACHE"
for p in "${CORPUS_PKGS[@]}"; do
    compgen -G "$CORPUS_CACHE/${p}_*.deb" >/dev/null || (cd "$CORPUS_CACHE" && apt-get download "$p" >/dev/null 2>&1) ||
        { echo "run-headerless: apt-get download $p failed" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/dkms-hless.XXXXXX)
# not under /tmp, /var/tmp or /run, which the build sandbox replaces with empty ones
BIN=$(mktemp -d /var/cache/dkms-hless-bin.XXXXXX)
chmod 755 "$BIN"
FX_HTTP_PID=
cleanup() {
    [[ -n $FX_HTTP_PID ]] && kill "$FX_HTTP_PID" 2>/dev/null
    rm -rf "$BIN"
    if [[ ${HEADERLESS_KEEP:-} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# The toolchain wrappers: logged in BIN/calls; they fail while BIN/mode says "fail".
fx_tool_wrappers "$BIN" "$BIN/calls" "$BIN/mode" make gcc gcc-12 cc cpp ld
echo pass >"$BIN/mode"
FX_PATH="$BIN:/usr/sbin:/usr/bin:/sbin:/bin"
FX_TIMEOUT=600

# Packages: directory names, module/version, .ko names.
mkdir -p "$WORK/pkgs"
cp -r "$REPO/examples/hello-dkms" "$WORK/pkgs/hello-dkms-1.0"
for p in "${CORPUS_PKGS[@]}"; do
    deb=$(find "$CORPUS_CACHE" -maxdepth 1 -name "${p}_*.deb" | sort -V | tail -1)
    dpkg-deb -x "$deb" "$WORK/deb"
done
cp -r "$WORK/deb/usr/src/"* "$WORK/pkgs/"
conf_value() { sed -n "s/^$2=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$1/dkms.conf" | head -1; }
declare -A KO=()
MODULES=() PKGDIRS=()
for d in "$WORK/pkgs"/*/; do
    d=${d%/}
    n=$(conf_value "$d" PACKAGE_NAME); v=$(conf_value "$d" PACKAGE_VERSION)
    ko=$(conf_value "$d" 'BUILT_MODULE_NAME\[0\]'); ko=${ko//\$PACKAGE_NAME/$n}
    MODULES+=("$n/$v"); PKGDIRS+=("${d##*/}"); KO[$n/$v]=$ko
done
# A module the fleet never builds.
cp -r "$REPO/examples/hello-dkms" "$WORK/pkgs-extra"
sed -i 's/^PACKAGE_NAME=.*/PACKAGE_NAME="hless-extra"/' "$WORK/pkgs-extra/dkms.conf"

# The module signing key of the clients (sign-file makes the reference with it).
openssl req -new -x509 -nodes -days 36500 -subj "/CN=headerless test" -newkey rsa:2048 \
    -keyout "$WORK/mok.key" -outform DER -out "$WORK/mok.der" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$WORK/other.key" 2>/dev/null

passed=0 failed=0
check() { # check NAME COMMAND...: one line per check (with the last dkms stderr on failure)
    local name=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok    $name"
    else failed=$((failed + 1)); echo "FAIL  $name"; sed 's/^/      | /' "$WORK/err" 2>/dev/null | head -20 || true; fi
}

M=$WORK/m
# new_machine NAME: sources in pk; the exporters (X, Y, H...) get K/build, clients only K/kernel.
new_machine() {
    local k
    mkdir -p "$M/etc/cache-keys"
    cp -r "$WORK/pkgs"/* "$M/pk/"
    cp -r "$WORK/pkgs-extra" "$M/pk/hless-extra-1.0"
    for k in "${KERNELS[@]}"; do
        mkdir -p "$M/i/$k/kernel"
        case $1 in
            X|H) ln -s "/lib/modules/$k/build" "$M/i/$k/build" ;;
            Y) if [[ $k == "$K0" ]]; then ln -s "$WORK/hdr-other" "$M/i/$k/build"; fi ;;
        esac
    done
}
machine() { fx_machine "$WORK" "$1" new_machine; }
RC=0
dk() { RC=0; fx_dkms "$@" >"$WORK/out" 2>"$WORK/err" || RC=$?; }
add_all() { local d; for d in "${PKGDIRS[@]}"; do dk add "$M/pk/$d"; done; }

# client NAME SHARED: a machine without headers that trusts the fleet key, signs with openssl.
client() {
    machine "$1"
    cp "$WORK/fleet.pub" "$M/etc/cache-keys/fleet.pub"
    echo "build_cache_shared=\"$2\"" >"$M/etc/framework.conf"
    add_all
}
FX_SIGN=(try_sign_modules=true sign_file=/nonexistent mok_signing_key="$WORK/mok.key" mok_certificate="$WORK/mok.der")

# --- Exporter X: real builds for every kernel, then the export.
machine X
dk cache keygen "$M/etc/cache-signing"
cp "$M/etc/cache-signing.pub" "$WORK/fleet.pub"
add_all
t0=$SECONDS
dk autoinstall --all-kernels
check "exporter: autoinstall --all-kernels builds ${#MODULES[@]} modules for ${#KERNELS[@]} kernels (${KERNELS[*]}, $((SECONDS - t0)) s)" \
    test "$RC" = 0 -a "$(find "$M/i" -path '*/updates/dkms/*.ko' | wc -l)" = $((${#MODULES[@]} * ${#KERNELS[@]}))
check "exporter: make ran" grep -q '^make ' "$BIN/calls"
dk cache export "$WORK/srv/good"
n_records=$(find "$WORK/srv/good/identities" -name '*.sig' 2>/dev/null | wc -l)
check "export publishes a signed lookup record per build ($n_records)" test "$n_records" = $((${#MODULES[@]} * ${#KERNELS[@]}))
fx_http_serve "$WORK/srv" "$WORK/http.log"
URL=$FX_HTTP_URL/good

# --- Exporter Y: the same release, headers of another build (UTS_VERSION changed).
cp -a "$(readlink -f "/lib/modules/$K0/build")" "$WORK/hdr-other"
ln -sfn "$(readlink -f "/lib/modules/$K0/build/scripts")" "$WORK/hdr-other/scripts"
[[ ! -L $WORK/hdr-other/tools ]] || ln -sfn "$(readlink -f "/lib/modules/$K0/build/tools")" "$WORK/hdr-other/tools"
BANNER=$(sed -n 's/^#define UTS_VERSION "\(.*\)"$/\1/p' "$WORK/hdr-other/include/generated/utsversion.h")
sed -i 's/^#define UTS_VERSION ".*"$/#define UTS_VERSION "#2 SMP PREEMPT_DYNAMIC Debian 6.1.999-1 (2026-12-01)"/' \
    "$WORK/hdr-other/include/generated/utsversion.h"
machine Y
cp "$WORK/machines/X/etc/cache-signing."* "$M/etc/"
dk add "$M/pk/hello-dkms-1.0"
dk build hello-dkms/1.0 -k "$K0"
dk cache export "$WORK/srv/otherbanner"
check "exporter Y (another banner) exports a record for $K0" grep -qr '6.1.999-1' "$WORK/srv/otherbanner/identities"

# --- Clients: no headers, no toolchain.
echo fail >"$BIN/mode"
: >"$BIN/calls"
# (a build adopted from the fleet keeps the exporter's make.log, with its pass-mode lines)
no_toolchain() { [[ ! -s $BIN/calls ]] && ! grep -rqsF 'fx-wrapper[fail]' "$M/d" --include=make.log; }
says_origin() { # says_origin K: one "has no headers here" line per module, naming the URL
    local m
    for m in "${MODULES[@]}"; do
        grep -q "^Kernel $1 has no headers here: $m comes from the shared cache $FX_HTTP_URL/good (entry [0-9a-f]*, found by the kernel's identity, $BANNER)\.\$" "$WORK/out" ||
            { echo "      | no origin line for $m in:"; sed 's/^/      | /' "$WORK/out" | head -5; return 1; }
    done
}
# signed_like_sign_file K: each installed module has vermagic K, a signature, and equals
# sign-file's signature (same key) of the exporter's module.
signed_like_sign_file() {
    local k=$1 m f ref
    for m in "${MODULES[@]}"; do
        f=$M/i/$k/updates/dkms/${KO[$m]}.ko
        [[ -f $f ]] || { echo "      | $f missing"; return 1; }
        [[ $(modinfo -F vermagic "$f") == "$k "* ]] || { echo "      | $f: vermagic $(modinfo -F vermagic "$f")"; return 1; }
        [[ $(modinfo -F signer "$f") == "headerless test" ]] || { echo "      | $f: signer '$(modinfo -F signer "$f")'"; return 1; }
        ref=$WORK/ref-$k-${KO[$m]}.ko
        cp "$WORK/machines/X/d/$m/$k/$ARCH/module/${KO[$m]}.ko" "$ref"
        "$SIGN_FILE" sha256 "$WORK/mok.key" "$WORK/mok.der" "$ref"
        cmp -s "$f" "$ref" || { echo "      | $f differs from sign-file's"; return 1; }
    done
}
json_origin() { # json_origin K: every module's origin names the shared location and a lookup
    fx_dkms status --json -k "$1" >"$WORK/json" 2>/dev/null
    [[ $(jq --arg k "$1" --arg u "$FX_HTTP_URL/good" '[.entries[] | select(.kernel == $k and .state == "installed"
        and .origin.from_cache and .origin.shared_location == $u and (.origin.lookup | test("^[0-9a-f]{64}$")))] | length' "$WORK/json") \
        == "${#MODULES[@]}" ]]
}
for spec in "A autoinstall -k" "B kernel_postinst -k"; do
    read -r name cmd opt <<<"$spec"
    client "$name" "$URL"
    for k in "${KERNELS[@]}"; do
        FX_ENV=("${FX_SIGN[@]}")
        [[ $cmd == kernel_postinst ]] && FX_ENV+=(DKMS_KERNEL_HOOK=postinst)
        t0=$(date +%s%N)
        dk "$cmd" "$opt" "$k"
        ms=$((($(date +%s%N) - t0) / 1000000))
        FX_ENV=()
        BANNER=$(sed -n 's/^#define UTS_VERSION "\(.*\)"$/\1/p' "/lib/modules/$k/build/include/generated/utsversion.h")
        check "$name: $cmd -k $k exits 0 with no headers ($ms ms)" test "$RC" = 0 -a ! -e "$M/i/$k/build"
        check "$name $k: no make, compiler or linker called" no_toolchain
        check "$name $k: each module says it came from the fleet by the kernel's identity" says_origin "$k"
        check "$name $k: installed, vermagic $k, signed by openssl = sign-file's bytes" signed_like_sign_file "$k"
        check "$name $k: status --json origin has the shared location and the lookup" json_origin "$k"
    done
done

# --- Client C: one `autoinstall --all-kernels` takes every kernel with an image in /boot.
every_kernel_installed() {
    local k n
    for k in "${KERNELS[@]}"; do
        n=$(find "$M/i/$k/updates" -name '*.ko' 2>/dev/null | wc -l)
        [[ $n == "${#MODULES[@]}" ]] || { echo "      | $k: $n modules installed"; return 1; }
    done
}
client C "$URL"
FX_ENV=("${FX_SIGN[@]}"); dk autoinstall --all-kernels; FX_ENV=()
check "C: autoinstall --all-kernels exits 0 with no headers: ${#MODULES[@]} modules for each of ${#KERNELS[@]} kernels" \
    eval '[[ $RC == 0 ]] && every_kernel_installed'
check "C: no make, compiler or linker called" no_toolchain
check "C $K0: installed, vermagic $K0, signed by openssl = sign-file's bytes" signed_like_sign_file "$K0"

# --- Client D: `build` alone takes the fleet's build (built, not installed), `install` then
# installs it.
client D "$URL"
FX_ENV=("${FX_SIGN[@]}"); dk build hello-dkms/1.0 -k "$K0"; FX_ENV=()
check "D: build -k $K0 with no headers: exit 0, built from the fleet, nothing installed" \
    eval '[[ $RC == 0 ]] && grep -q "comes from the shared cache $URL " "$WORK/out" &&
        fx_dkms status hello-dkms/1.0 -k "$K0" 2>/dev/null | grep -qx "hello-dkms/1.0, $K0, $ARCH: built" &&
        [[ ! -e $M/i/$K0/updates/dkms/hello_dkms.ko ]]'
FX_ENV=("${FX_SIGN[@]}"); dk install hello-dkms/1.0 -k "$K0"; FX_ENV=()
check "D: then install -k $K0: exit 0, installed" \
    eval '[[ $RC == 0 && -f $M/i/$K0/updates/dkms/hello_dkms.ko ]] &&
        fx_dkms status hello-dkms/1.0 -k "$K0" 2>/dev/null | grep -qx "hello-dkms/1.0, $K0, $ARCH: installed"'
check "D: no make, compiler or linker called" no_toolchain

# upstream's error for a kernel without headers, on the active machine
upstream_headers_error() {
    printf '\nError! Your kernel headers for kernel %s cannot be found at %s/i/%s/build or %s/i/%s/source.\nPlease install your distribution'"'"'s kernel headers package matching %s, or use the --kernelsourcedir option to tell DKMS where it'"'"'s located.\n' \
        "$K0" "$M" "$K0" "$M" "$K0" "$K0"
}

# --- Client E: build_cache="no" turns the fleet off too: upstream's error, unchanged.
client E "$URL"
echo 'build_cache="no"' >>"$M/etc/framework.conf"
dk install hello-dkms/1.0 -k "$K0"
check "E: build_cache=no on a client: upstream's headers error, unchanged (exit $RC), nothing looked up" \
    eval '[[ $RC == 21 ]] && cmp -s "$WORK/err" <(upstream_headers_error) && [[ ! -e $M/d/.cache ]] && no_toolchain'

# --- Client F: BUILD_CACHE=no in /etc/dkms/hello-dkms.conf: that module fails with the line that
# says why; the others still come from the fleet.
client F "$URL"
echo 'BUILD_CACHE=no' >"$M/etc/hello-dkms.conf"
FX_ENV=("${FX_SIGN[@]}"); dk autoinstall -k "$K0"; FX_ENV=()
check "F: BUILD_CACHE=no for hello on a client: exit $RC, one line why, the other $((${#MODULES[@]} - 1)) installed" \
    eval '[[ $RC == 11 && $(grep -c "^Error! hello-dkms/1.0 " "$WORK/err") == 1 ]] &&
        grep -qxF "Error! hello-dkms/1.0 cannot come from the shared module caches (BUILD_CACHE=no in $M/etc/hello-dkms.conf) and kernel $K0 has no headers here: install linux-headers-$K0 to build it here." "$WORK/err" &&
        [[ ! -e $M/i/$K0/updates/dkms/hello_dkms.ko && $(find "$M/i/$K0/updates" -name "*.ko" | wc -l) == $((${#MODULES[@]} - 1)) ]] && no_toolchain'

# --- Client G: revoking the fleet key (removing its .pub) keeps what G adopted before (the
# local cache is not checked against the keys again) until `dkms cache prune 0` empties it;
# then the fleet's builds are refused (docs/cache.md).
client G "$URL"
reinstall_hello() {
    dk remove hello-dkms/1.0 --all; dk add "$M/pk/hello-dkms-1.0"
    FX_ENV=("${FX_SIGN[@]}"); dk install hello-dkms/1.0 -k "$K0"; FX_ENV=()
}
FX_ENV=("${FX_SIGN[@]}"); dk install hello-dkms/1.0 -k "$K0"; FX_ENV=()
check "G: installed from the fleet (exit $RC)" eval '[[ $RC == 0 ]] && grep -q "comes from the shared cache $URL " "$WORK/out"'
rm "$M/etc/cache-keys/fleet.pub"
reinstall_hello
check "G: fleet key revoked: what G adopted is still installed, from its local cache (exit $RC)" \
    eval '[[ $RC == 0 && -f $M/i/$K0/updates/dkms/hello_dkms.ko ]] && grep -q "comes from the local cache" "$WORK/out"'
dk cache prune 0
reinstall_hello
check "G: after cache prune 0, the revoked key's builds are refused: exit $RC, nothing installed" \
    eval '[[ $RC == 21 && ! -e $M/i/$K0/updates/dkms/hello_dkms.ko ]] && grep -q "which is not trusted" "$WORK/err"'
check "G: no make, compiler or linker called" no_toolchain

# --- Refusals: client R, hello only, kernel K0.
BANNER=$(sed -n 's/^#define UTS_VERSION "\(.*\)"$/\1/p' "/lib/modules/$K0/build/include/generated/utsversion.h")
HELLO_LOOKUP=$(grep -l "^target hello-dkms 1.0 $K0 $ARCH\$" "$WORK/srv/good/identities"/* | head -1)
HELLO_LOOKUP=${HELLO_LOOKUP##*/}
HELLO_ENTRY=$(sed -n 's/^entry //p' "$WORK/srv/good/identities/$HELLO_LOOKUP")
case_dir() { rm -rf "$WORK/srv/$1"; cp -a "$WORK/srv/good" "$WORK/srv/$1"; }
keyid() { openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | sha256sum | cut -c1-16; }
case_dir untrusted
r=$WORK/srv/untrusted/identities/$HELLO_LOOKUP
{ echo "swift-dkms cache signature 1"; echo "key $(keyid "$WORK/other.key")"
  echo "ed25519 $(openssl pkeyutl -sign -rawin -inkey "$WORK/other.key" -in "$r" | base64 -w0)"; } >"$r.sig"
case_dir record
sed -i "s/^kernel \([0-9a-f]*\) .*/kernel \1 #9 SMP Edited/" "$WORK/srv/record/identities/$HELLO_LOOKUP"
case_dir module
ko=$WORK/srv/module/entries/$HELLO_ENTRY/modules/hello_dkms.ko
printf '\x5a' | dd of="$ko" bs=1 seek=300 conv=notrunc status=none

# The one line of a refusal: exit 21, "No build of MODULE ... in the shared module caches", with
# "(refused: SHARED: ...REASON...)" when the fleet had an entry that was refused.
NO_BUILD_HEAD="Error! No build of %s for kernel $K0 ($BANNER, $ARCH) in the shared module caches"
NO_BUILD_TAIL=", and no kernel headers to build it: install linux-headers-$K0 to build it here."
refused_cleanly() { # refused_cleanly MODULE SHARED REASON
    local mod=$1 shared=$2 reason=$3 lines line head
    lines=$(grep -c . "$WORK/err" || true)
    line=$(grep . "$WORK/err" | head -1)
    # shellcheck disable=SC2059 # the head is the format
    head=$(printf "$NO_BUILD_HEAD" "$mod")
    [[ $RC == 21 ]] || { echo "      | exit $RC, not 21"; return 1; }
    [[ $lines == 1 ]] || { echo "      | $lines lines on stderr, not 1"; return 1; }
    if [[ -z $reason ]]; then
        [[ $line == "$head$NO_BUILD_TAIL" ]] || { echo "      | not the expected line: $head$NO_BUILD_TAIL"; return 1; }
    else
        [[ $line == "$head (refused: $shared: "*"$reason"*")$NO_BUILD_TAIL" ]] ||
            { echo "      | not the expected line: $head (refused: $shared: ...$reason...)$NO_BUILD_TAIL"; return 1; }
    fi
    [[ -z $(find "$M/i/$K0" -path "$M/i/$K0/kernel" -prune -o -type f -print) ]] || { echo "      | files under $M/i/$K0"; return 1; }
    ! fx_dkms status "$mod" -k "$K0" 2>/dev/null | grep -q installed || { echo "      | status says installed"; return 1; }
    [[ -z $(find "$M/d/.cache" -name '.staging*' -o -name '*.tmp*' -o -name '*.dkms-new*' 2>/dev/null) ]] ||
        { echo "      | staging left in the cache"; return 1; }
}
refusal() { # refusal NAME SHARED MODULE REASON: client R installs MODULE for K0 from SHARED
    local name=$1 shared=$2 mod=$3 reason=$4
    rm -rf "$WORK/machines/R"; [[ $FX_MACHINE == R ]] && { rm -rf "$M"; FX_MACHINE=; }
    client R "$shared"
    dk add "$M/pk/hless-extra-1.0"
    FX_ENV=("${FX_SIGN[@]}")
    dk install "$mod" -k "$K0"
    FX_ENV=()
    check "$name: exit 21, one line, nothing installed ($(grep . "$WORK/err" | head -1 | cut -c1-60)...${reason:+ $reason})" \
        refused_cleanly "$mod" "$shared" "$reason"
    check "$name: no make, compiler or linker called" no_toolchain
}
refusal "a record of another build of $K0 (exporter Y)" "$FX_HTTP_URL/otherbanner" hello-dkms/1.0 ""
refusal "a record signed by an untrusted key" "$FX_HTTP_URL/untrusted" hello-dkms/1.0 "which is not trusted"
refusal "a record edited after signing" "$FX_HTTP_URL/record" hello-dkms/1.0 "its text does not match the signature"
refusal "a module byte changed in the entry" "$FX_HTTP_URL/module" hello-dkms/1.0 "modules/hello_dkms.ko does not match its digest"
refusal "a module the fleet does not have" "$URL" hless-extra/1.0 ""
# A refused location, then the good one: installed from the good one, the refusal one warning.
rm -rf "$WORK/machines/R"; [[ $FX_MACHINE == R ]] && { rm -rf "$M"; FX_MACHINE=; }
client R "$FX_HTTP_URL/module $URL"
FX_ENV=("${FX_SIGN[@]}"); dk install hello-dkms/1.0 -k "$K0"; FX_ENV=()
check "a refused location, then a good one: installed from the good one, the refusal one warning" \
    eval '[[ $RC == 0 && -f $M/i/$K0/updates/dkms/hello_dkms.ko && $(grep -c . "$WORK/err") == 1 ]] &&
        grep -q "from the shared cache $FX_HTTP_URL/module refused: modules/hello_dkms.ko does not match its digest; trying the next shared cache\.\$" "$WORK/err" &&
        grep -q "comes from the shared cache $URL " "$WORK/out"'

# A module the fleet lacks fails alone: autoinstall installs the others (exit 11, upstream's
# status for a failed autoinstall), the kernel hook too and succeeds (nothing needed to boot).
for spec in "autoinstall 11" "kernel_postinst 0"; do
    read -r cmd want <<<"$spec"
    rm -rf "$WORK/machines/R"; [[ $FX_MACHINE == R ]] && { rm -rf "$M"; FX_MACHINE=; }
    client R "$URL"
    dk add "$M/pk/hless-extra-1.0"
    FX_ENV=("${FX_SIGN[@]}"); [[ $cmd == kernel_postinst ]] && FX_ENV+=(DKMS_KERNEL_HOOK=postinst)
    dk "$cmd" -k "$K0"; FX_ENV=()
    check "$cmd -k $K0 with a module the fleet lacks: exit $RC, the other ${#MODULES[@]} installed, its one error line" \
        eval '[[ $RC == "$want" && $(find "$M/i/$K0/updates" -name "*.ko" | wc -l) == "${#MODULES[@]}" &&
            $(grep -c "^Error! No build of hless-extra/1.0 for kernel $K0 " "$WORK/err") == 1 ]] && no_toolchain'
done

# --- Headers present: nothing changes. No shared cache: upstream's error.
echo pass >"$BIN/mode"; : >"$BIN/calls"
machine H
cp "$WORK/fleet.pub" "$M/etc/cache-keys/fleet.pub"
echo "build_cache_shared=\"$URL\"" >"$M/etc/framework.conf"
dk add "$M/pk/hless-extra-1.0"
dk install hless-extra/1.0 -k "$K0"
check "headers present, a module the fleet lacks: built (make ran), installed, no 'has no headers' line" \
    eval '[[ $RC == 0 ]] && grep -q "^make " "$BIN/calls" && [[ -f $M/i/$K0/updates/dkms/hello_dkms.ko ]] && ! grep -q "has no headers" "$WORK/out" "$WORK/err"'
echo fail >"$BIN/mode"; : >"$BIN/calls"
machine N
dk add "$M/pk/hello-dkms-1.0"
dk install hello-dkms/1.0 -k "$K0"
check "no build_cache_shared: upstream's headers error, unchanged (exit $RC)" \
    eval '[[ $RC == 21 ]] && cmp -s "$WORK/err" <(upstream_headers_error) && no_toolchain'

# --- QEMU: the adopted, openssl-signed module loads in kernel K0.
if [[ ${HEADERLESS_SKIP_VM:-} != 1 ]]; then
    "$HERE/headerless-vm.sh" "$K0" "$WORK/machines/A/i/$K0/updates/dkms/hello_dkms.ko" "$WORK/vm" >"$WORK/vm.out" 2>&1 && vm=0 || vm=$?
    check "QEMU: $K0 insmods the adopted module signed by openssl, key not enrolled: loads tainted ($(tail -1 "$WORK/vm.out"))" test "$vm" = 0
fi

echo "$passed passed, $failed failed ($((SECONDS - started)) s)"
exit $((failed > 0))
