#!/bin/bash
# Hostile builds: module sources whose build tries to reach outside its build directory.
#
# Usage: tests/hostile/run-hostile-builds.sh DKMS_BINARY [expect|report]
#
# Each attempt is one module, built with `dkms build` in private trees (tests/faults/lib.sh:
# fake kernel, private /etc/dkms). Its MAKE runs `make -f hostile.mk`, which tries one thing
# (ignoring failure) and then produces the module, so the build itself succeeds either way:
#   write-etc        create a file in /etc
#   write-root       create a file in /root
#   write-source     create a file in the module's own source tree
#   write-modules    create a .ko under the install tree (the stand-in for /lib/modules)
#   write-dkmstree   create a file elsewhere in the dkms tree
#   poison-cache     plant a file among the module cache's entries ($dkms_tree/.cache)
#   read-key         read the MOK private key (mok_signing_key) into the build log
#   read-fleet-key   read the module cache's fleet signing key (build_cache_signing_key)
#   network          connect to a listener on 127.0.0.1
#   leave-process    leave a process running after the build
#   pre-build        PRE_BUILD (not make) writes to /etc
# After each build the suite checks whether the attempt had an effect outside the build
# directory. `expect` (default) requires every attempt to be blocked and the build to
# succeed: one line per attempt, then "N passed, M failed"; exit 1 on any failure.
# `report` only prints what the dkms under test allowed (for upstream dkms, which has no
# sandbox), one line per attempt, and cleans up what the attempts left.
# HOSTILE_KEEP=1 keeps the work directory; build_sandbox=no is passed on to the dkms under test.

set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../faults/lib.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 DKMS_BINARY [expect|report]" >&2; exit 2; }
FX_DKMS=$(readlink -f -- "$1") || { echo "cannot resolve $1" >&2; exit 2; }
MODE=${2:-expect}
ID=$$-$RANDOM
WORK=$(mktemp -d /tmp/dkms-hostile.XXXXXX)
fx_init "$WORK"
fx_fake_kernel "$FX_KVER" 0
D=$WORK/d I=$WORK/i S=$WORK/s
SECRET="hostile-secret-$ID"
printf -- '-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n' "$SECRET" >"$D/mok.key"
chmod 600 "$D/mok.key"
printf -- '-----BEGIN PRIVATE KEY-----\n%s-fleet\n-----END PRIVATE KEY-----\n' "$SECRET" >"$WORK/fleet.key"
chmod 600 "$WORK/fleet.key"

# A listener on the loopback that records each connection it accepts.
PORT=$((20000 + RANDOM % 20000))
python3 - "$PORT" "$WORK/connections" <<'EOF' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); s.settimeout(600)
while True:
    try:
        c, _ = s.accept()
    except OSError:
        break
    with open(sys.argv[2], "a") as f: f.write("connection\n")
    c.close()
EOF
LISTENER=$!
cleanup() {
    kill "$LISTENER" 2>/dev/null
    pkill -f "hostile-sleeper-$ID" 2>/dev/null
    rm -f "/etc/dkms-hostile-$ID" "/root/.dkms-hostile-$ID" "/etc/dkms-hostile-pre-$ID"
    [[ ${HOSTILE_KEEP:-} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# The shell command each attempt runs from the build directory.
declare -A ATTEMPT=(
    [write-etc]="touch /etc/dkms-hostile-$ID"
    [write-root]="touch /root/.dkms-hostile-$ID"
    [write-source]="touch $S/hostile-write-source-1.0/injected"
    [write-modules]="mkdir -p $I/$FX_KVER/updates && touch $I/$FX_KVER/updates/injected.ko"
    [write-dkmstree]="touch $D/injected"
    [poison-cache]="mkdir -p $D/.cache/entries && touch $D/.cache/entries/injected"
    [read-key]="cat $D/mok.key"
    [read-fleet-key]="cat $WORK/fleet.key"
    [network]="python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $PORT), 5)'"
    [leave-process]="setsid python3 -c 'import time; time.sleep(300)' hostile-sleeper-$ID </dev/null >/dev/null 2>&1 &"
    [pre-build]=":"
)
# Whether the attempt had an effect (0 = it did).
effect() {
    case $1 in
        write-etc) [[ -e /etc/dkms-hostile-$ID ]] ;;
        write-root) [[ -e /root/.dkms-hostile-$ID ]] ;;
        write-source) [[ -e $S/hostile-write-source-1.0/injected ]] ;;
        write-modules) [[ -e $I/$FX_KVER/updates/injected.ko ]] ;;
        write-dkmstree) [[ -e $D/injected ]] ;;
        poison-cache) [[ -e $D/.cache/entries/injected ]] ;;
        read-key) grep -rqs -- "$SECRET" "$D/hostile-read-key" "$D/.logs/hostile-read-key" ;;
        read-fleet-key) grep -rqs -- "$SECRET-fleet" "$D/hostile-read-fleet-key" "$D/.logs/hostile-read-fleet-key" "$D/.cache" ;;
        network) sleep 0.2; [[ -s $WORK/connections ]] ;;
        leave-process) sleep 0.5; pgrep -f "hostile-sleeper-$ID" >/dev/null ;;
        pre-build) [[ -e /etc/dkms-hostile-pre-$ID ]] ;;
    esac
}

passed=0 failed=0
for name in write-etc write-root write-source write-modules write-dkmstree poison-cache read-key read-fleet-key network leave-process pre-build; do
    m=hostile-$name
    src=$S/$m-1.0
    mkdir -p "$src"
    {
        echo "PACKAGE_NAME=\"$m\""
        echo 'PACKAGE_VERSION="1.0"'
        echo "BUILT_MODULE_NAME[0]=\"hostile\""
        echo 'DEST_MODULE_LOCATION[0]="/extra"'
        echo 'MAKE[0]="make -f hostile.mk"'
        [[ $name == pre-build ]] && echo 'PRE_BUILD="pre.sh"'
    } >"$src/dkms.conf"
    printf 'all:\n\t-%s\n\tcc -c hostile.c -o hostile.ko\n' "${ATTEMPT[$name]//\$/\$\$}" >"$src/hostile.mk"
    echo 'static const char m[] __attribute__((used)) = "hostile";' >"$src/hostile.c"
    printf '#!/bin/sh\ntouch /etc/dkms-hostile-pre-%s\nexit 0\n' "$ID" >"$src/pre.sh"
    chmod +x "$src/pre.sh"
    rm -f "$WORK/connections"
    out=$(fx_env mok_signing_key="$D/mok.key" build_cache_signing_key="$WORK/fleet.key" build_sandbox="${build_sandbox:-}" timeout -k 5 120 "$FX_DKMS" build "$m/1.0" -k "$FX_KVER" \
        --dkmstree "$D" --sourcetree "$S" --installtree "$I" 2>&1)
    rc=$?
    if effect "$name"; then verdict=allowed; else verdict=blocked; fi
    if [[ $MODE == report ]]; then
        printf '%-15s %s (build exit %s)\n' "$name" "$verdict" "$rc"
    elif [[ $verdict == blocked && $rc == 0 ]]; then
        passed=$((passed + 1)); printf 'ok    %s blocked\n' "$name"
    else
        failed=$((failed + 1)); printf 'FAIL  %s %s (build exit %s)\n%s\n' "$name" "$verdict" "$rc" "$out" | sed '2,$s/^/      | /'
    fi
    # Undo what an allowed attempt left, so the next one starts clean.
    rm -f "/etc/dkms-hostile-$ID" "/root/.dkms-hostile-$ID" "/etc/dkms-hostile-pre-$ID" "$D/injected" "$D/.cache/entries/injected" \
        "$I/$FX_KVER/updates/injected.ko" "$src/injected"
    pkill -f "hostile-sleeper-$ID" 2>/dev/null
done
[[ $MODE == report ]] && exit 0
echo "$passed passed, $failed failed"
((failed == 0))
