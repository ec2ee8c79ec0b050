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
#   read-world-keys  read the MOK key and the fleet signing key an admin made world-readable
#                    (0644) outside /tmp: only the sandbox's hiding of the keys stops it
#   network          connect to a listener on 127.0.0.1
#   unix-socket      connect to a listener on a 0666 Unix socket under /run (as the host's
#                    D-Bus, journald, nscd or resolved sockets) and send it a marker, by
#                    /run and by /var/run: a read-only mount does not stop a connect
#   write-1777       create a file in host directories anyone may write (1777) outside /tmp
#                    (under /var/local and /run): only the read-only mounts stop it
#   write-shm        create a file in the host's /dev/shm (1777), and by /run/shm
#   leave-process    leave a process running after the build
#   pre-build        PRE_BUILD (not make) writes to /etc
#   read-shadow      read /etc/shadow into the build log
#   read-rootfile    read a fresh root-only (0600) file dkms knows nothing about
#   write-rootfile   append to a root-owned 0644 file outside the trees
#   setuid-left      leave a setuid copy of a shell in the (failed, kept) build directory
#   open-left        leave its (failed, kept) build directory 0777 and a file in it 0666:
#                    allowed when root's tree then holds anything any local user may write
#   symlink-module   make the module a symbolic link to /etc/shadow
#   makelog-link     PRE_BUILD replaces make.log with a link to a root-owned 0644 file under
#                    /var/lib: allowed when that file changed
#   makelog-fifo     PRE_BUILD replaces make.log with a FIFO: allowed when dkms hangs
#                    (stopped by `timeout` after 20 s)
#   tiocsti          push "echo INJECTED" into the terminal (TIOCSTI on stdin/out/err and
#                    /dev/tty), with dkms run on a real pseudo-terminal (python3 pty); it
#                    counts as allowed when the "shell" on that terminal would read it
#   kill-dkms        SIGKILL of the dkms process (only its pid) in the middle of a build:
#                    allowed when a process of the build still exists 1 s later
#   fork-bomb        start 400 processes (build_max_processes=64 in the test's framework.conf)
#   memory-hog       allocate up to 1.5 GiB in 8 MiB steps (build_max_memory=256M)
#   tmpfs-hog        write up to 1.5 GiB into a file in /tmp in 8 MiB steps: the sandbox's
#                    /tmp is memory, so it counts against build_max_memory too
#   endless          a build that does not end for 40 s (build_time_limit=10)
# The last four are blocked when dkms stops the build with an `Error!` naming the limit
# and exit 10; the others (but kill-dkms) when nothing escaped. The makelog attempts are
# refused by dkms itself (make.log is appended to only as a regular file, without
# following a link), so they are blocked with build_sandbox=no too; the build then fails. The bounded versions keep
# the report against upstream (which has no limits) from taking the machine.
# Then (expect mode) the build user must own no file on the host outside the build
# directories (find / -xdev -uid U -o -gid G, U:G = dkms-build or nobody).
# After each build the suite checks whether the attempt had an effect outside the build
# directory. `expect` (default) requires every attempt to be blocked and the build to
# succeed: one line per attempt, then "N passed, M failed"; exit 1 on any failure.
# `report` only prints what the dkms under test allowed (for upstream dkms, which has no
# sandbox), one line per attempt, and cleans up what the attempts left.
# `control` is the positive control of `expect`: it runs the same attempts with
# build_sandbox=no and requires each to have its effect (so that "blocked" in expect mode
# means the sandbox blocked it, not that the attempt or its check is broken), except the
# makelog attempts, which dkms refuses itself and must stay blocked.
# HOSTILE_KEEP=1 keeps the work directory; HOSTILE_DEBUG=1 shows dkms' output in report mode;
# build_sandbox=no is passed on to the dkms under test.

set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../faults/lib.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 DKMS_BINARY [expect|report|control]" >&2; exit 2; }
FX_DKMS=$(readlink -f -- "$1") || { echo "cannot resolve $1" >&2; exit 2; }
MODE=${2:-expect}
[[ $MODE == control ]] && export build_sandbox=no
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
# A root-only file that dkms does not know about, outside the trees and /tmp.
ROOTFILE=/var/lib/dkms-hostile-rootonly-$ID
printf 'hostile-rootonly-%s\n' "$SECRET" >"$ROOTFILE"
chmod 600 "$ROOTFILE"
ROOTOWNED=/var/lib/dkms-hostile-rootowned-$ID
: >"$ROOTOWNED"
chmod 644 "$ROOTOWNED"
# Keys an admin made world-readable, outside /tmp (read-world-keys).
WKEYS=/var/lib/dkms-hostile-keys-$ID
mkdir -p "$WKEYS" && chmod 755 "$WKEYS"
printf -- '-----BEGIN PRIVATE KEY-----\n%s-world-mok\n-----END PRIVATE KEY-----\n' "$SECRET" >"$WKEYS/mok.key"
printf -- '-----BEGIN PRIVATE KEY-----\n%s-world-fleet\n-----END PRIVATE KEY-----\n' "$SECRET" >"$WKEYS/fleet.key"
chmod 644 "$WKEYS/mok.key" "$WKEYS/fleet.key"
# Host directories anyone may write, outside /tmp (write-1777).
OPEN_DIRS=(/var/local/dkms-hostile-1777-$ID /run/dkms-hostile-1777-$ID)
for dir in "${OPEN_DIRS[@]}"; do mkdir -p "$dir" && chmod 1777 "$dir"; done
# The file make.log is turned into a link to (makelog-link).
LOGTARGET=/var/lib/dkms-hostile-logtarget-$ID
echo "hostile-logtarget-$ID" >"$LOGTARGET"
chmod 644 "$LOGTARGET"
SHADOW_LINE=$(grep -m1 -v '^$' /etc/shadow)
# Small limits, so the limit attempts end fast (framework.conf of the dkms under test).
printf 'build_time_limit=10\nbuild_max_processes=64\nbuild_max_memory=256M\n' >"$WORK/etc/framework.conf"

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
# A listener on a Unix socket anyone may connect to (0666) under /run, as the host's
# D-Bus system bus, journald or nscd: it records what each connection sends.
SOCK=/run/dkms-hostile-$ID.sock
python3 - "$SOCK" "$WORK/unix-connections" <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666)
s.listen(16); s.settimeout(900)
while True:
    try:
        c, _ = s.accept()
    except OSError:
        break
    c.settimeout(5)
    try:
        data = c.recv(4096)
    except OSError:
        data = b""
    with open(sys.argv[2], "ab") as f: f.write(b"connection " + data + b"\n")
    c.close()
EOF
UNIX_LISTENER=$!
for _ in $(seq 50); do [[ -S $SOCK ]] && break; sleep 0.1; done
cleanup() {
    kill "$LISTENER" "$UNIX_LISTENER" 2>/dev/null
    rm -rf "$WKEYS" "${OPEN_DIRS[@]}"
    rm -f "$SOCK" "$LOGTARGET" "/dev/shm/dkms-hostile-$ID" "/dev/shm/dkms-hostile-$ID-run"
    pkill -f "hostile-sleeper-$ID" 2>/dev/null
    pkill -f "hostile-killed-$ID" 2>/dev/null
    pkill -f "hostile-bomb-$ID" 2>/dev/null
    rm -f "/etc/dkms-hostile-$ID" "/root/.dkms-hostile-$ID" "/etc/dkms-hostile-pre-$ID" "$ROOTFILE" "$ROOTOWNED" "/tmp/hostile-tmpfs-$ID"
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
    [read-world-keys]="cat $WKEYS/mok.key $WKEYS/fleet.key"
    [unix-socket]="python3 unix.py"
    [write-1777]="touch ${OPEN_DIRS[0]}/injected ${OPEN_DIRS[1]}/injected"
    [write-shm]="touch /dev/shm/dkms-hostile-$ID /run/shm/dkms-hostile-$ID-run"
    [makelog-link]=":"
    [makelog-fifo]=":"
    [network]="python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $PORT), 5)'"
    [leave-process]="setsid python3 -c 'import time; time.sleep(300)' hostile-sleeper-$ID </dev/null >/dev/null 2>&1 &"
    [pre-build]=":"
    [read-shadow]="cat /etc/shadow"
    [read-rootfile]="cat $ROOTFILE"
    [write-rootfile]="echo hostile >>$ROOTOWNED"
    [setuid-left]="cp /bin/sh rootsh && chmod 4755 rootsh && false"
    [open-left]="echo x >open && chmod 0666 open && chmod 0777 . && false"
    [symlink-module]=":"
    [tiocsti]="python3 tiocsti.py"
    [kill-dkms]="python3 -c 'import time; time.sleep(60)' hostile-killed-$ID"
    [fork-bomb]="for i in \$(seq 400); do python3 -c 'import time; time.sleep(8)' hostile-bomb-$ID & done; wait"
    [memory-hog]="python3 hog.py"
    [tmpfs-hog]="python3 tmphog.py"
    [endless]="sleep 40"
)
# The exit codes a blocked attempt may have (default: the build succeeds).
declare -A EXPECT_RC=([setuid-left]='[1-9]*' [open-left]='[1-9]*' [symlink-module]='[1-9]*' [kill-dkms]='*' [makelog-link]='[1-9]*' [makelog-fifo]='[1-9]*'
    [fork-bomb]=10 [memory-hog]=10 [tmpfs-hog]=10 [endless]=10)
declare -A LIMIT=([fork-bomb]=build_max_processes [memory-hog]=build_max_memory [tmpfs-hog]=build_max_memory [endless]=build_time_limit)
# What PRE_BUILD runs (in the build directory, where the script lies), for the attempts that have one.
declare -A PRE=([pre-build]="touch /etc/dkms-hostile-pre-$ID"
    [makelog-link]="cd \"\$(dirname \"\$0\")\" && rm -f make.log && ln -s $LOGTARGET make.log"
    [makelog-fifo]="cd \"\$(dirname \"\$0\")\" && rm -f make.log && mkfifo make.log")
# How long dkms may take (the FIFO makes upstream hang).
declare -A TIMEOUT=([makelog-fifo]=20)
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
        read-world-keys) grep -rqs -- "$SECRET-world" "$D" ;;
        network) sleep 0.2; [[ -s $WORK/connections ]] ;;
        unix-socket) sleep 0.2; grep -qs "hostile-$ID" "$WORK/unix-connections" ;;
        write-1777) [[ -e ${OPEN_DIRS[0]}/injected || -e ${OPEN_DIRS[1]}/injected ]] ;;
        write-shm) [[ -e /dev/shm/dkms-hostile-$ID || -e /dev/shm/dkms-hostile-$ID-run ]] ;;
        makelog-link) [[ $(cat "$LOGTARGET") != "hostile-logtarget-$ID" ]] ;;
        makelog-fifo) [[ $rc == 124 || $rc == 137 ]] ;;
        leave-process) sleep 0.5; pgrep -f "hostile-sleeper-$ID" >/dev/null ;;
        pre-build) [[ -e /etc/dkms-hostile-pre-$ID ]] ;;
        read-shadow|symlink-module) grep -rqsF -- "$SHADOW_LINE" "$D" ;;
        read-rootfile) grep -rqs -- "hostile-rootonly-$SECRET" "$D" ;;
        write-rootfile) [[ -s $ROOTOWNED ]] ;;
        setuid-left) [[ -n $(find "$D" -perm -4000 -user root 2>/dev/null) ]] ;;
        open-left) [[ -n $(find "$D/$m" \( -type f -o -type d \) -perm -0002 2>/dev/null) ]] ;;
        tiocsti) grep -q "INJECTED-$ID" "$WORK/tty-input" ;;
        kill-dkms) sleep 1; pgrep -f "hostile-killed-$ID" >/dev/null && { [[ -n ${HOSTILE_DEBUG:-} ]] && ps -o pid,ppid,user,stat,args -p "$(pgrep -d, -f "hostile-killed-$ID")"; true; } ;;
        fork-bomb|memory-hog|tmpfs-hog|endless) ! { [[ $rc == 10 ]] && grep -q "^Error!" <<<"$out" && grep -q "${LIMIT[$1]}" <<<"$out" && grep -q "hostile-$1/1.0" <<<"$out" && grep -q "make.log" <<<"$out"; } ;;
    esac
}

# run_on_pty CMD...: runs CMD with a pseudo-terminal as its controlling terminal and
# standard streams, like an admin's shell; afterwards saves what that shell would read
# next from the terminal (input pushed into it) in $WORK/tty-input, and prints the output.
run_on_pty() {
    python3 - "$WORK/tty-input" "$@" <<'PYEOF'
import os, pty, sys, termios, select
out = sys.argv[1]
import fcntl
master, slave = os.openpty()
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2): os.dup2(slave, fd)
    os.close(master); os.close(slave)
    os.execvp(sys.argv[2], sys.argv[2:])
# The shell's own hold on the terminal (its slave side), read from at the end.
os.set_blocking(slave, False)
data = b""
done = 0
while True:
    try:
        r, _, _ = select.select([master], [], [], 1)
        if r:
            chunk = os.read(master, 65536)
            if not chunk: break
            data += chunk
    except OSError:
        break
    done, status = os.waitpid(pid, os.WNOHANG)
    if done: break
if not done:
    _, status = os.waitpid(pid, 0)
sys.stdout.write(data.decode(errors="replace"))
# What the shell would read next: what is queued on the terminal's input.
attrs = termios.tcgetattr(slave); attrs[3] &= ~termios.ICANON; termios.tcsetattr(slave, termios.TCSANOW, attrs)
queued = b""
try:
    while True:
        chunk = os.read(slave, 4096)
        if not chunk: break
        queued += chunk
except OSError:
    pass
open(out, "wb").write(queued)
sys.exit(os.waitstatus_to_exitcode(status))
PYEOF
}

passed=0 failed=0
ALL="write-etc write-root write-source write-modules write-dkmstree poison-cache read-key read-fleet-key read-world-keys network"
ALL+=" unix-socket write-1777 write-shm leave-process pre-build read-shadow read-rootfile write-rootfile setuid-left open-left symlink-module"
ALL+=" makelog-link makelog-fifo tiocsti kill-dkms fork-bomb memory-hog tmpfs-hog endless"
for name in ${HOSTILE_ONLY:-$ALL}; do
    m=hostile-$name
    src=$S/$m-1.0
    mkdir -p "$src"
    {
        echo "PACKAGE_NAME=\"$m\""
        echo 'PACKAGE_VERSION="1.0"'
        echo "BUILT_MODULE_NAME[0]=\"hostile\""
        echo 'DEST_MODULE_LOCATION[0]="/extra"'
        echo 'MAKE[0]="make -f hostile.mk"'
        [[ -n ${PRE[$name]:-} ]] && echo 'PRE_BUILD="pre.sh"'
    } >"$src/dkms.conf"
    if [[ $name == symlink-module ]]; then
        printf 'all:\n\tln -sf /etc/shadow hostile.ko\n' >"$src/hostile.mk"
    else
        printf 'all:\n\t%s%s\n\tcc -c hostile.c -o hostile.ko\n' "$([[ $name == setuid-left || $name == open-left ]] || echo -)" "${ATTEMPT[$name]//\$/\$\$}" >"$src/hostile.mk"
    fi
    echo 'static const char m[] __attribute__((used)) = "hostile";' >"$src/hostile.c"
    printf '#!/bin/sh\n%s\nexit 0\n' "${PRE[$name]:-:}" >"$src/pre.sh"
    # By /run and by /var/run (a link to it on Debian).
    cat >"$src/unix.py" <<PYEOF
import socket
for p in ("$SOCK", "/var$SOCK"):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(p); s.sendall(b"hostile-$ID"); s.close(); print("connected to", p)
    except OSError as e:
        print(p, e)
PYEOF
    cat >"$src/tiocsti.py" <<PYEOF
import fcntl, os, termios
for fd in (0, 1, 2, -1):
    try:
        f = os.open("/dev/tty", os.O_RDWR) if fd < 0 else fd
        for c in b"echo INJECTED-$ID\\n":
            fcntl.ioctl(f, termios.TIOCSTI, bytes([c]))
        print("TIOCSTI worked on", fd if fd >= 0 else "/dev/tty")
    except OSError as e:
        print("TIOCSTI on", fd if fd >= 0 else "/dev/tty", "failed:", e)
PYEOF
    printf 'import time\na = []\nfor i in range(192):\n    a.append(b"x" * (8 << 20))\n    time.sleep(0.01)\n' >"$src/hog.py"
    printf 'import time\nwith open("/tmp/hostile-tmpfs-%s", "wb") as f:\n    for i in range(192):\n        f.write(b"x" * (8 << 20))\n        f.flush()\n        time.sleep(0.05)\n' "$ID" >"$src/tmphog.py"
    chmod +x "$src/pre.sh"
    rm -f "$WORK/connections" "$WORK/unix-connections"
    mok=$D/mok.key fleet=$WORK/fleet.key
    [[ $name == read-world-keys ]] && mok=$WKEYS/mok.key fleet=$WKEYS/fleet.key
    cmd=(fx_env mok_signing_key="$mok" build_cache_signing_key="$fleet" build_sandbox="${build_sandbox:-}")
    # fx_env's environment, as one command (env) for what must run dkms as a direct child.
    direct=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$WORK" TMPDIR="$WORK/tmp" SWIFT_DKMS_SYSCONFDIR="$WORK/etc"
        try_sign_modules=false parallel_jobs=1 LC_ALL=C mok_signing_key="$D/mok.key" build_cache_signing_key="$WORK/fleet.key"
        build_sandbox="${build_sandbox:-}")
    args=(build "$m/1.0" -k "$FX_KVER" --dkmstree "$D" --sourcetree "$S" --installtree "$I")
    case $name in
        tiocsti)
            out=$(run_on_pty "${direct[@]}" timeout -k 5 120 "$FX_DKMS" "${args[@]}" 2>&1)
            rc=$? ;;
        kill-dkms)
            # Started directly (not through a shell function): $! is dkms itself.
            "${direct[@]}" "$FX_DKMS" "${args[@]}" >"$WORK/kill.out" 2>&1 &
            dkms_pid=$!
            for _ in $(seq 100); do pgrep -f "hostile-killed-$ID" >/dev/null && break; sleep 0.1; done
            kill -KILL "$dkms_pid"
            wait "$dkms_pid" 2>/dev/null
            rc=$?
            out=$(cat "$WORK/kill.out") ;;
        *)
            out=$("${cmd[@]}" timeout -k 5 "${TIMEOUT[$name]:-120}" "$FX_DKMS" "${args[@]}" 2>&1)
            rc=$? ;;
    esac
    if effect "$name"; then verdict=allowed; else verdict=blocked; fi
    if [[ $MODE == report ]]; then
        printf '%-15s %s (build exit %s)\n' "$name" "$verdict" "$rc"
        [[ -n ${HOSTILE_DEBUG:-} ]] && printf '%s\n' "$out" | sed 's/^/      | /'
    elif [[ $MODE == control ]]; then
        want=allowed
        [[ $name == makelog-* ]] && want=blocked
        if [[ $verdict == "$want" ]]; then
            passed=$((passed + 1)); printf 'ok    %s %s with build_sandbox=no\n' "$name" "$verdict"
        else
            failed=$((failed + 1))
            printf 'FAIL  %s %s with build_sandbox=no, not %s (build exit %s)\n%s\n' "$name" "$verdict" "$want" "$rc" "$out" | sed '2,$s/^/      | /'
        fi
    elif [[ $verdict == blocked && $rc == ${EXPECT_RC[$name]:-0} ]]; then
        passed=$((passed + 1)); printf 'ok    %s blocked\n' "$name"
    else
        failed=$((failed + 1))
        printf 'FAIL  %s %s (build exit %s)\n%s\n%s\n' "$name" "$verdict" "$rc" "$out" "$(tail -8 "$D/$m/1.0/build/make.log" 2>/dev/null)" | sed '2,$s/^/      | /'
    fi
    # Undo what an allowed attempt left, so the next one starts clean.
    rm -f "/etc/dkms-hostile-$ID" "/root/.dkms-hostile-$ID" "/etc/dkms-hostile-pre-$ID" "$D/injected" "$D/.cache/entries/injected" \
        "$I/$FX_KVER/updates/injected.ko" "$src/injected" "$WORK/tty-input" "${OPEN_DIRS[0]}/injected" "${OPEN_DIRS[1]}/injected" \
        "/dev/shm/dkms-hostile-$ID" "/dev/shm/dkms-hostile-$ID-run"
    echo "hostile-logtarget-$ID" >"$LOGTARGET"
    : >"$ROOTOWNED"
    pkill -f "hostile-sleeper-$ID" 2>/dev/null
    pkill -KILL -f "hostile-killed-$ID" 2>/dev/null
    pkill -KILL -f "hostile-bomb-$ID" 2>/dev/null
    # A failed build leaves its directory (as upstream): remove it, so that a setuid file
    # there is not left behind.
    rm -rf "$D/$m"
done
[[ $MODE == report ]] && exit 0
# The build user owns nothing on the host (the trees of this suite are removed above).
if [[ -z ${HOSTILE_ONLY:-} && $MODE == expect ]]; then
    U=$(id -u dkms-build 2>/dev/null || id -u nobody) G=$(id -g dkms-build 2>/dev/null || id -g nobody)
    owned=$(find / -xdev \( -uid "$U" -o -gid "$G" \) -print 2>/dev/null | head -20)
    if [[ -z $owned ]]; then
        passed=$((passed + 1)); printf 'ok    the build user (%s:%s) owns no file on the host\n' "$U" "$G"
    else
        failed=$((failed + 1)); printf 'FAIL  the build user (%s:%s) owns:\n%s\n' "$U" "$G" "$owned"
    fi
fi
echo "$passed passed, $failed failed"
((failed == 0))
