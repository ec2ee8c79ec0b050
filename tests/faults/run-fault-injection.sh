#!/bin/bash
# Fault injection: SIGKILL a dkms command at a random moment, then check the trees.
#
# Usage: tests/faults/run-fault-injection.sh DKMS_BINARY [TRIALS] [SECONDS_LIMIT]
#        (defaults: 200 trials, 900 seconds)
#
# Private trees with a fake kernel (see lib.sh): module hello/1.0 (two .ko) is the target,
# other/1.0 (installed) and dummy/1.0 (added) are bystanders. The states each command needs
# (nothing / added / built / installed) are prepared once with DKMS_BINARY itself and saved;
# every trial restores one, so each starts from fresh trees.
#
# Trial t runs, in rotation, one of
#   add PATH | build | install (prebuilt, or from added, alternately) | uninstall | remove --all
#   | autoinstall -k KVER (hello and dummy added) | kernel_postinst -k KVER (hello built, dummy
#   added): the kernel hook of several modules, each of which must end installed or not
# in its own process group and SIGKILLs the group after a delay drawn uniformly in
# 0..duration, duration being the longest of 3 measured uninterrupted runs of that command.
# Then the "next command":
#   - `dkms status` and `dkms status --json` (if the binary has it), alternately one first:
#     the reader check. The first read must show a committed state: fx_check of it (classes
#     renamed r-CLASS: an installed .ko without `installed`, an `installed` module without its
#     .ko...), any Differences/missing remark counts ([r-remark]), the two forms must agree
#     ([r-json]) and, with a recovering binary, the status after the recovering command must
#     be the same bytes ([r-changed]: status showed a state the next write did not leave);
#   - if the binary has `dkms fsck` (a usage text or "Unknown action" means it has not), a
#     mutating command that must first recover whatever the killed one left: alternately
#     `dkms fsck` and `dkms uninstall dummy/1.0 -k KVER` (dummy is not installed: a no-op;
#     after the kernel-hook commands, which may install dummy, always fsck),
#     then `dkms status` again. Without fsck (upstream) nothing else runs.
# and the checks of lib.sh fx_check on the last status and the trees:
#   (a) status lines parse, nothing broken; (b) every file of every installed module is in
#   I/KVER/updates/dkms, byte-identical to D/m/v/KVER/ARCH/module (itself a correct build);
#   (c) no .ko there that no installed module owns; (d) no temporary names (.tmp*,
#   *.dkms-new*, dot files) in the install tree, no zero-size or short .ko, no built dir with
#   missing or bad modules; after a recovering command no pending journal entry, and after
#   fsck no temporaries in the dkms tree either; bystanders still installed/added; listed modules have their
#   complete source;
#   (e) a follow-up cycle `remove hello/1.0 --all` (may fail only if hello is not listed),
#   `add PATH`, `install -k KVER` succeeds and leaves a consistent tree with hello installed.
# A trial with any failed check is inconsistent; the reasons go to the log and stdout.
# Ends with the line "N trials, M inconsistent"; exits 1 if M > 0, 2 if the harness could
# not even prepare the states.
#
# Environment:
#   FAULT_SEED       seed of the delays (default: random, printed)
#   FAULT_MODULE_KB  padding of each fake .ko in KiB (default 1024), so copies take time
#   FAULT_KEEP=1     keep the work directory (trees, per-trial evidence) even when all passed
#   FAULT_WORKDIR    where to create the work directory (default /tmp)

set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 DKMS_BINARY [TRIALS] [SECONDS_LIMIT]" >&2; exit 2; }
FX_DKMS=$(readlink -f -- "$1") || { echo "cannot resolve $1" >&2; exit 2; }
[[ -x $FX_DKMS ]] || { echo "$FX_DKMS is not executable" >&2; exit 2; }
TRIALS=${2:-200}
LIMIT=${3:-900}
PADKB=${FAULT_MODULE_KB:-1024}
SEED=${FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
T0=$EPOCHREALTIME

now_us() { local t=$EPOCHREALTIME; echo $((${t%.*} * 1000000 + 10#${t#*.})); }
elapsed_s() { echo $((($(now_us) - ${T0%.*} * 1000000 - 10#${T0#*.}) / 1000000)); }

WORK=$(mktemp -d "${FAULT_WORKDIR:-/tmp}/dkms-faults.XXXXXX")
chmod 755 "$WORK"   # sandboxed builds run as an unprivileged user that must reach the trees
# Run a private copy: the original may be relinked by a concurrent build during the run
# ("Text file busy"). Our binary re-executes itself through /proc/self/exe, so a copy works.
ORIGINAL=$FX_DKMS
cp -- "$ORIGINAL" "$WORK/dkms" && FX_DKMS=$WORK/dkms || { echo "cannot copy $ORIGINAL" >&2; exit 2; }
LOG=$WORK/log
ROOT=$WORK/root
fx_init "$ROOT"
fx_fake_kernel "$FX_KVER" 0
fx_module hello 1.0 "$PADKB" hello hello2
fx_module other 1.0 "$PADKB" other
fx_module dummy 1.0 "$PADKB" dummy
K=$FX_KVER
A=$FX_ARCH
mapfile -t TREEOPTS < <(fx_treeopts)
echo "dkms: $ORIGINAL ($("$FX_DKMS" --version 2>&1 | head -1)); seed $SEED; work dir $WORK" | tee "$LOG"

snapshot() { tar -C "$ROOT" -cf "$WORK/$1.tar" d s i tmp etc; }
restore() { rm -rf "${ROOT:?}"/{d,s,i,tmp,etc}; tar -C "$ROOT" -xf "$WORK/$1.tar"; }
prep() { # prep ARGS...: a preparation step that must succeed
    if ! fx_dkms "$@" >>"$WORK/prep.out" 2>&1; then
        echo "preparation failed: dkms $* (see $WORK/prep.out)" >&2
        tail -20 "$WORK/prep.out" >&2
        echo "0 trials, 0 inconsistent (harness could not prepare the states)"
        exit 2
    fi
}

# --- the four states -------------------------------------------------------------------
prep add "$ROOT/pk/other-1.0"
prep install other/1.0 -k "$K"
prep add "$ROOT/pk/dummy-1.0"
snapshot s0
prep add "$ROOT/pk/hello-1.0"
snapshot s1
prep build hello/1.0 -k "$K"
snapshot s2
prep install hello/1.0 -k "$K"
snapshot s3
fx_dkms status >"$WORK/prep.status" 2>&1
if ! out=$(fx_check "$WORK/prep.status") || ! grep -qx "hello/1.0, $K, $A: installed" "$WORK/prep.status"; then
    echo "the uninterrupted prepared state is already inconsistent:" >&2
    printf '%s\n' "$out" >&2
    echo "0 trials, 0 inconsistent (harness could not prepare the states)"
    exit 2
fi

# --- does this binary recover (dkms fsck)? ----------------------------------------------
restore s0
fsck_out=$(fx_dkms fsck 2>&1); fsck_rc=$?
if grep -qE 'Usage:|Unknown action' <<<"$fsck_out"; then
    RECOVERS=0
    echo "dkms fsck: not supported; next command is status only" | tee -a "$LOG"
else
    RECOVERS=1
    echo "dkms fsck: supported (exit $fsck_rc on a clean tree); next command: status, then fsck or uninstall of dummy, then status" | tee -a "$LOG"
fi

if fx_dkms status --json 2>/dev/null | jq -e .entries >/dev/null 2>&1; then
    JSON=1
    echo "dkms status --json: supported; the first read after each kill is status or status --json, alternately" | tee -a "$LOG"
else
    JSON=0
    echo "dkms status --json: not supported; the first read after each kill is status" | tee -a "$LOG"
fi

# --- the commands and their durations -----------------------------------------------------
VARIANTS=(add build install install-from-added uninstall remove autoinstall kernel_postinst)
declare -A VSTATE=([add]=s0 [build]=s1 [install]=s2 [install-from-added]=s1 [uninstall]=s3 [remove]=s3
    [autoinstall]=s1 [kernel_postinst]=s2)
vargs() {
    case $1 in
        add) echo "add $ROOT/pk/hello-1.0" ;;
        build) echo "build hello/1.0 -k $K" ;;
        install | install-from-added) echo "install hello/1.0 -k $K" ;;
        uninstall) echo "uninstall hello/1.0 -k $K" ;;
        remove) echo "remove hello/1.0 --all" ;;
        autoinstall) echo "autoinstall -k $K" ;;
        kernel_postinst) echo "kernel_postinst -k $K" ;;
    esac
}
declare -A DUR=()
for v in "${VARIANTS[@]}"; do
    max=0
    for _ in 1 2 3; do
        restore "${VSTATE[$v]}"
        t=$(now_us)
        # shellcheck disable=SC2046
        fx_dkms $(vargs "$v") >/dev/null 2>&1 || { echo "uninterrupted '$v' failed" >&2; exit 2; }
        t=$(($(now_us) - t))
        ((t > max)) && max=$t
    done
    DUR[$v]=$max
done
printf 'durations (max of 3, ms):'; for v in "${VARIANTS[@]}"; do printf ' %s=%d' "$v" $((DUR[$v] / 1000)); done; echo
{ printf 'durations (us):'; for v in "${VARIANTS[@]}"; do printf ' %s=%d' "$v" "${DUR[$v]}"; done; echo; } >>"$LOG"

# --- trials ------------------------------------------------------------------------------
declare -A CLASS=() KILLS=() RUNS=()
done_trials=0 bad=0 killed_total=0 stopped=0
rand_us() { echo $((((RANDOM << 30) | (RANDOM << 15) | RANDOM) % ($1 + 1))); }

for ((t = 0; t < TRIALS; t++)); do
    if (($(elapsed_s) >= LIMIT)); then stopped=1; break; fi
    case $((t % 7)) in
        0) v=add ;; 1) v=build ;;
        2) if (((t / 7) % 2)); then v=install-from-added; else v=install; fi ;;
        3) v=uninstall ;; 4) v=remove ;; 5) v=autoinstall ;; 6) v=kernel_postinst ;;
    esac
    restore "${VSTATE[$v]}"
    TD=$WORK/trial-$t
    mkdir -p "$TD"
    delay=$(rand_us "${DUR[$v]}")
    # shellcheck disable=SC2046
    setsid env -i PATH="/usr/sbin:/usr/bin:/sbin:/bin" HOME="$ROOT" TMPDIR="$ROOT/tmp" \
        SWIFT_DKMS_SYSCONFDIR="$ROOT/etc" try_sign_modules=false parallel_jobs=1 LC_ALL=C \
        "$FX_DKMS" $(vargs "$v") "${TREEOPTS[@]}" >"$TD/cmd.out" 2>"$TD/cmd.err" </dev/null &
    pid=$!
    sleep "$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null; rc=$?
    kill -KILL -- "-$pid" 2>/dev/null # stragglers of the group, if any
    killed=0; ((rc == 137)) && killed=1
    killed_total=$((killed_total + killed))
    RUNS[$v]=$((${RUNS[$v]:-0} + 1)); KILLS[$v]=$((${KILLS[$v]:-0} + killed))

    reasons=()
    add_reason() { reasons+=("$1"); }
    final=$TD/status1 strict=0
    # reader check: the very first read after the kill (text or JSON, alternately) shows a
    # committed state; the other form, read next, says the same
    if ((JSON)); then
        if (((t / 2) % 2)); then
            fx_dkms status --json >"$TD/status1.json" 2>"$TD/status1.json.err"
            fx_status_from_json "$TD/status1.json" >"$TD/status1.json.txt"
            first=$TD/status1.json.txt
            fx_dkms status >"$TD/status1" 2>"$TD/status1.err"; src=$?
        else
            first=$TD/status1
            fx_dkms status >"$TD/status1" 2>"$TD/status1.err"; src=$?
            fx_dkms status --json >"$TD/status1.json" 2>"$TD/status1.json.err"
            fx_status_from_json "$TD/status1.json" >"$TD/status1.json.txt"
        fi
        cmp -s "$TD/status1" "$TD/status1.json.txt" ||
            add_reason "[r-json] status and status --json right after the kill disagree: $(diff "$TD/status1" "$TD/status1.json.txt" | grep '^[<>]' | head -2 | tr '\n' ' ')"
    else
        first=$TD/status1
        fx_dkms status >"$TD/status1" 2>"$TD/status1.err"; src=$?
    fi
    ((src == 124 || src == 137)) && add_reason "[x-hang] status did not finish within ${FX_TIMEOUT:-120}s"
    ((src != 0 && src != 124 && src != 137)) && add_reason "[a-status-rc] status exited $src: $(head -2 "$TD/status1.err" | tr '\n' ' ')"
    while IFS= read -r l; do add_reason "$l (first status after the kill)"; done < <(fx_reader_check "$first")
    if ((RECOVERS)); then
        if [[ $v == autoinstall* || $v == kernel_postinst* ]]; then next=(fsck) strict=3
        elif ((t % 2)); then next=(fsck) strict=3; else next=(uninstall dummy/1.0 -k "$K") strict=1; fi
        fx_dkms "${next[@]}" >"$TD/next.out" 2>&1; nrc=$?
        echo "${next[*]}" >"$TD/next.cmd"
        if ((nrc == 124 || nrc == 137)); then add_reason "[x-hang] dkms ${next[*]} did not finish (lock never released?)"
        elif ((nrc != 0)); then add_reason "[f-recover] dkms ${next[*]} exited $nrc: $(tail -2 "$TD/next.out" | tr '\n' ' ')"; fi
        fx_dkms status >"$TD/status2" 2>"$TD/status2.err"
        final=$TD/status2
        # what the reader saw is what the next write left
        cmp -s "$first" "$final" ||
            add_reason "[r-changed] status after the recovering command differs from the first status: $(diff "$first" "$final" | grep '^[<>]' | head -2 | tr '\n' ' ')"
    fi
    while IFS= read -r l; do
        case $l in \(note\)*) echo "trial $t: $l" >>"$LOG" ;; *) add_reason "$l" ;; esac
    done < <(fx_check "$final" "$strict")
    grep -qx "other/1.0, $K, $A: installed" "$final" || add_reason "[x-bystander] other/1.0 no longer installed"
    if [[ $v == autoinstall* || $v == kernel_postinst* ]]; then
        grep -Eqx "dummy/1.0(: added|, $K, $A: (built|installed))" "$final" || add_reason "[x-bystander] dummy/1.0 neither added, built nor installed"
    else
        grep -qx "dummy/1.0: added" "$final" || add_reason "[x-bystander] dummy/1.0 no longer added"
    fi
    hello_listed=0; grep -q '^hello/1.0[,:]' "$final" && hello_listed=1
    hello_state=$(grep -m1 '^hello/1.0[,:]' "$final" | sed 's/.*: //'); hello_state=${hello_state:-absent}

    (cd "$ROOT" && find d s i -path 'i/*/build' -prune -o -printf '%M %8s %p %l\n') >"$TD/trees.checked"

    # (e) follow-up cycle
    fx_dkms remove hello/1.0 --all >"$TD/e-remove.out" 2>&1; r=$?
    ((r != 0 && hello_listed)) && add_reason "[e-cycle] remove --all exited $r with hello listed: $(grep -m1 -A1 Error "$TD/e-remove.out" | tr '\n' ' ')"
    fx_dkms add "$ROOT/pk/hello-1.0" >"$TD/e-add.out" 2>&1; r=$?
    ((r != 0)) && add_reason "[e-cycle] add exited $r: $(grep -m1 -A1 Error "$TD/e-add.out" | tr '\n' ' ')"
    fx_dkms install hello/1.0 -k "$K" >"$TD/e-install.out" 2>&1; r=$?
    ((r != 0)) && add_reason "[e-cycle] install exited $r: $(grep -m1 -A1 Error "$TD/e-install.out" | tr '\n' ' ')"
    fx_dkms status >"$TD/status3" 2>&1
    grep -qx "hello/1.0, $K, $A: installed" "$TD/status3" || add_reason "[e-cycle] hello/1.0 not installed after the cycle"
    while IFS= read -r l; do
        [[ $l == \(note\)* ]] || add_reason "[e-cycle] after the cycle: $l"
    done < <(fx_check "$TD/status3" "$strict")

    done_trials=$((done_trials + 1))
    summary="trial $t: $v delay=$((delay / 1000))ms/$((DUR[$v] / 1000))ms killed=$killed rc=$rc hello=$hello_state"
    ((RECOVERS)) && summary+=" next=[$(cat "$TD/next.cmd")]: $(grep -v '^$' "$TD/next.out" | tr '\n' '|')"
    if ((${#reasons[@]})); then
        bad=$((bad + 1))
        declare -A seen=()
        for r in "${reasons[@]}"; do
            c=${r%%]*}; c=${c#[}
            [[ -n ${seen[$c]+x} ]] || CLASS[$c]=$((${CLASS[$c]:-0} + 1))
            seen[$c]=1
        done
        unset seen
        { echo "$summary INCONSISTENT"; printf '    %s\n' "${reasons[@]}"; } | tee -a "$LOG"
        (cd "$ROOT" && find d s i -path 'i/*/build' -prune -o -printf '%M %8s %p %l\n') >"$TD/trees.after-cycle"
    else
        echo "$summary ok" >>"$LOG"
        rm -rf "$TD"
    fi
done

echo "killed mid-command: $killed_total of $done_trials ($(for v in "${VARIANTS[@]}"; do printf '%s %d/%d, ' "$v" "${KILLS[$v]:-0}" "${RUNS[$v]:-0}"; done | sed 's/, $//'))"
if ((${#CLASS[@]})); then
    echo "inconsistent trials by class: $(for c in $(printf '%s\n' "${!CLASS[@]}" | sort); do printf '%s=%d ' "$c" "${CLASS[$c]}"; done)"
fi
((stopped)) && echo "time limit of ${LIMIT}s reached: stopped after $done_trials of $TRIALS trials"
if ((bad == 0)) && [[ ${FAULT_KEEP:-0} != 1 ]]; then
    rm -rf "$WORK"; echo "run time $(elapsed_s)s"
else
    echo "run time $(elapsed_s)s; log $LOG, evidence of each inconsistent trial in $WORK/trial-N"
fi
echo "$done_trials trials, $bad inconsistent"
((bad == 0))
