#!/bin/bash
# Per-invocation overhead of `dkms build`: one small module (examples/hello-dkms)
# built by swift-dkms and by upstream dkms 3.4.3, each against a bare kbuild
# `make` of the same source.
#
#   bench/overhead.sh [OURS_BINARY] [UPSTREAM_BINARY] [KERNEL]
#
# OURS_BINARY defaults to .build/release/dkms (else .build/debug/dkms); it is
# copied into the work dir first, so a concurrent `swift build` cannot swap it
# during the measurement. UPSTREAM_BINARY defaults to $UPSTREAM_DKMS, else
# /opt/upstream-dkms/bin/dkms. KERNEL defaults to `uname -r` when its headers
# are installed, else the first /lib/modules/*/build.
#
# Setup (not timed): one work dir with, per tool, private trees D (--dkmstree),
# S (--sourcetree), I (--installtree, I/KERNEL/build -> the real headers), and
# `dkms add` of a copy of the example module, once.
# Timed with hyperfine (--warmup 2, OVERHEAD_RUNS runs, output to /dev/null):
#   make      prepare: rm -rf W; cp -a SRC W   (a fresh copy of the source)
#             timed:   make -j$(nproc) -C /lib/modules/KERNEL/build M=W modules
#             (nproc: the -j both dkms pass to make by default)
#   ours      dkms build hello-dkms/1.0 -k KERNEL --force --dkmstree D ...
#   upstream  the same with upstream's script
# `--force` unbuilds first and then rebuilds from a fresh copy of the source:
# that is the per-build work of dkms (copy, conf evaluation, make, strip -g,
# collect the module, record the build). The bare make neither strips nor
# signs; signing is off for both dkms (try_sign_modules=false). `strip -g` of
# the built module is counted as dkms work. The steps dkms adds around make are
# also timed one by one (start-up, CC probe, cp -a of the source, strip -g).
#
# With OVERHEAD_ROUNDS > 1 the three commands are timed in several hyperfine
# invocations, the order rotated each round, and all run times of a command are
# pooled: slow drift of the machine's load then hits the three alike.
#
# Every command runs with a clean environment (env -i PATH HOME TMPDIR, PATH being
# OVERHEAD_PATH, default Debian's root PATH as apt's hooks see it, and for
# dkms try_sign_modules=false) and, when `unshare -m` works, in a private mount
# namespace where an empty directory is bound over /etc/dkms, so the machine's
# framework.conf(.d) (e.g. try_sign_modules=true, which overrides the
# environment in upstream) cannot skew either tool. swift-dkms also gets
# SWIFT_DKMS_SYSCONFDIR pointing at that empty directory.
#
# Overhead = (median(dkms) - median(make)) / median(make), for wall time; the
# same ratio is also given for the mean CPU time (user + sys of the command and
# all its children, as hyperfine reports it), which a loaded machine disturbs
# less than the wall time.
#
# Environment:
#   OVERHEAD_RUNS     hyperfine --runs per round (10)
#   OVERHEAD_ROUNDS   rounds (3)
#   OVERHEAD_WARMUP   hyperfine --warmup (2)
#   OVERHEAD_PATH     PATH of every command (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
#   OVERHEAD_TARGET   target overhead in percent (3): the verdict line
#   OVERHEAD_TRACE=1  afterwards, run one `dkms build --force` of each tool under
#                     `strace -f --seccomp-bpf -e trace=process` and print every process
#                     it spawned (start offset, duration, command); strace is
#                     installed with apt-get when missing
#   OVERHEAD_KEEP=1   keep the work dir (trees, hyperfine JSON, traces)
#   UPSTREAM_DKMS     upstream's script when no second argument is given
#
# Prints progress on stderr, the results table on stdout. Exit status 0 when
# all runs succeeded (whatever the overhead), 1 when a command failed.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

die() { echo "bench/overhead: $*" >&2; exit 2; }

if [[ ${1:-} = -h || ${1:-} = --help || $# -gt 3 ]]; then
    echo "usage: $0 [OURS_BINARY] [UPSTREAM_BINARY] [KERNEL]" >&2
    exit 2
fi

# --- private mount namespace: hide the machine's /etc/dkms ---------------------------------
if [[ -z ${OVERHEAD_IN_NAMESPACE:-} ]]; then
    if [[ $(id -u) -eq 0 ]] && unshare -m --propagation private true 2>/dev/null; then
        OVERHEAD_IN_NAMESPACE=1 exec unshare -m --propagation private "$0" "$@"
    fi
    echo "bench/overhead: warning: cannot unshare a mount namespace; the machine's" \
        "/etc/dkms configuration applies to upstream" >&2
    OVERHEAD_IN_NAMESPACE=0
fi

# --- arguments -----------------------------------------------------------------------------
if [[ -n ${1:-} ]]; then
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
if [[ -n ${3:-} ]]; then
    KERNEL=$3
elif [[ -d /lib/modules/$(uname -r)/build/include ]]; then
    KERNEL=$(uname -r)
else
    KERNEL=
    for d in /lib/modules/*/build; do
        [[ -d $d/include ]] && { KERNEL=$(basename "$(dirname "$d")"); break; }
    done
    [[ -n $KERNEL ]] || die "no kernel headers under /lib/modules/*/build"
fi
KDIR=/lib/modules/$KERNEL/build
[[ -d $KDIR/include ]] || die "no kernel headers for $KERNEL ($KDIR)"
HEADERS=$(readlink -f "$KDIR")

BPATH=${OVERHEAD_PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
RUNS=${OVERHEAD_RUNS:-10}
ROUNDS=${OVERHEAD_ROUNDS:-3}
WARMUP=${OVERHEAD_WARMUP:-2}
TARGET=${OVERHEAD_TARGET:-3}
CORES=$(nproc)
EXAMPLE=$repo/examples/hello-dkms
[[ -f $EXAMPLE/dkms.conf ]] || die "example module missing: $EXAMPLE"

# --- tools ---------------------------------------------------------------------------------
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v jq >/dev/null || need+=(jq)
command -v make >/dev/null || need+=(make)
command -v strip >/dev/null || need+=(binutils)
[[ ${OVERHEAD_TRACE:-} = 1 ]] && ! command -v strace >/dev/null && need+=(strace)
if ((${#need[@]})); then
    echo "Installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=1200 "${need[@]}" >&2 || die "apt-get install ${need[*]} failed"
fi

# --- work dir ------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkms-bench-overhead.XXXXXX") || die "mktemp failed"
chmod 755 "$WORK"   # sandboxed builds run as an unprivileged user that must reach the trees
cleanup() {
    if [[ ${OVERHEAD_KEEP:-} = 1 ]]; then echo "bench/overhead: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/bin" "$WORK/etc" "$WORK/tmp" || die "cannot create work dirs"
cp -- "$ours_src" "$WORK/bin/dkms" || die "cannot copy $ours_src"
ours=$WORK/bin/dkms
if [[ $OVERHEAD_IN_NAMESPACE = 1 && -d /etc/dkms ]]; then
    mount --bind "$WORK/etc" /etc/dkms || die "mount --bind over /etc/dkms failed"
fi
SRC=$WORK/src/hello-dkms-1.0
mkdir -p "$WORK/src" && cp -a "$EXAMPLE" "$SRC" || die "cannot copy $EXAMPLE"
W=$WORK/make/hello-dkms

rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$repo" status --porcelain -- Sources Package.swift 2>/dev/null | head -c1)
[[ -n $dirty ]] && rev+=" (+ uncommitted Sources changes)"

# Command lines, as strings for hyperfine (--shell=bash). All paths are mktemp-made
# (no spaces) or fixed; printf %q keeps them safe anyway.
q() { printf '%q' "$1"; }
ENVQ="env -i PATH=$(q "$BPATH") HOME=$(q "${HOME:-/root}") TMPDIR=$(q "$WORK/tmp")"
dkms_cmd() { # tool binary ARGS...
    local t=$WORK/$1 bin=$2 a s
    shift 2
    s="$ENVQ try_sign_modules=false SWIFT_DKMS_SYSCONFDIR=$(q "$WORK/etc") $(q "$bin")"
    for a in "$@" --dkmstree "$t/D" --sourcetree "$t/S" --installtree "$t/I"; do s+=" $(q "$a")"; done
    echo "$s </dev/null"
}
MAKE_PREPARE="rm -rf $(q "$W") && mkdir -p $(q "$(dirname "$W")") && cp -a $(q "$SRC") $(q "$W")"
MAKE_CMD="$ENVQ make -j$CORES -C $(q "$KDIR") M=$(q "$W") modules"
declare -A CMD BIN
BIN[ours]=$ours BIN[upstream]=$upstream
for tool in ours upstream; do
    t=$WORK/$tool
    mkdir -p "$t/D" "$t/S" "$t/I/$KERNEL" || die "cannot create trees"
    ln -s "$HEADERS" "$t/I/$KERNEL/build"
    eval "$(dkms_cmd "$tool" "${BIN[$tool]}" add "$SRC")" >"$t/add.log" 2>&1 \
        || die "$tool: dkms add failed: $(cat "$t/add.log")"
    CMD[$tool]=$(dkms_cmd "$tool" "${BIN[$tool]}" build hello-dkms/1.0 -k "$KERNEL" --force)
done
CMD[make]=$MAKE_CMD

# --- checks (not timed): every command works, nothing is signed ----------------------------
bash -c "$MAKE_PREPARE && $MAKE_CMD" >"$WORK/make.check.log" 2>&1 \
    || die "bare make failed: $(tail -20 "$WORK/make.check.log")"
[[ -f $W/hello_dkms.ko ]] || die "bare make did not produce $W/hello_dkms.ko"
cp -- "$W/hello_dkms.ko" "$WORK/unstripped.ko"
for tool in ours upstream; do
    log=$WORK/$tool/build.check.log
    bash -c "${CMD[$tool]}" >"$log" 2>&1 || die "$tool: dkms build failed: $(cat "$log")"
    ko=$WORK/$tool/D/hello-dkms/1.0/$KERNEL/$(uname -m)/module/hello_dkms.ko
    [[ -f $ko ]] || die "$tool: no built module at $ko: $(cat "$log")"
    grep -q '^Signing module' "$log" && die "$tool signed the module despite try_sign_modules=false: $(cat "$log")"
done

# --- timing --------------------------------------------------------------------------------
LOADS=()
load() { cut -d' ' -f1-3 /proc/loadavg; }
ORDER=(make ours upstream)
echo "ours:     $ours_src (git $rev)" >&2
echo "upstream: $upstream" >&2
echo "kernel:   $KERNEL ($HEADERS); $CORES cores; $ROUNDS round(s) x $RUNS runs, warmup $WARMUP" >&2
for ((round = 1; round <= ROUNDS; round++)); do
    args=()
    for name in "${ORDER[@]}"; do
        if [[ $name = make ]]; then args+=(--prepare "$MAKE_PREPARE"); else args+=(--prepare true); fi
    done
    for name in "${ORDER[@]}"; do args+=(-n "$name" "${CMD[$name]}"); done
    LOADS+=("round $round before: $(load)")
    echo "== round $round: ${ORDER[*]} (load average $(load))" >&2
    hyperfine --shell=bash --warmup "$WARMUP" --runs "$RUNS" --style basic \
        --export-json "$WORK/round-$round.json" "${args[@]}" >&2 \
        || die "hyperfine failed (round $round)"
    LOADS[-1]+=", after: $(load)"
    ORDER=("${ORDER[@]:1}" "${ORDER[0]}")
done
# Steps of dkms' own work outside make, each timed alone (same environment):
# process start-up (`dkms --version`), the CC probe both run before make
# (`make -f - show-CC` over the headers' .kernelvariables, Debian), the copy
# of the source into the build dir and `strip -g` of the built module.
STEPS=(start-ours start-upstream cc-probe cp-source strip)
declare -A STEP_CMD STEP_PREP STEP_DESC
STEP_CMD[start-ours]="$ENVQ $(q "$ours") --version"
STEP_CMD[start-upstream]="$ENVQ $(q "$upstream") --version"
probe=$(printf 'show-%%:\n\t@echo $($*)\ninclude %s/.kernelvariables\n' "$WORK/ours/I/$KERNEL/build")
STEP_CMD[cc-probe]="$ENVQ /bin/bash -c $(q 'printf "%s" "$1" | make -f - show-CC') dkms $(q "$probe")"
STEP_CMD[cp-source]="$ENVQ cp --reflink=auto -a $(q "$SRC/") $(q "$WORK/cpdst")"
STEP_PREP[cp-source]="rm -rf $(q "$WORK/cpdst")"
STEP_CMD[strip]="$ENVQ strip -g $(q "$WORK/strip.ko")"
STEP_PREP[strip]="cp $(q "$WORK/unstripped.ko") $(q "$WORK/strip.ko")"
STEP_DESC[start-ours]="start-up of ours (dkms --version)"
STEP_DESC[start-upstream]="start-up of upstream (dkms --version)"
STEP_DESC[cc-probe]="CC probe (bash + make -f - show-CC, both tools)"
STEP_DESC[cp-source]="cp -a of the source into the build dir"
STEP_DESC[strip]="strip -g of the built module"
if [[ -f $KDIR/.kernelvariables ]]; then :; else STEPS=("${STEPS[@]/cc-probe}"); fi
args=()
for st in ${STEPS[*]}; do args+=(--prepare "${STEP_PREP[$st]:-true}"); done
for st in ${STEPS[*]}; do args+=(-n "$st" "${STEP_CMD[$st]}"); done
echo "== steps outside make, one by one (load average $(load))" >&2
hyperfine --shell=bash --warmup "$WARMUP" --runs $((RUNS * 2)) --style basic \
    --export-json "$WORK/steps.json" "${args[@]}" >&2 || die "hyperfine failed (steps)"
LOADS+=("steps after: $(load)")

# --- statistics ----------------------------------------------------------------------------
# stats NAME FILES...: "median stddev mean_cpu n" over the pooled run times
# (seconds); mean_cpu is user + sys, weighted by the runs of each round.
stats() {
    local name=$1
    shift
    jq -rs --arg n "$name" '
        [.[].results[] | select(.command == $n)] as $r
        | ($r | map(.times) | add | sort) as $t | ($t | length) as $k
        | (if $k % 2 == 1 then $t[($k - 1) / 2] else ($t[$k / 2 - 1] + $t[$k / 2]) / 2 end) as $med
        | ($t | add / $k) as $mean
        | (if $k > 1 then ($t | map((. - $mean) * (. - $mean)) | add / ($k - 1) | sqrt) else 0 end) as $sd
        | ($r | map((.user + .system) * (.times | length)) | add / $k) as $cpu
        | "\($med) \($sd) \($cpu) \($k)"' "$@"
}
declare -A MED SD CPU N
rounds=("$WORK"/round-*.json)
for name in make ours upstream; do
    read -r MED[$name] SD[$name] CPU[$name] N[$name] < <(stats "$name" "${rounds[@]}")
done
for st in ${STEPS[*]}; do
    read -r MED[$st] SD[$st] CPU[$st] N[$st] < <(stats "$st" "$WORK/steps.json")
done

ms() { awk -v x="$1" 'BEGIN { printf "%.1f", x * 1000 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f%%", (a - b) / b * 100 }'; }
echo
echo "dkms build overhead: examples/hello-dkms, kernel $KERNEL, $CORES cores"
echo "swift-dkms: $ours_src (git $rev); upstream: $upstream"
echo "hyperfine: $ROUNDS round(s) x $RUNS runs (+ $WARMUP warmup) per command; load average: ${LOADS[*]}"
echo
echo "| command | median wall (ms) | stddev (ms) | runs | overhead vs make (wall median) | mean CPU user+sys (ms) | CPU overhead vs make |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for name in make ours upstream; do
    if [[ $name = make ]]; then ow=- oc=-; else ow=$(pct "${MED[$name]}" "${MED[make]}") oc=$(pct "${CPU[$name]}" "${CPU[make]}"); fi
    echo "| $name | $(ms "${MED[$name]}") | $(ms "${SD[$name]}") | ${N[$name]} | $ow | $(ms "${CPU[$name]}") | $oc |"
done
echo
echo "Steps of dkms' work outside make, timed alone (strip -g counts as dkms' work; the bare make does not strip):"
echo
echo "| step | median wall (ms) | stddev (ms) | runs | share of make (wall median) | mean CPU user+sys (ms) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for st in ${STEPS[*]}; do
    echo "| ${STEP_DESC[$st]} | $(ms "${MED[$st]}") | $(ms "${SD[$st]}") | ${N[$st]} | $(awk -v s="${MED[$st]}" -v m="${MED[make]}" 'BEGIN { printf "%.2f%%", s / m * 100 }') | $(ms "${CPU[$st]}") |"
done
echo
echo "- make:     make -j$CORES -C $KDIR M=W modules (W: a fresh cp -a of the source, untimed)"
echo "- ours:     dkms build hello-dkms/1.0 -k $KERNEL --force (private trees, try_sign_modules=false)"
echo "- upstream: the same with upstream dkms 3.4.3"
for tool in ours upstream; do
    over=$(awk -v a="${MED[$tool]}" -v b="${MED[make]}" 'BEGIN { printf "%.2f", (a - b) / b * 100 }')
    verdict=$(awk -v o="$over" -v t="$TARGET" 'BEGIN { print (o <= t) ? "within" : "ABOVE" }')
    echo "- $tool: overhead $over% (wall median), $verdict the ${TARGET}% target;" \
        "$(ms "$(awk -v a="${MED[$tool]}" -v b="${MED[make]}" 'BEGIN { print a - b }')") ms per build beyond make"
done

# --- optional: where the time goes ---------------------------------------------------------
# Process tree of one traced `dkms build --force`: every process (threads
# folded into their process) with its start offset from the traced command's
# start and its lifetime, indented by depth; the processes below make (the
# kbuild machinery) are counted, not listed. "(fork)" is a process that never
# called execve (a shell subshell); "(fork, execve P failed: ENOENT)" one whose
# only execve failed: a PATH lookup done by spawning. strace stops only at
# process syscalls (--seccomp-bpf), yet slows every fork and exec a little: the
# offsets and durations are upper bounds.
trace() { # tool
    local tool=$1 out=$WORK/$1.strace
    echo
    echo "### strace: $tool (one dkms build --force under strace -f)"
    echo
    bash -c "strace -f --seccomp-bpf -ttt -q -e trace=process -e signal=none -s 300 -o $(q "$out") ${CMD[$tool]}" \
        >/dev/null 2>&1 || { echo "(traced run failed)"; return; }
    echo '```'
    awk '
        function args(s) {
            sub(/^[^\[]*\[/, "", s); sub(/\], (0x[0-9a-f]+|\[).*$/, "", s)
            gsub(/", "/, " ", s); gsub(/"/, "", s); gsub(/\\n/, " ", s); gsub(/\\t/, " ", s); gsub(/  +/, " ", s)
            return s
        }
        function base(c,   w) { w = c; sub(/ .*/, "", w); sub(/.*\//, "", w); return w }
        function undermake(p,   a) { for (a = parent[p]; a != ""; a = parent[a]) if (base(cmd[a]) == "make") return 1; return 0 }
        function depth(p,   d, a) { d = 0; for (a = parent[p]; a != ""; a = parent[a]) d++; return d }
        {
            pid = $1; t = $2 + 0
            if (t0 == "") { t0 = t; root = pid }
            if (!(pid in born)) { born[pid] = t; seq[++n] = pid }
            if ($0 ~ /(clone3?|fork|vfork)\(/ && $0 ~ /<unfinished/) pendc[pid] = $0
            if ($0 ~ /(clone3?|fork|vfork)(\(| resumed>)/ && $0 ~ /\) = [0-9]+$/) {
                full = ($0 ~ /resumed>/) ? pendc[pid] : $0
                c = $NF; tg = (pid in tgid) ? tgid[pid] : pid
                if (full ~ /CLONE_THREAD/) { tgid[c] = tg; thread[c] = 1 } else parent[c] = tg
                if (!(c in born)) { born[c] = t; seq[++n] = c }
            }
            if ($0 ~ /execve\(/) pende[pid] = $0
            if ($0 ~ /execve(\(| resumed>)/ && $0 ~ /\) = 0$/) {
                full = ($0 ~ /resumed>/) ? pende[pid] : $0
                cmd[pid] = args(full)
            }
            if ($0 ~ /execve(\(| resumed>)/ && $0 ~ /\) = -1 E/) {
                full = ($0 ~ /resumed>/) ? pende[pid] : $0
                f = full; sub(/^[^"]*"/, "", f); sub(/".*$/, "", f)
                e = $0; sub(/^.*\) = -1 /, "", e); sub(/ .*$/, "", e)
                failed[pid] = "(fork, execve " f " failed: " e ")"
            }
            if ($0 ~ /\+\+\+ exited with/) end[pid] = t
        }
        END {
            printf "%8s %9s %9s  %s\n", "pid", "start ms", "dur ms", "command"
            for (i = 1; i <= n; i++) {
                p = seq[i]; if (p in thread) continue
                d = ((p in end) ? end[p] : born[p]) - born[p]
                if (p != root && undermake(p)) { hidden++; continue }
                c = (p in cmd) ? cmd[p] : (p in failed) ? failed[p] : "(fork)"
                if (base(c) == "make" && c ~ / M=/ && !undermake(p)) { makedur += d }
                if (p == root) rootdur = d
                else if (parent[p] == root || base(cmd[parent[p]]) == "dkms") { top++; if (base(c) != "make") topdur += d }
                ind = sprintf("%*s", 2 * depth(p), "")
                printf "%8s %9.1f %9.1f  %s%s\n", p, (born[p] - t0) * 1000, d * 1000, ind, substr(c, 1, 130)
            }
            printf "\ntraced command: %.1f ms; kbuild make (M=): %.1f ms; outside it: %.1f ms; processes below make, not listed: %d\n", \
                rootdur * 1000, makedur * 1000, (rootdur - makedur) * 1000, hidden
        }' "$out"
    echo '```'
}
if [[ ${OVERHEAD_TRACE:-} = 1 ]]; then
    for tool in ours upstream; do trace "$tool"; done
fi
exit 0
