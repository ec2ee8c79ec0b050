#!/bin/bash
# Concurrency: 8 mixed dkms invocations started together on one private tree.
#
# Usage: tests/faults/run-concurrency.sh DKMS_BINARY
#
# Each round (CONCURRENCY_ROUNDS, default 3) builds fresh private trees with a fake kernel
# whose kbuild sleeps CONCURRENCY_SLEEP seconds (default 1) per module, so commands overlap.
# Modules A, B, C are added beforehand; D's source is ready but not added; bystander O is
# installed. Then, released at the same instant by a start gate:
#   install A, install A, install B, install B, build C, remove A --all, add D, status
# Whatever the order a tree lock imposes, each of these succeeds (install re-adds A from the
# source tree if the remove went first; a second install of B is a "skip"), so checked are:
#   exit-<i>       every invocation exits 0 (and none hangs: CONCURRENCY_TIMEOUT, default 120 s)
#   status-output  the concurrent status prints only parsable lines
#   consistent     final status + trees pass the checks of lib.sh fx_check (as in the fault
#                  injection: installed files present and identical, no orphan .ko, no
#                  temporaries, no truncated module, no pending journal when dkms has fsck)
#   final-state    B installed, C built, D added, O installed, A installed or absent
#   waited         at least one invocation printed on stderr
#                  "dkms: waiting for the lock on DKMSTREE held by process PID..."
#   cycle-A        afterwards `remove A --all` (if listed), `add`, `install` of A succeed and
#                  leave a consistent tree
#   reads-committed (dkms with fsck only) a reader running `status` every 50 ms while the
#                  writers run: every read exits 0 and shows a committed state (fx_reader_check's
#                  checks of the text: no Differences or missing-module remark, no broken or
#                  unparsable line)
# Prints one line per failed check, then "N passed, M failed"; exits 1 if M > 0.
# Environment: CONCURRENCY_ROUNDS, CONCURRENCY_SLEEP, CONCURRENCY_TIMEOUT, CONCURRENCY_KEEP=1
# (keep the work directory; kept anyway when something failed).

set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 DKMS_BINARY" >&2; exit 2; }
FX_DKMS=$(readlink -f -- "$1") || { echo "cannot resolve $1" >&2; exit 2; }
[[ -x $FX_DKMS ]] || { echo "$FX_DKMS is not executable" >&2; exit 2; }
ROUNDS=${CONCURRENCY_ROUNDS:-3}
NAP=${CONCURRENCY_SLEEP:-1}
FX_TIMEOUT=${CONCURRENCY_TIMEOUT:-120}
WORK=$(mktemp -d /tmp/dkms-concurrency.XXXXXX)
chmod 755 "$WORK"   # sandboxed builds run as an unprivileged user that must reach the trees
# Run a private copy: the original may be relinked by a concurrent build during the run.
ORIGINAL=$FX_DKMS
cp -- "$ORIGINAL" "$WORK/dkms" && FX_DKMS=$WORK/dkms || { echo "cannot copy $ORIGINAL" >&2; exit 2; }
START=$SECONDS
passed=0 failed=0
check() { # check NAME OK [DETAIL]
    if (($2)); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "round $round: FAIL $1${3:+: $3}"; fi
}
echo "dkms: $ORIGINAL ($("$FX_DKMS" --version 2>&1 | head -1)); work dir $WORK"

for ((round = 1; round <= ROUNDS; round++)); do
    # shellcheck disable=SC2034 # read by lib.sh
    FX_MODFILES=() FX_MODVER=()
    fx_init "$WORK/round-$round"
    R=$FX_ROOT K=$FX_KVER A=$FX_ARCH
    fx_fake_kernel "$K" "$NAP"
    for m in A B C D O; do fx_module "$m" 1.0 64 "mod$m"; done
    for m in A B C O; do fx_dkms add "$R/pk/$m-1.0" >>"$R/prep.out" 2>&1 || { echo "preparation failed: add $m (see $R/prep.out)"; exit 2; }; done
    fx_dkms install O/1.0 -k "$K" >>"$R/prep.out" 2>&1 || { echo "preparation failed: install O (see $R/prep.out)"; exit 2; }
    recovers=0
    fx_dkms fsck >"$R/fsck.out" 2>&1
    grep -qE 'Usage:|Unknown action' "$R/fsck.out" || recovers=1

    cmds=("install A/1.0 -k $K" "install A/1.0 -k $K" "install B/1.0 -k $K" "install B/1.0 -k $K"
        "build C/1.0 -k $K" "remove A/1.0 --all" "add $R/pk/D-1.0" "status")
    mapfile -t T < <(fx_treeopts)
    pids=()
    for i in "${!cmds[@]}"; do
        (
            while [[ ! -e $R/go ]]; do sleep 0.005; done
            # shellcheck disable=SC2086
            exec env -i PATH="/usr/sbin:/usr/bin:/sbin:/bin" HOME="$R" TMPDIR="$R/tmp" \
                SWIFT_DKMS_SYSCONFDIR="$R/etc" try_sign_modules=false parallel_jobs=1 LC_ALL=C \
                timeout -k 5 "$FX_TIMEOUT" "$FX_DKMS" ${cmds[$i]} "${T[@]}"
        ) >"$R/inv$i.out" 2>"$R/inv$i.err" </dev/null &
        pids+=($!)
    done
    # readers while the writers run: status every 50 ms until they have all ended (only with
    # the readers' rule: dkms with fsck); each read must show a committed state
    reader=
    if ((recovers)); then
        (
            while [[ ! -e $R/go ]]; do sleep 0.005; done
            n=0
            while [[ ! -e $R/done ]]; do
                n=$((n + 1))
                env -i PATH="/usr/sbin:/usr/bin:/sbin:/bin" HOME="$R" TMPDIR="$R/tmp" SWIFT_DKMS_SYSCONFDIR="$R/etc" \
                    try_sign_modules=false LC_ALL=C timeout -k 5 "$FX_TIMEOUT" "$FX_DKMS" status "${T[@]}" >"$R/read$n.out" 2>/dev/null
                echo "$?" >"$R/read$n.rc"
                sleep 0.05
            done
        ) </dev/null &
        reader=$!
    fi
    sleep 0.2
    t0=$SECONDS
    touch "$R/go"
    for i in "${!cmds[@]}"; do
        wait "${pids[$i]}"; rc=$?
        echo "$rc" >"$R/inv$i.rc"
        detail="dkms ${cmds[$i]%% /*} exited $rc"
        ((rc == 124 || rc == 137)) && detail="dkms ${cmds[$i]%% /*} timed out after ${FX_TIMEOUT}s"
        ((rc != 0)) && detail+=": $(grep -v '^$' "$R/inv$i.err" "$R/inv$i.out" -h | grep -v 'waiting for the lock' | head -3 | tr '\n' ' ')"
        check "exit-$i (${cmds[$i]%% /*}...)" $((rc == 0)) "$detail"
    done
    wall=$((SECONDS - t0))
    if [[ -n $reader ]]; then
        touch "$R/done"; wait "$reader"
        torn=() reads=0
        for f in "$R"/read*.out; do
            [[ -e $f ]] || continue
            reads=$((reads + 1))
            [[ $(cat "${f%.out}.rc") == 0 ]] || torn+=("${f##*/}: exit $(cat "${f%.out}.rc")")
            # the text's own classes (the trees have moved on since: b- and c- compare with them)
            while IFS= read -r l; do torn+=("${f##*/}: $l"); done < <(fx_reader_check "$f" | grep -E '^\[r-(remark|a-)')
        done
        check "reads-committed ($reads reads while the writers ran)" $((${#torn[@]} == 0 && reads > 0)) "$(printf '%s; ' "${torn[@]:0:5}")"
    fi

    bad_lines=$(fx_check "$R/inv7.out" | grep '^\[a-' || true)
    check status-output $((${#bad_lines} == 0)) "$bad_lines"

    fx_dkms status >"$R/final.status" 2>"$R/final.status.err"
    problems=$(fx_check "$R/final.status" "$recovers" | grep -v '^(note)' || true)
    check consistent $((${#problems} == 0)) "$(echo "$problems" | head -5 | tr '\n' ';')"
    st=$R/final.status
    miss=()
    grep -qx "B/1.0, $K, $A: installed" "$st" || miss+=("B not installed")
    grep -qx "C/1.0, $K, $A: built" "$st" || miss+=("C not built")
    grep -qx "D/1.0: added" "$st" || miss+=("D not added")
    grep -qx "O/1.0, $K, $A: installed" "$st" || miss+=("O not installed")
    a_state=$(grep '^A/1.0[,:]' "$st" | sed 's/.*: //' | tr '\n' ' ')
    [[ -z $a_state || $a_state == "installed " ]] || miss+=("A is '$a_state' (installed or absent expected)")
    check final-state $((${#miss[@]} == 0)) "$(IFS=';'; echo "${miss[*]}")"

    waited=$(grep -hE "^dkms: waiting for the lock on $R/d held by process [0-9]+\.\.\.$" "$R"/inv*.err | wc -l)
    check waited $((waited > 0)) "no invocation printed 'dkms: waiting for the lock on $R/d held by process PID...'"

    cyc=()
    if grep -q '^A/1.0[,:]' "$st"; then fx_dkms remove A/1.0 --all >"$R/cycle.out" 2>&1 || cyc+=("remove failed"); fi
    fx_dkms add "$R/pk/A-1.0" >>"$R/cycle.out" 2>&1 || cyc+=("add failed")
    fx_dkms install A/1.0 -k "$K" >>"$R/cycle.out" 2>&1 || cyc+=("install failed")
    fx_dkms status >"$R/cycle.status" 2>&1
    grep -qx "A/1.0, $K, $A: installed" "$R/cycle.status" || cyc+=("A not installed")
    p=$(fx_check "$R/cycle.status" "$recovers" | grep -v '^(note)' || true)
    [[ -z $p ]] || cyc+=("$(echo "$p" | head -3 | tr '\n' ';')")
    check cycle-A $((${#cyc[@]} == 0)) "$(IFS=';'; echo "${cyc[*]}")"
    echo "round $round: ${wall}s, $waited invocation(s) waited for the lock, A ended ${a_state:-absent}"
done

echo "run time $((SECONDS - START))s"
if ((failed == 0)) && [[ ${CONCURRENCY_KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "evidence kept in $WORK"; fi
echo "$passed passed, $failed failed"
((failed == 0))
