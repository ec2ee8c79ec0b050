# shellcheck shell=bash disable=SC2016,SC2028,SC2034
# Shared helpers of tests/faults/run-fault-injection.sh and run-concurrency.sh.
# Sourced, not run. Everything happens in private trees under a sandbox root:
#   ROOT/d    --dkmstree          ROOT/s    --sourcetree
#   ROOT/i    --installtree       ROOT/etc  SWIFT_DKMS_SYSCONFDIR (stand-in for /etc/dkms)
#   ROOT/tmp  TMPDIR              ROOT/pk   module sources handed to `dkms add PATH`
#   ROOT/ref  reference .ko files (what a correct build of each module produces)
# The kernel is fake: I/KVER/build holds a Makefile standing in for kbuild that compiles
# each obj-m C file of M= into an ELF object with a .modinfo section (plus padding so that
# copies take measurable time and truncation is visible).

FX_KVER=${FX_KVER:-6.1.0-fx}
FX_ARCH=$(uname -m)
declare -gA FX_MODFILES=()   # module name -> its .ko basenames (without .ko)
declare -gA FX_MODVER=()     # module name -> version

# fx_init ROOT: creates the sandbox directories.
fx_init() {
    FX_ROOT=$1
    mkdir -p "$FX_ROOT"/{d,s,i,etc,tmp,pk,ref}
    # Sandboxed builds run as an unprivileged user, which must reach the trees (mktemp -d
    # makes 0700 directories; /var/lib/dkms and /usr/src are 0755): the root is opened, and
    # the temporary directories above it become searchable (not listable).
    chmod 755 "$FX_ROOT"
    local d=$FX_ROOT
    while d=$(dirname "$d"); [[ $d == /tmp/* || $d == /var/tmp/* ]]; do chmod a+x "$d"; done
}

# fx_env: the environment every dkms invocation gets (no signing, private /etc/dkms).
# FX_PATH replaces the default PATH (e.g. to put wrapper tools first).
fx_env() {
    env -i PATH="${FX_PATH:-/usr/sbin:/usr/bin:/sbin:/bin}" HOME="$FX_ROOT" TMPDIR="$FX_ROOT/tmp" \
        SWIFT_DKMS_SYSCONFDIR="$FX_ROOT/etc" try_sign_modules=false parallel_jobs=1 LC_ALL=C "$@"
}

fx_treeopts() { printf '%s\n' --dkmstree "$FX_ROOT/d" --sourcetree "$FX_ROOT/s" --installtree "$FX_ROOT/i"; }

# fx_dkms ARGS...: runs $FX_DKMS with the tree options, bounded by FX_TIMEOUT seconds.
# FX_ENV (an array of NAME=VALUE) is added to fx_env's environment and wins over it (e.g.
# FX_ENV=(try_sign_modules=true DKMS_KERNEL_HOOK=postinst)).
FX_ENV=()
fx_dkms() {
    local -a t; mapfile -t t < <(fx_treeopts)
    fx_env "${FX_ENV[@]}" timeout -k 5 "${FX_TIMEOUT:-120}" "$FX_DKMS" "$@" "${t[@]}"
}

# fx_machine WORK NAME INIT: makes NAME the active machine, whose trees are always at WORK/m
# (as on a fleet, every machine has the same paths: cache keys cover the build command and
# its paths). The previous machine is moved to WORK/machines/ITS_NAME; a new one is made by
# fx_init WORK/m, then the command INIT (run with NAME). FX_MACHINE names the active one.
FX_MACHINE=
fx_machine() {
    local work=$1 name=$2 init=$3
    [[ $FX_MACHINE == "$name" ]] && return
    mkdir -p "$work/machines"
    [[ -n $FX_MACHINE ]] && mv "$work/m" "$work/machines/$FX_MACHINE"
    if [[ -d $work/machines/$name ]]; then
        mv "$work/machines/$name" "$work/m"
        FX_ROOT=$work/m
    else
        fx_init "$work/m"
        FX_MACHINE=$name
        "$init" "$name"
    fi
    FX_MACHINE=$name
}

# fx_tool_wrappers DIR LOG MODE_FILE TOOL...: DIR/TOOL for each TOOL on PATH. A call appends
# "TOOL ARGS" to LOG (made writable by all: the build sandbox's user calls make) and prints
# "fx-wrapper[MODE]: TOOL ARGS" on standard error (a sandboxed build may not reach LOG; dkms
# keeps the line in make.log); then, when MODE_FILE says "fail", exits 97, else runs the real
# tool. DIR must be reachable by the build user (not a private /tmp directory).
fx_tool_wrappers() {
    local dir=$1 log=$2 mode=$3 tool real; shift 3
    : >"$log"; chmod 666 "$log"
    for tool in "$@"; do
        real=$(command -v "$tool" || true)
        [[ -n $real && $real != "$dir/$tool" ]] || continue
        {
            echo '#!/bin/sh'
            echo "m=\$(cat $mode 2>/dev/null)"
            echo "echo \"$tool \$*\" >>$log 2>/dev/null"
            echo "echo \"fx-wrapper[\$m]: $tool \$*\" >&2"
            echo '[ "$m" = fail ] && exit 97'
            echo "exec $real \"\$@\""
        } >"$dir/$tool"
        chmod 755 "$dir/$tool"
    done
}

# fx_http_serve DIR LOG: `python3 -m http.server` for DIR on 127.0.0.1, a free port; sets
# FX_HTTP_PID and FX_HTTP_URL (http://127.0.0.1:PORT). Its request log goes to LOG.
fx_http_serve() {
    python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$1" >"$2" 2>&1 &
    FX_HTTP_PID=$!
    local _
    for _ in $(seq 100); do grep -q 'port [0-9]' "$2" && break; sleep 0.1; done
    FX_HTTP_URL=http://127.0.0.1:$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$2" | head -1)
}

# fx_fake_kernel KVER SLEEP_SECONDS: fake kbuild in I/KVER/build; each module compile sleeps
# SLEEP_SECONDS first (0 = none). Compiles from inside M= so the object does not embed the
# build path: the output is identical wherever dkms builds it.
fx_fake_kernel() {
    local nap=${2:-0} b="$FX_ROOT/i/$1/build"
    mkdir -p "$b/include"
    : >"$b/.config"
    {
        echo '# Stand-in for kbuild (tests/faults).'
        echo 'objs := $(shell sed -n '\''s/^obj-m[ \t]*[:+]*=//p'\'' $(M)/Makefile)'
        echo 'mods := $(patsubst %.o,$(M)/%.ko,$(objs))'
        echo 'all modules: $(mods)'
        echo '$(M)/%.ko: $(M)/%.c'
        if [[ $nap != 0 ]]; then printf '\tsleep %s\n' "$nap"; fi
        printf '\tcd $(M) && cc -c $*.c -o $*.ko\n'
        echo 'clean:'
        printf '\trm -f $(M)/*.ko\n'
    } >"$b/Makefile"
}

# fx_module NAME VERSION PAD_KB MOD...: writes ROOT/pk/NAME-VERSION (dkms.conf, Makefile, one
# C file per MOD) and the reference objects ROOT/ref/MOD.ko (stripped with `strip -g`, as
# dkms does to built modules unless STRIP[n]="no").
fx_module() {
    local name=$1 ver=$2 pad=$3; shift 3
    local dir="$FX_ROOT/pk/$name-$ver" i=0 m
    mkdir -p "$dir"
    {
        echo "PACKAGE_NAME=\"$name\""
        echo "PACKAGE_VERSION=\"$ver\""
        for m in "$@"; do
            echo "BUILT_MODULE_NAME[$i]=\"$m\""
            echo "DEST_MODULE_LOCATION[$i]=\"/extra\""
            i=$((i + 1))
        done
        echo 'AUTOINSTALL="yes"'
    } >"$dir/dkms.conf"
    echo "obj-m := $(printf '%s.o ' "$@")" >"$dir/Makefile"
    for m in "$@"; do
        cat >"$dir/$m.c" <<EOF
__attribute__((section(".modinfo"), used, aligned(1))) static const char v[] = "version=$ver";
__attribute__((section(".modinfo"), used, aligned(1))) static const char s[] = "srcversion=${m^^}$ver";
__attribute__((section(".modinfo"), used, aligned(1))) static const char l[] = "license=GPL";
__attribute__((used)) static const char pad[$((pad > 0 ? pad * 1024 : 64))] = "$m";
EOF
        (cd "$dir" && cc -c "$m.c" -o "$FX_ROOT/ref/$m.ko" && strip -g "$FX_ROOT/ref/$m.ko")
    done
    FX_MODFILES[$name]="$*"
    FX_MODVER[$name]=$ver
}

# fx_check STATUS_FILE [STRICT]: consistency checks of the trees against a `dkms
# status` output. Prints one "[class] detail" line per problem, "(note) ..." lines for
# observations that are not counted, and returns the number of problems.
#   a-parse a-broken   status line that does not parse / a module reported broken
#   b-missing b-differs an installed module's file absent from I/KVER/updates/dkms, or not
#                      byte-identical to D/m/v/KVER/ARCH/module (or that copy not the reference)
#   c-orphan           a .ko in I/KVER/updates/dkms no installed module owns
#   d-tmp d-truncated d-incomplete-built   temporary names in the install tree, zero-size or
#                      short .ko, a built dir missing or holding a bad copy of a module
#   d-journal          (STRICT bit 1: after a mutating command of a dkms that journals)
#                      journal entries still pending in D/.journal
#   d-tmp-dkmstree     (STRICT bit 2: after `dkms fsck`) temporary names left in the dkms
#                      tree (a killed build's D/m/v/KVER/.tmp_ARCH_XXXXXX is not journaled:
#                      only fsck or a remove of that module promises to clean it)
# Without the bit, the same findings are printed as notes.
#   x-source           a listed module whose source link is not the complete source
fx_check() {
    local status=$1 strict=${2:-0} problems=0 line m v k a st f dst tree ref
    local D="$FX_ROOT/d" I="$FX_ROOT/i"
    local -A owned=() listed=()
    say() { echo "$*"; [[ $1 == "(note)" ]] || problems=$((problems + 1)); }
    while IFS= read -r line; do
        [[ -z $line ]] && continue
        if [[ $line =~ ^([^/,:\ ]+)/([^/,:\ ]+):\ (added|broken)$ ]]; then
            m=${BASH_REMATCH[1]} v=${BASH_REMATCH[2]} st=${BASH_REMATCH[3]} k='' a=''
        elif [[ $line =~ ^([^/,:\ ]+)/([^/,:\ ]+),\ ([^,\ ]+),\ ([^:\ ]+):\ (built|installed)(\ \(.*\))?$ ]]; then
            m=${BASH_REMATCH[1]} v=${BASH_REMATCH[2]} k=${BASH_REMATCH[3]} a=${BASH_REMATCH[4]} st=${BASH_REMATCH[5]}
            [[ -n ${BASH_REMATCH[6]} && ${BASH_REMATCH[6]} != " (Original modules exist)" ]] &&
                say "(note)" "status remark: $line"
        else
            say "[a-parse]" "unparsable status line: $line"; continue
        fi
        listed[$m/$v]=1
        [[ $st == broken ]] && { say "[a-broken]" "$line"; continue; }
        if [[ -z ${FX_MODFILES[$m]+x} ]]; then say "[a-parse]" "unknown module in status: $line"; continue; fi
        [[ $st == added ]] && continue
        tree="$D/$m/$v/$k/$a/module"
        for f in ${FX_MODFILES[$m]}; do
            ref="$FX_ROOT/ref/$f.ko"
            if [[ ! -f $tree/$f.ko ]]; then
                say "[d-incomplete-built]" "$m/$v $st but $tree/$f.ko is missing"
            elif ! cmp -s "$tree/$f.ko" "$ref"; then
                say "[d-incomplete-built]" "$m/$v $st but $tree/$f.ko ($(stat -c %s "$tree/$f.ko") bytes) differs from a correct build ($(stat -c %s "$ref") bytes)"
            fi
            [[ $st == installed ]] || continue
            dst="$I/$k/updates/dkms/$f.ko"
            owned[$k/$f.ko]=1
            if [[ ! -e $dst ]]; then
                say "[b-missing]" "$m/$v installed but $dst is missing"
            elif ! cmp -s "$dst" "$tree/$f.ko"; then
                say "[b-differs]" "$m/$v installed but $dst ($(stat -c %s "$dst") bytes) differs from $tree/$f.ko"
            fi
        done
    done <"$status"
    # c, d: every file under I/KVER/updates/dkms
    for k in "$I"/*/; do
        k=${k%/}; k=${k##*/}
        [[ -d $I/$k/updates/dkms ]] || continue
        for dst in "$I/$k/updates/dkms"/* "$I/$k/updates/dkms"/.[!.]*; do
            [[ -e $dst || -L $dst ]] || continue
            f=${dst##*/}
            if [[ $f == .* || $f == *.dkms-new* || $f == *.tmp* ]]; then
                say "[d-tmp]" "temporary file left in the install tree: $dst ($(stat -c %s "$dst" 2>/dev/null) bytes)"
                continue
            fi
            if [[ $f == *.ko || $f == *.ko.* ]]; then
                if [[ ! -s $dst ]]; then
                    say "[d-truncated]" "zero-size module $dst"
                elif [[ -f $FX_ROOT/ref/$f ]] && (($(stat -c %s "$dst") < $(stat -c %s "$FX_ROOT/ref/$f"))); then
                    say "[d-truncated]" "short module $dst: $(stat -c %s "$dst") of $(stat -c %s "$FX_ROOT/ref/$f") bytes"
                fi
                [[ -n ${owned[$k/$f]+x} ]] || say "[c-orphan]" "$dst belongs to no installed module"
            fi
        done
    done
    while IFS= read -r f; do
        say "[d-tmp]" "temporary file left in the install tree: $f"
    done < <(find "$I" -mindepth 2 -path "$I/*/build" -prune -o \( -name '.tmp*' -o -name '*.dkms-new*' \) -print 2>/dev/null |
        grep -v "^$I/[^/]*/updates/dkms/[^/]*$")
    # temporary names in the dkms tree: counted only after a command that must have recovered
    while IFS= read -r f; do
        if ((strict & 2)); then say "[d-tmp-dkmstree]" "temporary left in the dkms tree: $f"
        else say "(note)" "temporary left in the dkms tree: $f"; fi
    done < <(find "$D" -mindepth 1 -path "$D/.journal" -prune -o \( -name '.tmp*' -o -name '*.dkms-new*' \) -print 2>/dev/null)
    if [[ -d $D/.journal ]] && [[ -n $(ls -A "$D/.journal") ]]; then
        if ((strict & 1)); then say "[d-journal]" "journal entries still pending: $(ls -A "$D/.journal" | tr '\n' ' ')"
        else say "(note)" "journal entries pending: $(ls -A "$D/.journal" | tr '\n' ' ')"; fi
    fi
    # listed modules must have their complete source
    for m in "${!listed[@]}"; do
        v=${m#*/}; f=${m%%/*}
        [[ -n ${FX_MODFILES[$f]+x} ]] || continue
        if [[ ! -d $D/$m/source ]]; then
            grep -q "^$f/$v: broken" "$status" || say "[x-source]" "$m listed but $D/$m/source is not a directory"
        elif ! diff -rq "$FX_ROOT/pk/$f-$v" "$D/$m/source/" >/dev/null 2>&1; then
            say "[x-source]" "$m listed but its source differs from the package: $(diff -rq "$FX_ROOT/pk/$f-$v" "$D/$m/source/" 2>&1 | head -3 | tr '\n' ';')"
        fi
    done
    # residue invisible to status (not counted)
    for f in "$D"/*/*; do
        [[ -e $f || -L $f ]] || continue
        m=${f#"$D"/}
        case ${m#*/} in
            kernel-*) [[ -d $f ]] || say "(note)" "dangling active link $f -> $(readlink "$f")" ;;
            *) [[ -d $f && -z ${listed[$m]+x} ]] && say "(note)" "$f exists but status does not list $m" ;;
        esac
    done
    return $problems
}

# fx_status_has STATUS_FILE REGEX
fx_status_has() { grep -Eq "$2" "$1"; }

# fx_status_from_json JSON_FILE: the `dkms status` text lines a `status --json` document
# stands for (upstream's suffixes from its flags), for comparing the two outputs.
fx_status_from_json() {
    jq -r '.entries[] | if .kernel == null then "\(.module)/\(.version): \(.state)" else
        "\(.module)/\(.version), \(.kernel), \(.arch): \(.state)"
        + (if .flags.original_modules then " (Original modules exist)" else "" end)
        + (if .flags.missing then " (Built modules are missing in the kernel modules folder)"
           elif .flags.differences then " (Differences between built and installed modules)" else "" end) end' "$1"
}

# fx_reader_check STATUS_FILE: fx_check of the status a reader saw, each problem renamed
# r-CLASS, and any remark (Differences, missing modules) counted as [r-remark]: a status
# right after a crash must show a state a writer committed (or recovery will leave).
fx_reader_check() {
    local l c
    while IFS= read -r l; do
        case $l in
            "(note) status remark: "*) echo "[r-remark] ${l#"(note) status remark: "}" ;;
            \(note\)*) ;;
            \[*) c=${l%%]*}; echo "[r-${c#[}]${l#*]}" ;;
        esac
    done < <(fx_check "$1")
}
