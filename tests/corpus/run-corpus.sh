#!/bin/bash
# Conformance run of a dkms implementation over real Debian DKMS packages.
#
# Usage: tests/corpus/run-corpus.sh DKMS_BINARY KERNEL_VERSION [PACKAGE...]
#
# For each package of the corpus list (default: all of them) this script
#   - fetches the .deb with `apt-get download` (cached) and unpacks it with `dpkg-deb -x`,
#   - runs `add`, `build -k`, `install -k` against private --dkmstree/--sourcetree/--installtree
#     trees in a temp dir (the package is never installed; this script never writes
#     /var/lib/dkms, /usr/src or /lib/modules, and warns on stderr if the dkms under test did),
#   - checks the number of installed .ko files under INSTALLTREE/KVER/updates/dkms against the
#     ko_files column, and that `status` shows "NAME/VERSION, KVER, ARCH: installed",
#   - runs `remove NAME/VERSION --all` and checks that no .ko is left, DKMSTREE/NAME is gone and
#     `status` no longer mentions the module.
# It prints "PASS name (n .ko)" or "FAIL name: reason" per package, then "N passed, M failed",
# and exits 1 if anything failed.
#
# Environment:
#   CORPUS_CACHE    where .deb files are downloaded/reused (default /var/cache/swift-dkms-corpus)
#   CORPUS_TSV      package list (default: packages.tsv next to this script, else
#                   /work/shared/corpus/packages.tsv); columns: package version ko_files expected
#   CORPUS_TIMEOUT  seconds allowed for each dkms invocation (default 1800)
#   CORPUS_KEEP=1   keep the temp dir (trees and logs) for inspection

set -u

# Packages needed to build the corpus, installed once and only if missing. None of the corpus
# modules needs userspace headers or a PRE_BUILD tool (jool/xtables-addons Depend on
# libxtables12/xtables-addons-common only for their userspace parts), so this is the toolchain:
#   make, gcc-12  kbuild; gcc-12 is the compiler the Debian 12 kernel was built with
#                 (CONFIG_CC_VERSION_TEXT); dkms.conf MAKE lines call make directly
#   libelf-dev    declared Depends of dpdk-kmods-dkms
#   kmod          modinfo/depmod, called by dkms itself
BUILD_DEPS=(make gcc-12 libelf-dev kmod)

die() { echo "run-corpus: $*" >&2; exit 2; }

[[ $# -ge 2 ]] || die "usage: $0 DKMS_BINARY KERNEL_VERSION [PACKAGE...]"
DKMS=$(readlink -f -- "$1") || die "cannot resolve $1"
KVER=$2
shift 2
[[ -x $DKMS ]] || die "$DKMS is not executable"

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -n ${CORPUS_TSV:-} ]]; then
    TSV=$CORPUS_TSV
elif [[ -f $script_dir/packages.tsv ]]; then
    TSV=$script_dir/packages.tsv
else
    TSV=/work/shared/corpus/packages.tsv
fi
[[ -r $TSV ]] || die "package list $TSV not readable"
CACHE=${CORPUS_CACHE:-/var/cache/swift-dkms-corpus}
TIMEOUT=${CORPUS_TIMEOUT:-1800}
ARCH=$(uname -m)

# The real kernel headers; the private install tree points I/KVER/build at them.
HEADERS=$(readlink -f "/lib/modules/$KVER/build")
[[ -d $HEADERS/include ]] || die "no kernel headers for $KVER (/lib/modules/$KVER/build)"

# --- build dependencies --------------------------------------------------------------------
missing=()
for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "Installing build dependencies: ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=1200 "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
fi

# --- work dir, cleaned up on exit ----------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkms-corpus.XXXXXX") || die "mktemp failed"
chmod 755 "$WORK"   # sandboxed builds run as an unprivileged user that must reach the trees
cleanup() {
    if [[ ${CORPUS_KEEP:-} = 1 ]]; then
        echo "run-corpus: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$CACHE" || die "cannot create $CACHE"

# --- package list --------------------------------------------------------------------------
declare -A WANT_VER WANT_KO
ORDER=()
while IFS=$'\t' read -r pkg ver ko _; do
    [[ -z $pkg || $pkg = package || $pkg = \#* ]] && continue
    WANT_VER[$pkg]=$ver WANT_KO[$pkg]=$ko
    ORDER+=("$pkg")
done < "$TSV"
if (($# > 0)); then
    for p in "$@"; do [[ -n ${WANT_KO[$p]:-} ]] || die "$p is not in $TSV"; done
    ORDER=("$@")
fi

# --- helpers -------------------------------------------------------------------------------

# Print the cached .deb of package $1, preferring version $2; fails if none is cached.
cached_deb() {
    local f best=
    for f in "$CACHE/$1"_*.deb; do
        [[ -f $f && $(dpkg-deb -f "$f" Package 2>/dev/null) = "$1" ]] || continue
        best=$f
        [[ $(dpkg-deb -f "$f" Version) = "$2" ]] && break
    done
    [[ -n $best ]] && echo "$best"
}

# Download package $1 (version $2 if the archive still has it) into the cache.
fetch_deb() {
    local deb
    if deb=$(cached_deb "$1" "$2") && [[ $(dpkg-deb -f "$deb" Version) = "$2" ]]; then
        echo "$deb"; return 0
    fi
    (
        cd "$CACHE" || exit 1
        apt_dl() { apt-get -q -o APT::Sandbox::User=root download "$@" >/dev/null 2>&1; }
        apt_dl "$1=$2" || apt_dl "$1" \
            || { apt-get -q update >/dev/null 2>&1; apt_dl "$1=$2" || apt_dl "$1"; }
    )
    cached_deb "$1" "$2"
}

# Run the dkms binary with a clean environment (PATH passed through), private trees and a
# per-step log; stdout+stderr go to $LOG (appended) and to $OUT (this step only).
dk() {
    echo "+ dkms $*" >> "$LOG"
    env -i PATH="$PATH" HOME="${HOME:-/root}" TMPDIR="$T/tmp" \
        timeout "$TIMEOUT" "$DKMS" "$@" \
        --dkmstree "$T/D" --sourcetree "$T/S" --installtree "$T/I" \
        < /dev/null > "$OUT" 2>&1
    local rc=$?
    cat "$OUT" >> "$LOG"
    echo "+ exit $rc" >> "$LOG"
    return $rc
}

# Count .ko files (plain or compressed) below $1.
count_ko() {
    [[ -d $1 ]] || { echo 0; return; }
    find "$1" \( -name '*.ko' -o -name '*.ko.*' \) \( -type f -o -type l \) | wc -l
}

# Print a failure with the tail of the last dkms output; with a second argument also the tail
# of make.log (upstream leaves it at D/NAME/VERSION/build/make.log when a build fails, and
# moves it to D/NAME/VERSION/KVER/ARCH/log/make.log when it succeeds).
fail() {
    local f
    echo "FAIL $PKG: $1"
    if [[ -s $OUT ]]; then
        echo "  --- dkms output (tail) ---"
        tail -n 15 "$OUT" | sed 's/^/  | /'
    fi
    if [[ -n ${2:-} && -n ${NAME:-} && -d $T/D/$NAME ]]; then
        f=$T/D/$NAME/$VERSION/build/make.log
        [[ -f $f ]] || f=$(find "$T/D/$NAME" -name make.log -print -quit 2>/dev/null)
        if [[ -n $f && -f $f ]]; then
            echo "  --- ${f#"$T"/} (tail) ---"
            tail -n 30 "$f" | sed 's/^/  | /'
        fi
    fi
    return 1
}

# Full add/build/install/status/remove cycle for package $PKG. Returns non-zero on failure.
run_one() {
    local deb conf srcdirs n st
    NAME='' VERSION=''
    deb=$(fetch_deb "$PKG" "${WANT_VER[$PKG]}") || { fail "apt-get download failed"; return; }

    # Fresh scratch area: extracted package, dkms trees, private tmp.
    T=$WORK/$PKG
    rm -rf "$T"
    mkdir -p "$T/root" "$T/D" "$T/S" "$T/I/$KVER" "$T/tmp"
    ln -s "$HEADERS" "$T/I/$KVER/build"
    LOG=$T/dkms.log OUT=$T/out
    : > "$OUT"
    dpkg-deb -x "$deb" "$T/root" || { fail "dpkg-deb -x $deb failed"; return; }

    srcdirs=("$T"/root/usr/src/*/)
    [[ ${#srcdirs[@]} -eq 1 && -f ${srcdirs[0]}dkms.conf ]] \
        || { fail "expected exactly one usr/src/*/dkms.conf in $(basename "$deb")"; return; }
    conf=${srcdirs[0]}dkms.conf

    # Module name/version as dkms sees them (dkms.conf is shell; it may test the kernel config).
    read -r NAME VERSION < <(
        set +u
        # shellcheck disable=SC2034  # variables dkms.conf files refer to
        kernelver=$KVER kernel_source_dir=$HEADERS dkms_tree=$T/D source_tree=$T/S
        # shellcheck disable=SC1090
        . "$conf" > /dev/null 2>&1
        echo "$PACKAGE_NAME $PACKAGE_VERSION"
    )
    [[ -n $NAME && -n $VERSION ]] || { fail "cannot read PACKAGE_NAME/PACKAGE_VERSION from $conf"; return; }

    dk add "${srcdirs[0]%/}" || { fail "add failed (exit $?)"; return; }
    dk build "$NAME/$VERSION" -k "$KVER" || { fail "build failed (exit $?)" makelog; return; }
    dk install "$NAME/$VERSION" -k "$KVER" || { fail "install failed (exit $?)"; return; }

    n=$(count_ko "$T/I/$KVER/updates/dkms")
    KO=$n
    [[ $n = "${WANT_KO[$PKG]}" ]] \
        || { fail "$n .ko under updates/dkms, expected ${WANT_KO[$PKG]}" makelog; return; }
    st=$(count_ko "$T/I/$KVER")
    [[ $st = "$n" ]] || { fail "$((st - n)) .ko installed outside updates/dkms"; return; }

    dk status || { fail "status failed (exit $?)"; return; }
    grep -qxF "$NAME/$VERSION, $KVER, $ARCH: installed" "$OUT" \
        || { fail "status does not show '$NAME/$VERSION, $KVER, $ARCH: installed'"; return; }

    dk remove "$NAME/$VERSION" --all || { fail "remove failed (exit $?)"; return; }
    n=$(count_ko "$T/I/$KVER")
    [[ $n = 0 ]] || { fail "$n .ko left under installtree after remove"; return; }
    [[ ! -e $T/D/$NAME ]] || { fail "dkmstree/$NAME still exists after remove"; return; }
    dk status || { fail "status after remove failed (exit $?)"; return; }
    ! cut -d/ -f1 "$OUT" | grep -qxF "$NAME" || { fail "status still lists $NAME after remove"; return; }
    return 0
}

# Warn (stderr) if anything outside the private trees was written during a package's run,
# e.g. depmod on the real /lib/modules/KVER or a signing key in /var/lib/dkms.
check_outside() {
    local hits
    hits=$(find /var/lib/dkms /usr/src /lib/modules/"$KVER" -maxdepth 1 -newer "$WORK/stamp" \
        2>/dev/null | tr '\n' ' ')
    [[ -z $hits ]] || echo "WARN $PKG: modified outside the private trees: $hits" >&2
}

# --- main loop -----------------------------------------------------------------------------
passed=0 failed=0
for PKG in "${ORDER[@]}"; do
    start=$SECONDS
    KO=0
    touch "$WORK/stamp"
    if run_one; then
        echo "PASS $PKG ($KO .ko)"
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
    check_outside
    echo "# $PKG: $((SECONDS - start))s" >&2
    [[ ${CORPUS_KEEP:-} = 1 ]] || rm -rf "${WORK:?}/$PKG"
done

echo "$passed passed, $failed failed"
((failed == 0))
