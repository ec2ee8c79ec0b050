#!/bin/bash
# Benchmarks `dkms autoinstall` of swift-dkms against upstream dkms 3.4.3 on the
# real Debian *-dkms packages of the corpus (/work/shared/corpus/packages.tsv),
# for several installed kernels, one autoinstall per kernel as the kernel
# postinst hooks do.
#
#   bench/autoinstall.sh [OURS_BINARY] [UPSTREAM_BINARY]
#
# OURS_BINARY defaults to .build/release/dkms (else .build/debug/dkms); it is
# copied into the work dir first, so a concurrent `swift build` cannot swap it
# in the middle of a measurement. UPSTREAM_BINARY defaults to
# /opt/upstream-dkms/bin/dkms.
#
# One measurement ("config" x run):
#   - fresh private trees D (dkms tree), S (source tree), I (install tree) with
#     I/KVER/build -> /lib/modules/KVER/build for every kernel;
#   - `dkms add DIR` for every corpus package, DIR being the package's unpacked
#     usr/src/NAME-VERSION (not timed);
#   - timed as a whole under /usr/bin/time -f '%e %U %S':
#         for K in KERNELS; do dkms autoinstall -k K [-j N] ...; done
#     %e is the wall time, %U + %S the CPU time of all (waited-for) children:
#     dkms itself, make, gcc, ld, modinfo, ...; the busy time of the whole
#     machine over the same interval (/proc/stat) minus that CPU time is
#     reported as "others": CPU taken by unrelated processes, which inflates
#     the wall time on a shared machine;
#   - check: for every kernel, the `dkms status` lines "NAME/VER, K, ARCH:
#     installed" plus the modules the autoinstall summary reports as skipped
#     (BUILD_EXCLUSIVE, status 77) must cover every package, and the .ko files
#     under I/K/updates/dkms must number the sum of ko_files of the installed
#     packages.
# Configs: "ours-onecall" (one `autoinstall --all-kernels` for the kernels of the
# private install tree: every kernel's builds at once), "ours" (default job budget: no -j, no parallel_jobs, one call
# per kernel), "ours-nosandbox" (as "ours" with build_sandbox=no: the sandbox's
# own cost is the difference), "ours-warm" and "ours-warm-onecall" (as "ours" and
# "ours-onecall", but the module cache is warm: before the timed part, untimed,
# every package is autoinstalled for every kernel, then removed with
# `remove --all` and added again, so the timed autoinstall finds every build in
# $dkms_tree/.cache; "ours" and "ours-onecall" start from an empty cache: cold),
# "ours-nocache" (as "ours" with build_cache=no: the cost of storing into the
# cache is the difference), "ours-jN" for every N of BENCH_OURS_JOBS (`-j N`
# on the command line) and "upstream" (its default: make -j$(nproc), modules one
# after another, one call per kernel).
#
# Every dkms runs with a clean environment (PATH, HOME, TMPDIR, and
# try_sign_modules=false so nothing is signed) and, when `unshare -m` works, in
# a private mount namespace where an empty directory is bound over /etc/dkms:
# the machine's framework.conf(.d) (e.g. try_sign_modules=true, which would
# override the environment in upstream, or parallel_jobs) cannot skew either
# tool. swift-dkms also gets SWIFT_DKMS_SYSCONFDIR pointing at that empty dir.
# Nothing outside the work dir is written (no depmod: I/K/modules.dep is absent).
#
# Environment:
#   BENCH_KERNELS    kernels (default: the newest ABI's -amd64, -cloud-amd64 and -rt-amd64 with headers)
#   BENCH_PACKAGES   only these corpus packages (e.g. "xtables-addons-dkms": one module for every kernel)
#   BENCH_RUNS       runs of each config (2)
#   BENCH_OURS_JOBS  extra budgets for ours, as `-j N` (default none, e.g. "4")
#   BENCH_CONFIGS    configs to run, in order within a run (default: ours-onecall ours upstream ours-nosandbox, then ours-jN)
#   BENCH_KEEP=1     keep the work dir (trees, logs)
#   CORPUS_CACHE     .deb cache shared with tests/corpus/run-corpus.sh
#                    (/var/cache/swift-dkms-corpus)
#   CORPUS_TSV       package list (tests/corpus/packages.tsv, else /work/shared/corpus/packages.tsv)
#   UPSTREAM_DKMS    upstream's script when no second argument is given
#
# Prints a log of each measurement on stderr and a Markdown results table on
# stdout. Exits 1 if any measurement failed its check.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

die() { echo "bench/autoinstall: $*" >&2; exit 2; }

if [[ ${1:-} = -h || ${1:-} = --help || $# -gt 2 ]]; then
    echo "usage: $0 [OURS_BINARY] [UPSTREAM_BINARY]" >&2
    exit 2
fi

# --- private mount namespace: hide the machine's /etc/dkms --------------------------------
if [[ -z ${BENCH_IN_NAMESPACE:-} ]]; then
    if [[ $(id -u) -eq 0 ]] && unshare -m --propagation private true 2>/dev/null; then
        BENCH_IN_NAMESPACE=1 exec unshare -m --propagation private "$0" "$@"
    fi
    echo "bench/autoinstall: warning: cannot unshare a mount namespace; the machine's" \
        "/etc/dkms configuration applies to upstream" >&2
    BENCH_IN_NAMESPACE=0
fi

# --- binaries ------------------------------------------------------------------------------
if [[ $# -ge 1 ]]; then
    ours_src=$1
elif [[ -x $repo/.build/release/dkms ]]; then
    ours_src=$repo/.build/release/dkms
else
    ours_src=$repo/.build/debug/dkms
fi
[[ -x $ours_src ]] || die "no dkms binary at $ours_src (swift build -c release)"
ours_src=$(realpath -e -- "$ours_src")
upstream=${2:-${UPSTREAM_DKMS:-/opt/upstream-dkms/bin/dkms}}
[[ -x $upstream ]] || die "upstream dkms not found at $upstream"
upstream=$(realpath -e -- "$upstream")

if [[ -z ${BENCH_KERNELS:-} ]]; then
    abi=$(ls /lib/modules | sed -n 's/^\(6\.1\.0-[0-9]*\)-amd64$/\1/p' | sort -V | tail -1)
    BENCH_KERNELS="$abi-amd64 $abi-cloud-amd64 $abi-rt-amd64"
fi
read -ra KERNELS <<<"$BENCH_KERNELS"
RUNS=${BENCH_RUNS:-2}
read -ra OURS_JOBS <<<"${BENCH_OURS_JOBS-}"
if [[ -n ${BENCH_CONFIGS:-} ]]; then
    read -ra CONFIGS <<<"$BENCH_CONFIGS"
else
    CONFIGS=(ours-onecall ours upstream ours-nosandbox)
    for j in "${OURS_JOBS[@]}"; do CONFIGS+=("ours-j$j"); done
fi
CORES=$(nproc)
ARCH=$(uname -m)

if [[ -n ${CORPUS_TSV:-} ]]; then
    TSV=$CORPUS_TSV
elif [[ -f $repo/tests/corpus/packages.tsv ]]; then
    TSV=$repo/tests/corpus/packages.tsv
else
    TSV=/work/shared/corpus/packages.tsv
fi
[[ -r $TSV ]] || die "package list $TSV not readable"
CACHE=${CORPUS_CACHE:-/var/cache/swift-dkms-corpus}

declare -A HEADERS
for k in "${KERNELS[@]}"; do
    HEADERS[$k]=$(readlink -f "/lib/modules/$k/build")
    [[ -d ${HEADERS[$k]}/include ]] || die "no kernel headers for $k (/lib/modules/$k/build)"
done

# --- tools: kbuild toolchain (as run-corpus.sh) and GNU time --------------------------------
missing=()
for p in make gcc-12 libelf-dev kmod time; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "Installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=1200 "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
fi
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing"

# --- work dir ------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkms-bench-autoinstall.XXXXXX") || die "mktemp failed"
chmod 755 "$WORK"   # sandboxed builds run as an unprivileged user that must reach the trees
cleanup() {
    if [[ ${BENCH_KEEP:-} = 1 ]]; then echo "bench/autoinstall: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/bin" "$WORK/etc" "$WORK/pkgs" "$CACHE" || die "cannot create work dirs"
cp -- "$ours_src" "$WORK/bin/dkms" || die "cannot copy $ours_src"
ours=$WORK/bin/dkms
if [[ $BENCH_IN_NAMESPACE = 1 && -d /etc/dkms ]]; then
    mount --bind "$WORK/etc" /etc/dkms || die "mount --bind over /etc/dkms failed"
fi

rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
built=$(date -u -r "$ours_src" '+%Y-%m-%d %H:%M UTC')
head_date=$(TZ=UTC git -C "$repo" log -1 --format=%cd --date=format-local:'%Y-%m-%d %H:%M UTC' 2>/dev/null)
dirty=$(git -C "$repo" status --porcelain -- Sources Package.swift 2>/dev/null | head -c1)
[[ -n $dirty ]] && rev+=" (+ uncommitted Sources changes)"

# --- corpus: fetch (cached) and unpack once ------------------------------------------------
cached_deb() { # package version
    local f best=
    for f in "$CACHE/$1"_*.deb; do
        [[ -f $f && $(dpkg-deb -f "$f" Package 2>/dev/null) = "$1" ]] || continue
        best=$f
        [[ $(dpkg-deb -f "$f" Version) = "$2" ]] && break
    done
    [[ -n $best ]] && echo "$best"
}
fetch_deb() { # package version
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

PKGS=() SRCDIRS=()
declare -A KO NAMEOF
while IFS=$'\t' read -r pkg ver ko _; do
    [[ -z $pkg || $pkg = package || $pkg = \#* ]] && continue
    [[ -n ${BENCH_PACKAGES:-} && " $BENCH_PACKAGES " != *" $pkg "* ]] && continue
    deb=$(fetch_deb "$pkg" "$ver") || die "apt-get download $pkg failed"
    dpkg-deb -x "$deb" "$WORK/pkgs/$pkg" || die "dpkg-deb -x $deb failed"
    dirs=("$WORK/pkgs/$pkg"/usr/src/*/)
    [[ ${#dirs[@]} -eq 1 && -f ${dirs[0]}dkms.conf ]] || die "expected one usr/src/*/dkms.conf in $deb"
    name=$(
        set +u
        . "${dirs[0]}dkms.conf" >/dev/null 2>&1
        echo "$PACKAGE_NAME"
    )
    [[ -n $name ]] || die "no PACKAGE_NAME in ${dirs[0]}dkms.conf"
    PKGS+=("$pkg") SRCDIRS+=("${dirs[0]%/}")
    KO[$name]=$ko NAMEOF[$pkg]=$name
done <"$TSV"
((${#PKGS[@]})) || die "no packages in $TSV"

# --- one measurement -----------------------------------------------------------------------
# dk BINARY TREES_DIR ARGS...: a dkms run with a clean environment and private trees.
dk() {
    local bin=$1 t=$2
    shift 2
    env -i PATH="$PATH" HOME="${HOME:-/root}" TMPDIR="$t/tmp" try_sign_modules=false \
        SWIFT_DKMS_SYSCONFDIR="$WORK/etc" ${SANDBOX_SETTING:+build_sandbox=$SANDBOX_SETTING} \
        ${CACHE_SETTING:+build_cache=$CACHE_SETTING} \
        "$bin" "$@" --dkmstree "$t/D" --sourcetree "$t/S" --installtree "$t/I" </dev/null
}

declare -A WALL CPU USR SYS OK NOTE OTHERS
HZ=$(getconf CLK_TCK)
busy_seconds() { # CPU seconds the whole machine has been busy since boot
    awk -v hz="$HZ" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat
}
measure() { # config run
    local config=$1 run=$2 bin jobargs=() t k i rc line skipped inst ko want n status_out onecall=0 warm=0
    SANDBOX_SETTING= CACHE_SETTING=
    case $config in
        ours) bin=$ours ;;
        ours-onecall) bin=$ours onecall=1 ;;
        ours-warm) bin=$ours warm=1 ;;
        ours-warm-onecall) bin=$ours onecall=1 warm=1 ;;
        ours-nocache) bin=$ours CACHE_SETTING=no ;;
        ours-nosandbox) bin=$ours SANDBOX_SETTING=no ;;
        ours-j*) bin=$ours jobargs=(-j "${config#ours-j}") ;;
        upstream) bin=$upstream ;;
        *) die "unknown config $config" ;;
    esac
    t=$WORK/run-$config-$run
    rm -rf "$t"
    mkdir -p "$t/D" "$t/S" "$t/I" "$t/tmp"
    for k in "${KERNELS[@]}"; do
        mkdir -p "$t/I/$k"
        ln -s "${HEADERS[$k]}" "$t/I/$k/build"
    done
    for i in "${!PKGS[@]}"; do
        dk "$bin" "$t" add "${SRCDIRS[$i]}" >>"$t/add.log" 2>&1 \
            || { echo "  add ${PKGS[$i]} failed, see $t/add.log" >&2; OK[$config,$run]=no; return 1; }
    done
    if [[ $warm = 1 ]]; then
        # Untimed: fill the cache with every build, then start again from added modules.
        dk "$bin" "$t" autoinstall --all-kernels >"$t/warm-up.log" 2>&1
        for i in "${!PKGS[@]}"; do
            local dir name
            dir=$(basename "${SRCDIRS[$i]}") name=${NAMEOF[${PKGS[$i]}]}
            dk "$bin" "$t" remove "$name/${dir#"$name"-}" --all >>"$t/warm-up.log" 2>&1
            dk "$bin" "$t" add "${SRCDIRS[$i]}" >>"$t/warm-up.log" 2>&1 \
                || { echo "  re-add ${PKGS[$i]} failed, see $t/warm-up.log" >&2; OK[$config,$run]=no; return 1; }
        done
        echo "    warm-up: $(dk "$bin" "$t" cache stats | grep -E '^(entries|size):' | tr '\n' ' ')" >&2
    fi

    # The timed part: one autoinstall per kernel, one after the other.
    export -f dk
    export WORK PATH HOME SANDBOX_SETTING CACHE_SETTING
    local loadavg
    loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
    local busy0 busy1
    busy0=$(busy_seconds)
    /usr/bin/time -f '%e %U %S' -o "$t/time" bash -c '
        bin=$1 t=$2 onecall=$3 njobs=$4; shift 4
        jobargs=("${@:1:njobs}"); shift "$njobs"
        if [[ $onecall = 1 ]]; then
            # One autoinstall for every kernel of the install tree (--all-kernels,
            # not in upstream, which takes one -k).
            s=$(date +%s.%N)
            dk "$bin" "$t" autoinstall --all-kernels "${jobargs[@]}" >"$t/autoinstall.log" 2>&1
            rc=$? e=$(date +%s.%N)
            for k in "$@"; do cp "$t/autoinstall.log" "$t/autoinstall-$k.log"; echo "$k $rc $s $e" >>"$t/kernels"; done
            exit
        fi
        for k in "$@"; do
            s=$(date +%s.%N)
            dk "$bin" "$t" autoinstall -k "$k" "${jobargs[@]}" >"$t/autoinstall-$k.log" 2>&1
            echo "$k $? $s $(date +%s.%N)" >>"$t/kernels"
        done' bench "$bin" "$t" "$onecall" "${#jobargs[@]}" "${jobargs[@]}" "${KERNELS[@]}"
    busy1=$(busy_seconds)
    read -r WALL[$config,$run] USR[$config,$run] SYS[$config,$run] <"$t/time"
    CPU[$config,$run]=$(awk -v u="${USR[$config,$run]}" -v s="${SYS[$config,$run]}" 'BEGIN { printf "%.2f", u + s }')
    OTHERS[$config,$run]=$(awk -v a="$busy0" -v b="$busy1" -v c="${CPU[$config,$run]}" 'BEGIN { d = b - a - c; printf "%.0f", d < 0 ? 0 : d }')

    # Checks.
    OK[$config,$run]=yes NOTE[$config,$run]=
    if [[ $bin = "$ours" ]]; then
        echo "    cache: $(dk "$bin" "$t" cache stats | grep -E '^(hits|misses|stored):' | tr '\n' ' ')" >&2
    fi
    status_out=$(dk "$bin" "$t" status 2>&1)
    printf '%s\n' "$status_out" >"$t/status.log"
    while read -r k rc s e; do
        skipped=$(sed -n "s/^Autoinstall on $k was skipped for module(s) \(.*\)\.$/\1/p" "$t/autoinstall-$k.log")
        inst=$(grep -cF ", $k, $ARCH: installed" <<<"$status_out")
        n=$(wc -w <<<"$skipped")
        want=0
        for name in "${NAMEOF[@]}"; do
            [[ " $skipped " = *" $name "* ]] && continue
            want=$((want + KO[$name]))
        done
        ko=$(find "$t/I/$k/updates/dkms" \( -name '*.ko' -o -name '*.ko.*' \) 2>/dev/null | wc -l)
        printf '    %-22s exit %-3s %6.1fs  installed %2d  skipped %d%s  .ko %d/%d\n' "$k" "$rc" \
            "$(awk -v a="$s" -v b="$e" 'BEGIN { print b - a }')" "$inst" "$n" \
            "${skipped:+ ($skipped)}" "$ko" "$want" >&2
        NOTE[$config,$run]+="$k: $inst installed, $n skipped${skipped:+ ($skipped)}; "
        if ((inst + n != ${#PKGS[@]})) || ((ko != want)) || [[ $rc != 0 ]]; then
            OK[$config,$run]=no
        fi
    done <"$t/kernels"
    printf '    wall %ss  user %ss  sys %ss  cpu %ss  others %ss  (load average before: %s)  %s\n' \
        "${WALL[$config,$run]}" "${USR[$config,$run]}" "${SYS[$config,$run]}" "${CPU[$config,$run]}" \
        "${OTHERS[$config,$run]}" "$loadavg" "$([[ ${OK[$config,$run]} = yes ]] && echo OK || echo "CHECK FAILED, logs in $t")" >&2
    if [[ ${OK[$config,$run]} = yes && ${BENCH_KEEP:-} != 1 ]]; then rm -rf "$t"; fi
    [[ ${OK[$config,$run]} = yes ]]
}

echo "ours:     $ours_src (file dated $built; HEAD $rev of $head_date), copied to $ours" >&2
echo "upstream: $upstream" >&2
echo "kernels:  ${KERNELS[*]}; ${#PKGS[@]} packages from $TSV; $CORES cores; runs: $RUNS; configs: ${CONFIGS[*]}" >&2
failed=0
for ((run = 1; run <= RUNS; run++)); do
    for config in "${CONFIGS[@]}"; do
        echo "== run $run: $config" >&2
        measure "$config" "$run" || failed=1
    done
done

# --- report --------------------------------------------------------------------------------
f2() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }
echo
echo "swift-dkms: $ours_src (file dated $built; HEAD $rev of $head_date); upstream: $upstream"
echo "$CORES cores; kernels: ${KERNELS[*]}; ${#PKGS[@]} corpus packages; $RUNS run(s) per config"
echo
echo "| run | config | wall (s) | CPU user+sys (s) | limit = CPU/$CORES (s) | wall above limit | upstream wall / this wall | others' CPU (s) | check |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for ((run = 1; run <= RUNS; run++)); do
    for config in "${CONFIGS[@]}"; do
        [[ -n ${WALL[$config,$run]:-} ]] || continue
        w=${WALL[$config,$run]} c=${CPU[$config,$run]}
        limit=$(f2 "$c / $CORES")
        above=$(f2 "($w - $c / $CORES) / ($c / $CORES) * 100" 0)
        ratio=-
        if [[ $config != upstream && -n ${WALL[upstream,$run]:-} ]]; then
            ratio="$(f2 "${WALL[upstream,$run]} / $w" 2)x"
        fi
        echo "| $run | $config | $w | $c | $limit | ${above}% | $ratio | ${OTHERS[$config,$run]} | ${OK[$config,$run]} |"
    done
done
echo
for config in "${CONFIGS[@]}"; do
    [[ -n ${NOTE[$config,1]:-} ]] && echo "- $config (run 1): ${NOTE[$config,1]%; }"
done
exit "$failed"
