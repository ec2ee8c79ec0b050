#!/bin/bash
# Integration tests for swift-dkms's integration files (integration/):
# the Debian kernel hooks, dkms_autoinstaller, the kernel-install plugins,
# common.postinst, the completions, the man page, framework.conf and
# dkms.service.
#
# Nothing here touches the real system. Every scenario runs in a fresh
# temporary root holding private trees (a dkms tree, a source tree, a
# /lib/modules-like install tree with fake kernels, a /boot with config
# files, an /etc/dkms stand-in) and a bin/ directory put first on PATH with
#   - a "dkms" wrapper that runs the dkms under test with --dkmstree,
#     --sourcetree and --installtree pointing into the root (and
#     SWIFT_DKMS_SYSCONFDIR at its etc/dkms), and
#   - a "uname" that reports $FAKE_KERNEL for "uname -r".
# The integration files are installed into the root with their @...@
# placeholders pointing there too.
#
# Each scenario runs in up to three variants:
#   ours      our integration files + our dkms binary
#   mixed     our integration files + upstream's dkms script
#   upstream  upstream's own files (placeholders and fixed paths rewritten
#             into a temporary copy, for comparison only) + upstream's dkms
# "mixed" against "upstream" checks our files; "ours" against "mixed"
# checks our dkms binary. Output (stdout and stderr as they interleave) and
# exit statuses must match byte for byte, after replacing the temporary
# root with <ROOT>. Without upstream's sources only "ours" runs, against
# the explicit expectations each scenario also has.
#
# Environment: DKMS_BINARY (our dkms; default .build/debug/dkms),
# UPSTREAM_SOURCES (default /work/upstream), UPSTREAM_DKMS (default
# /opt/upstream-dkms/bin/dkms), REAL_KERNEL (a kernel with headers under
# /lib/modules for the real-build scenario; "none" skips it), KEEP=1 keeps
# the temporary roots, ONLY=regex runs matching scenarios only.
#
# Prints "N passed, M failed" (and the skips) and exits 1 on failure.

set -u

here=$(cd "$(dirname "$0")" && pwd)
integration=$(dirname "$here")
repo=$(dirname "$integration")
our_dkms=${DKMS_BINARY:-$repo/.build/debug/dkms}
upstream_sources=${UPSTREAM_SOURCES:-/work/upstream}
upstream_dkms=${UPSTREAM_DKMS:-/opt/upstream-dkms/bin/dkms}
system_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
real_uname=$(PATH=$system_path command -v uname)

passed=0
failed=0
skipped=0
failures=()

pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() {
    failed=$((failed + 1))
    failures+=("$1")
    printf 'FAIL  %s\n' "$1"
    if [[ ${2:-} ]]; then printf '%s\n' "$2" | sed 's/^/      | /'; fi
}
skip() { skipped=$((skipped + 1)); printf 'skip  %s: %s\n' "$1" "$2"; }
# A listed difference of our dkms from upstream, being worked on: shown in
# full but not counted as a failure (STRICT=1 counts it).
known_count=0
known() {
    known_count=$((known_count + 1))
    knowns+=("$1 ($2)")
    printf 'KNOWN %s: %s\n' "$1" "$2"
    printf '%s\n' "$3" | sed 's/^/      | /'
}
knowns=()
notes=()
note() { notes+=("$1"); printf 'note  %s: %s\n' "$2" "$1"; }

# Differences of our dkms binary from upstream that are known and not yet
# fixed, by scenario.
declare -A known_differences=(
    [postinst_tarball_corrupt]="dkms ldtarball of a file that is not an archive: other messages and exit status 7 instead of 3"
)

if [[ ! -x $our_dkms ]]; then
    echo "our dkms binary is missing: $our_dkms (run swift build first)" >&2
    exit 1
fi

have_upstream=1
for f in "$upstream_dkms" "$upstream_sources"/dkms_common.postinst.in "$upstream_sources"/dkms_autoinstaller.in; do
    [[ -f $f ]] || have_upstream=0
done
if ((!have_upstream)); then
    echo "note: upstream dkms not found; comparisons with upstream are skipped"
fi

# dkms install, autoinstall and the kernel_* actions insist on root (only
# private trees are written, but the check is dkms's own).
is_root=1
if [[ $(id -u) != 0 ]]; then
    is_root=0
    echo "note: not root; the scenarios that run dkms are skipped"
fi

# A base directory without "-" (upstream's common.postinst cuts /boot/config-*
# names at the first "-" of the whole path).
base_tmp=${TMPDIR:-/tmp}
[[ $base_tmp == *-* || ! -d $base_tmp ]] && base_tmp=/tmp
work=$(mktemp -d "$base_tmp/dkmsintegration.XXXXXX")
chmod 755 "$work"   # sandboxed builds run as a user that must reach the trees below
if [[ ${KEEP:-} != 1 ]]; then
    trap 'rm -rf "$work"' EXIT
else
    echo "keeping $work"
fi
# Test a private copy, so that a rebuild during the run cannot interfere.
cp "$our_dkms" "$work/dkms-under-test"
our_dkms=$work/dkms-under-test

# The man page and completions with what swift-dkms adds rendered in from
# the binary's table (as packaging does), and every action and option the
# binary names in its usage: upstream's part (stdout) and the additions
# (stderr).
rendered=$work/rendered
mkdir -p "$rendered"
for f in man/dkms.8 completion/dkms.bash completion/_dkms; do
    "$integration/render-additions" "$our_dkms" <"$integration/$f" >"$rendered/${f##*/}"
done
usage_actions=$("$our_dkms" --help 2>&1 | awk '/\[action\]  = \{/ { on = 1 } on { print } on && /\}/ { on = 0 }' |
    sed -e 's/.*{//' -e 's/}.*//' | tr '|' ' ' | tr -s ' \n' '\n' | grep -v '^$' | LC_ALL=C sort -u | tr '\n' ' ')
usage_actions=${usage_actions% }
usage_options=$("$our_dkms" --help 2>&1 | grep -oE -- '\[--?[A-Za-z][A-Za-z_-]*' | tr -d '[' | LC_ALL=C sort -u | tr '\n' ' ')
usage_options=${usage_options% }

# Kernel names used by the scenarios (Debian style: VERSION-ABI-FLAVOUR).
K1=6.1.0-10-amd64
K2=6.1.0-12-amd64
K3=6.5.0-1-amd64
ARCH=$("$real_uname" -m)

# ------------------------------------------------------------------------
# Does our dkms implement an action yet?

our_dkms_lacks() {
    local out
    out=$("$our_dkms" "$1" --archive /nonexistent/archive.tar.gz --dkmstree "$work" --sourcetree "$work" --installtree "$work" 2>&1)
    [[ $out == *"not available in this build"* ]]
}
ours_lack_ldtarball=0
our_dkms_lacks ldtarball && ours_lack_ldtarball=1

# ------------------------------------------------------------------------
# The environment of one scenario run.

# The current root, variant, and the label of the last run.
E=
variant=
FAKE_KERNEL=

# Copies a template with its placeholders pointing into $E.
instantiate() {
    local from=$1 to=$2
    mkdir -p "$(dirname "$to")"
    sed -e "s|@SBINDIR@|$E/bin|g" \
        -e "s|@LIBDIR@|$E/lib/dkms|g" \
        -e "s|@MODDIR@|$E/lib/modules|g" \
        -e "s|@KCONFDIR@|$E/etc/kernel|g" \
        -e "s|@SYSCONFDIR@|$E/etc/dkms|g" \
        -e "s|@DKMSTREE@|$E/var/lib/dkms|g" \
        -e "s|@SOURCETREE@|$E/usr/src|g" \
        -e "s|@BOOTDIR@|$E/boot|g" \
        "$from" >"$to"
    chmod 755 "$to"
}

# Copies one of upstream's files, rewriting its fixed system paths into $E
# as well (comparison only; never kept).
instantiate_upstream() {
    local from=$1 to=$2
    mkdir -p "$(dirname "$to")"
    sed -e "s|/etc/dkms|$E/etc/dkms|g" \
        -e "s|/var/lib/dkms|$E/var/lib/dkms|g" \
        -e "s|/usr/src/|$E/usr/src/|g" \
        -e "s|/boot/config-|$E/boot/config-|g" \
        -e "s|@SBINDIR@|$E/bin|g" \
        -e "s|@LIBDIR@|$E/lib/dkms|g" \
        -e "s|@MODDIR@|$E/lib/modules|g" \
        -e "s|@KCONFDIR@|$E/etc/kernel|g" \
        "$from" >"$to"
    chmod 755 "$to"
}

install_our_files() {
    local k
    for k in postinst.d header_postinst.d preinst.d prerm.d; do
        instantiate "$integration/kernel/$k/dkms" "$E/etc/kernel/$k/dkms"
    done
    instantiate "$integration/dkms_autoinstaller" "$E/lib/dkms/dkms_autoinstaller"
    instantiate "$integration/common.postinst" "$E/lib/dkms/common.postinst"
    instantiate "$integration/kernel-install/40-dkms.install" "$E/lib/kernel/install.d/40-dkms.install"
    instantiate "$integration/kernel-install/40-dkms.install.redhat" "$E/lib/kernel/redhat/40-dkms.install"
}

install_upstream_files() {
    local u=$upstream_sources
    instantiate_upstream "$u/debian_kernel_postinst.d.in" "$E/etc/kernel/postinst.d/dkms"
    instantiate_upstream "$u/debian_kernel_postinst.d.in" "$E/etc/kernel/header_postinst.d/dkms"
    instantiate_upstream "$u/debian_kernel_preinst.d.in" "$E/etc/kernel/preinst.d/dkms"
    instantiate_upstream "$u/debian_kernel_prerm.d.in" "$E/etc/kernel/prerm.d/dkms"
    instantiate_upstream "$u/dkms_autoinstaller.in" "$E/lib/dkms/dkms_autoinstaller"
    instantiate_upstream "$u/dkms_common.postinst.in" "$E/lib/dkms/common.postinst"
    instantiate_upstream "$u/debian_kernel_install.d.in" "$E/lib/kernel/install.d/40-dkms.install"
    instantiate_upstream "$u/redhat_kernel_install.d.in" "$E/lib/kernel/redhat/40-dkms.install"
}

# Creates a fresh root for variant $1 (ours, mixed, upstream).
new_root() {
    variant=$1
    E=$work/$scenario.$variant
    rm -rf "$E"
    mkdir -p "$E"/{bin,tmp,etc/dkms/framework.conf.d,var/lib/dkms,usr/src,lib/modules,boot,tarballs}
    local impl
    if [[ $variant == ours ]]; then
        impl=$our_dkms
    else
        impl=$E/impl/dkms
        instantiate_upstream "$upstream_dkms" "$impl"
    fi
    cat >"$E/bin/dkms" <<EOF
#!/bin/sh
SWIFT_DKMS_SYSCONFDIR='$E/etc/dkms'
export SWIFT_DKMS_SYSCONFDIR
exec '$impl' "\$@" --dkmstree '$E/var/lib/dkms' --sourcetree '$E/usr/src' --installtree '$E/lib/modules'
EOF
    cat >"$E/bin/uname" <<EOF
#!/bin/sh
if [ "\$1" = "-r" ] && [ -n "\${FAKE_KERNEL:-}" ]; then
    echo "\$FAKE_KERNEL"
    exit 0
fi
exec '$real_uname' "\$@"
EOF
    chmod 755 "$E/bin/dkms" "$E/bin/uname"
    if [[ $variant == upstream ]]; then install_upstream_files; else install_our_files; fi
    : >"$E/transcript"
    : >"$E/hidden"
    FAKE_KERNEL=$K1
}

# The kbuild stand-in: "make -C build M=dir" compiles every object that
# dir/Makefile lists in obj-m into dir/NAME.ko.
# shellcheck disable=SC2016
fake_kbuild='# kbuild stand-in for the swift-dkms integration tests
wanted := $(strip $(shell sed -n "s/^obj-m *[:+]*= *//p" $(M)/Makefile))
targets := $(addprefix $(M)/,$(wanted:.o=.ko))
.PHONY: all modules
all modules: $(targets)
$(M)/%.ko: $(M)/%.c
	cc -c -o $@ $<
'

# kernel VERSION [headers|noheaders|nobuild|failing] [boot]
#   headers    build/ with include/ and the kbuild stand-in (default)
#   noheaders  build/ without include/
#   nobuild    only the modules directory
#   failing    build/ whose make always fails
#   boot       also a config file in boot/ (for newest-kernel detection)
kernel() {
    local k=$1 kind=${2:-headers} boot=${3:-}
    local b=$E/lib/modules/$k/build
    mkdir -p "$E/lib/modules/$k/kernel"
    case $kind in
        headers)
            mkdir -p "$b/include"
            printf '%s' "$fake_kbuild" >"$b/Makefile"
            : >"$b/.config"
            ;;
        noheaders)
            mkdir -p "$b"
            ;;
        failing)
            mkdir -p "$b/include"
            printf 'all modules:\n\t@echo "simulated compiler failure" >&2; exit 1\n' >"$b/Makefile"
            : >"$b/.config"
            ;;
        nobuild) ;;
    esac
    if [[ $boot == boot ]]; then
        echo "# config of $k" >"$E/boot/config-$k"
    fi
}

boot_config() { echo "# config of $1" >"$E/boot/config-$1"; }

# module NAME VERSION [extra dkms.conf lines...]: a source tree in usr/src
# with AUTOINSTALL=yes unless an extra line sets AUTOINSTALL.
module() {
    local name=$1 version=$2
    shift 2
    local dir=$E/usr/src/$name-$version
    mkdir -p "$dir"
    {
        echo "PACKAGE_NAME=\"$name\""
        echo "PACKAGE_VERSION=\"$version\""
        echo "BUILT_MODULE_NAME[0]=\"$name\""
        echo "DEST_MODULE_LOCATION[0]=\"/updates/dkms\""
        local line autoinstall=1
        for line in "$@"; do
            [[ $line == AUTOINSTALL=* ]] && autoinstall=0
            echo "$line"
        done
        ((autoinstall)) && echo 'AUTOINSTALL="yes"'
    } >"$dir/dkms.conf"
    echo "obj-m := $name.o" >"$dir/Makefile"
    cat >"$dir/$name.c" <<EOF
static const char mi_version[] __attribute__((section(".modinfo"), used, aligned(1))) = "version=$version";
static const char mi_license[] __attribute__((section(".modinfo"), used, aligned(1))) = "license=GPL";
EOF
}

framework() { echo "$1" >>"$E/etc/dkms/framework.conf"; }

# Runs a command in the scenario's environment and records its output
# (stdout and stderr interleaved) and exit status in the transcript.
run() {
    local label=$1
    shift
    local path=$E/bin:$system_path
    [[ ${RUN_PATH:-} ]] && path=$RUN_PATH
    (
        cd "$E" || exit 99
        exec env -i PATH="$path" HOME="$E" TMPDIR="$E/tmp" LC_ALL=C.UTF-8 \
            try_sign_modules=false parallel_jobs=1 FAKE_KERNEL="$FAKE_KERNEL" "$@"
    ) >"$E/out" 2>&1 </dev/null
    local rc=$?
    {
        printf '### %s\n' "$label"
        cat "$E/out"
        printf '### exit %s\n' "$rc"
    } >>"$E/transcript"
}

# dkms status, the installed module files, and the dkms tree layout.
snapshot() {
    run "dkms status" dkms status
    {
        echo "### installed files"
        (cd "$E/lib/modules" && find . -path '*/build' -prune -o \( -type f -o -type l \) -print | LC_ALL=C sort)
        echo "### dkms tree"
        (cd "$E/var/lib/dkms" && find . -mindepth 1 -maxdepth 4 -name '.*' -prune -o ! -name '*.log' -print | LC_ALL=C sort)
    } >>"$E/transcript"
    # Hidden bookkeeping at the top of the dkms tree is listed apart: it is
    # reported, but not compared.
    (cd "$E/var/lib/dkms" && find . -mindepth 1 -maxdepth 1 -name '.*' | LC_ALL=C sort) >>"$E/hidden"
}

# Quick handles on the installed files.
hook() { echo "$E/etc/kernel/$1/dkms"; }
lib() { echo "$E/lib/dkms/$1"; }

# Replaces the root with <ROOT>, and the line numbers in the shell's own
# diagnostics ("script: 12: cmd: not found"), which depend on the layout
# of each script rather than on its behaviour, with N.
normalized() {
    sed -e "s|$work/$scenario\.[a-z]*|<ROOT>|g" -e "s|$our_dkms|<DKMS>|g" \
        -e 's|^\(<ROOT>/[^:]*\): [0-9][0-9]*: |\1: N: |' -e 's|"time": [0-9]*}|"time": N}|' "$1"
}

# Issue 18, a fleet client: puts a stand-in for dkms first on PATH. It
# records each call (and DKMS_KERNEL_HOOK) in $E/calls; "cache locations"
# reports a shared cache unless $E/no-fleet exists; "build" and
# "autoinstall" for a kernel without headers succeed without building (as
# a fetch from the fleet would), or exit with the status in $E/fails;
# everything else goes to the scenario's dkms.
fleet_dkms() {
    mv "$E/bin/dkms" "$E/bin/dkms.real"
    cat >"$E/bin/dkms" <<STANDIN
#!/bin/sh
echo "dkms \$* (hook: \${DKMS_KERNEL_HOOK:-none})" >>'$E/calls'
if [ "\$1 \$2" = "cache locations" ]; then
    [ -e '$E/no-fleet' ] && exit 1
    echo "http://fleet.example/"
    exit 0
fi
k=
prev=
for a in "\$@"; do
    case \$prev in -k | --kernelver) k=\$a ;; esac
    prev=\$a
done
case \$1 in
build | autoinstall)
    if [ -n "\$k" ] && [ ! -d '$E/lib/modules/'"\$k/build/include" ]; then
        [ -e '$E/fails' ] && exit "\$(cat '$E/fails')"
        echo "(stand-in) \$1 for \$k from the shared cache"
        exit 0
    fi
    ;;
esac
exec '$E/bin/dkms.real' "\$@"
STANDIN
    chmod 755 "$E/bin/dkms"
    : >"$E/calls"
}

# Appends the stand-in's calls since the last time to the transcript.
fleet_calls() {
    { echo "### dkms calls"; cat "$E/calls"; } >>"$E/transcript"
    : >"$E/calls"
}

# How many lines of the transcript's last "### dkms calls" block hold $1.
calls_matching() {
    awk -v want="$1" '/^### dkms calls$/ { n = 0; on = 1; next } /^### / { on = 0 } on && index($0, want) { n++ } END { print n + 0 }' <<<"$transcript"
}

# ------------------------------------------------------------------------
# Expectations on our own transcript.

transcript=
expect() {
    # expect DESCRIPTION FIXED-TEXT-LINE: the line occurs in our transcript
    if grep -Fxq -- "$2" <<<"$transcript"; then
        pass "$scenario: $1"
    else
        fail "$scenario: $1" "missing line: $2"
    fi
}
expect_no() {
    if grep -Fq -- "$2" <<<"$transcript"; then
        fail "$scenario: $1" "unexpected text: $2"
    else
        pass "$scenario: $1"
    fi
}
expect_exit() {
    # expect_exit LABEL STATUS
    local got
    got=$(awk -v l="### $1" '$0 == l { f = 1; next } f && /^### exit / { print $3; exit }' <<<"$transcript")
    if [[ $got == "$2" ]]; then
        pass "$scenario: '$1' exits $2"
    else
        fail "$scenario: '$1' exits $2" "got exit status '${got:-none}'"
    fi
}

# ------------------------------------------------------------------------
# Running scenarios.

# scenario NAME [needs-ldtarball|differs|dkms-differs]: runs sc_NAME in
# each variant, compares, then runs check_NAME (if defined) on our
# transcript. "differs" marks a case where swift-dkms deliberately does
# something else than upstream (a documented addition): only our variant
# runs, against the expectations. "dkms-differs": our files with upstream's
# dkms must still behave as upstream's files, but our dkms deliberately
# differs (it is checked against the expectations only).
scenario() {
    scenario=$1
    local needs=${2:-}
    if [[ ${ONLY:-} && ! $scenario =~ $ONLY ]]; then return; fi
    if ((!is_root)); then
        skip "$scenario" "dkms needs root"
        return
    fi
    local variants=(ours)
    ((have_upstream)) && [[ $needs != differs ]] && variants=(ours mixed upstream)
    local ours_skipped=0
    if [[ $needs == needs-ldtarball ]] && ((ours_lack_ldtarball)); then
        ours_skipped=1
        variants=("${variants[@]/ours/}")
    fi
    local v
    for v in "${variants[@]}"; do
        [[ $v ]] || continue
        new_root "$v"
        "sc_$scenario"
        normalized "$E/transcript" >"$work/$scenario.$v.txt"
        LC_ALL=C sort -u "$E/hidden" >"$work/$scenario.$v.hidden"
    done
    if ((have_upstream)) && [[ $needs != differs ]]; then
        if cmp -s "$work/$scenario.mixed.txt" "$work/$scenario.upstream.txt"; then
            pass "$scenario: our files behave as upstream's"
        else
            fail "$scenario: our files behave as upstream's" \
                "$(diff -u --label upstream-files "$work/$scenario.upstream.txt" --label our-files "$work/$scenario.mixed.txt")"
        fi
        if ((ours_skipped)); then
            skip "$scenario: our dkms matches upstream's" "our dkms has no ldtarball yet"
        elif [[ $needs == dkms-differs ]]; then
            pass "$scenario: our dkms differs from upstream's as documented"
        elif cmp -s "$work/$scenario.mixed.txt" "$work/$scenario.ours.txt"; then
            pass "$scenario: our dkms matches upstream's"
        elif [[ ${known_differences[$scenario]:-} && ${STRICT:-} != 1 ]]; then
            known "$scenario: our dkms matches upstream's" "${known_differences[$scenario]}" \
                "$(diff -u --label upstream-dkms "$work/$scenario.mixed.txt" --label our-dkms "$work/$scenario.ours.txt")"
        else
            fail "$scenario: our dkms matches upstream's" \
                "$(diff -u --label upstream-dkms "$work/$scenario.mixed.txt" --label our-dkms "$work/$scenario.ours.txt")"
        fi
        if ((!ours_skipped)) && ! cmp -s "$work/$scenario.mixed.hidden" "$work/$scenario.ours.hidden"; then
            note "hidden entries at the top of the dkms tree: upstream's dkms leaves [$(tr '\n' ' ' <"$work/$scenario.mixed.hidden")], ours [$(tr '\n' ' ' <"$work/$scenario.ours.hidden")]" "$scenario"
        fi
    fi
    if ((ours_skipped)); then
        skip "$scenario: expectations" "our dkms has no ldtarball yet"
    elif declare -F "check_$scenario" >/dev/null; then
        transcript=$(cat "$work/$scenario.ours.txt")
        "check_$scenario"
    fi
}

# ======================================================================
# Debian kernel hooks

sc_postinst_hook() {
    kernel "$K1"
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    run "postinst.d $K1" "$(hook postinst.d)" "$K1" "/boot/vmlinuz-$K1"
    snapshot
}
check_postinst_hook() {
    expect_exit "postinst.d $K1" 0
    expect "autoinstalls the module" "Autoinstall of module dkms_alpha_test/1.0 for kernel $K1 ($ARCH)"
    expect "module installed" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
}

sc_header_postinst_hook() {
    kernel "$K2"
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    run "header_postinst.d $K2" "$(hook header_postinst.d)" "$K2"
    snapshot
}
check_header_postinst_hook() {
    expect_exit "header_postinst.d $K2" 0
    expect "module installed" "dkms_alpha_test/1.0, $K2, $ARCH: installed"
}

sc_postinst_hook_no_headers() {
    kernel "$K1" noheaders
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    run "postinst.d $K1" "$(hook postinst.d)" "$K1"
    snapshot
}
check_postinst_hook_no_headers() {
    expect_exit "postinst.d $K1" 0
    expect "says the headers are missing" "Automatic installation of modules for kernel $K1 was skipped since the kernel headers for this kernel do not seem to be installed."
}

sc_postinst_hook_without_autoinstaller() {
    kernel "$K1"
    rm -f "$(lib dkms_autoinstaller)"
    run "postinst.d $K1" "$(hook postinst.d)" "$K1"
}
check_postinst_hook_without_autoinstaller() {
    expect_exit "postinst.d $K1" 0
}

sc_postinst_hook_failure() {
    kernel "$K1" failing
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    run "postinst.d $K1" "$(hook postinst.d)" "$K1"
    snapshot
}
check_postinst_hook_failure() {
    # Not upstream (issue 11): the module is not needed to boot, so the
    # hook reports it and succeeds; upstream's dkms makes it exit 1.
    expect_exit "postinst.d $K1" 0
    expect "autoinstall reports the failure" "Autoinstall on $K1 failed for module(s) dkms_alpha_test(10)."
    expect "names the kept log" "dkms: dkms_alpha_test/1.0 failed for kernel $K1 ($ARCH) with status 10; build log: <ROOT>/var/lib/dkms/.logs/dkms_alpha_test/1.0/$K1/$ARCH/make.log"
}

# The hook policy (not in upstream: our dkms only). A module that builds
# and one that fails, both AUTOINSTALL: the hook succeeds, the good module
# is installed, the failure is reported with its log and recorded for
# status --json; a direct "dkms autoinstall" keeps upstream's status 11;
# the autoinstaller (the boot-time path) retries it once it is fixed.
hook_policy_modules() {
    kernel "$K1"
    module dkms_good_test 1.0
    module dkms_bad_test 1.0
    echo 'this is not C' >"$E/usr/src/dkms_bad_test-1.0/dkms_bad_test.c"
    run "add good" dkms add dkms_good_test/1.0
    run "add bad" dkms add dkms_bad_test/1.0
}
sc_hook_policy() {
    hook_policy_modules
    run "postinst.d $K1" "$(hook postinst.d)" "$K1" "/boot/vmlinuz-$K1"
    run "status --json" dkms status --json
    run "direct autoinstall" dkms autoinstall -k "$K1"
    cp "$E/usr/src/dkms_good_test-1.0/dkms_good_test.c" "$E/usr/src/dkms_bad_test-1.0/dkms_bad_test.c"
    run "autoinstaller retry" "$(lib dkms_autoinstaller)" start "$K1"
    run "status --json after retry" dkms status --json
    snapshot
}
check_hook_policy() {
    expect_exit "postinst.d $K1" 0
    expect "good installed by the hook" "Autoinstall on $K1 succeeded for module(s) dkms_good_test."
    expect "bad reported in the summary" "Autoinstall on $K1 failed for module(s) dkms_bad_test(10)."
    expect "bad reported with its log" "dkms: dkms_bad_test/1.0 failed for kernel $K1 ($ARCH) with status 10; build log: <ROOT>/var/lib/dkms/.logs/dkms_bad_test/1.0/$K1/$ARCH/make.log"
    expect "status --json lists the failure" "    {\"module\": \"dkms_bad_test\", \"version\": \"1.0\", \"kernel\": \"$K1\", \"arch\": \"$ARCH\", \"status\": 10, \"log\": \"<ROOT>/var/lib/dkms/.logs/dkms_bad_test/1.0/$K1/$ARCH/make.log\", \"time\": N}"
    expect_exit "direct autoinstall" 11
    expect_exit "autoinstaller retry" 0
    expect "retry installs it" "Autoinstall on $K1 succeeded for module(s) dkms_good_test dkms_bad_test."
    expect "no failure left" '  "failures": []'
    expect "both installed" "dkms_bad_test/1.0, $K1, $ARCH: installed"
}

sc_hook_policy_required() {
    hook_policy_modules
    echo 'REQUIRED_MODULE=yes' >"$E/etc/dkms/dkms_bad_test.conf"
    run "postinst.d $K1" "$(hook postinst.d)" "$K1"
}
check_hook_policy_required() {
    expect_exit "postinst.d $K1" 1
    expect "says why" "dkms: needed to boot $K1: dkms_bad_test/1.0 (REQUIRED_MODULE=yes); the kernel hook fails."
}

sc_hook_policy_strict() {
    hook_policy_modules
    framework 'kernel_hook_failures="fail"'
    run "postinst.d $K1" "$(hook postinst.d)" "$K1"
}
check_hook_policy_strict() {
    expect_exit "postinst.d $K1" 1
    expect_no "no forgiveness" "the kernel hook succeeds"
}

sc_preinst_hook() {
    kernel "$K1"
    module dkms_alpha_test 1.0
    module dkms_beta_test 2.0 'AUTOINSTALL=""'
    run install-alpha dkms install dkms_alpha_test/1.0 -k "$K1"
    run install-beta dkms install dkms_beta_test/2.0 -k "$K1"
    run "preinst.d $K1" "$(hook preinst.d)" "$K1" "/boot/vmlinuz-$K1"
    snapshot
}
check_preinst_hook() {
    expect_exit "preinst.d $K1" 0
    expect "unbuilds the AUTOINSTALL module" "dkms: removing module dkms_alpha_test/1.0 for kernel $K1 ($ARCH)"
    expect_no "keeps the other module" "removing module dkms_beta_test"
    expect "other module still installed" "dkms_beta_test/2.0, $K1, $ARCH: installed"
}

sc_prerm_hook() {
    kernel "$K1"
    module dkms_alpha_test 1.0
    module dkms_beta_test 2.0 'AUTOINSTALL=""'
    run install-alpha dkms install dkms_alpha_test/1.0 -k "$K1"
    run install-beta dkms install dkms_beta_test/2.0 -k "$K1"
    run "prerm.d $K1" "$(hook prerm.d)" "$K1" "/boot/vmlinuz-$K1"
    snapshot
}
check_prerm_hook() {
    expect_exit "prerm.d $K1" 0
    expect "unbuilds every module (1)" "dkms: removing module dkms_alpha_test/1.0 for kernel $K1 ($ARCH)"
    expect "unbuilds every module (2)" "dkms: removing module dkms_beta_test/2.0 for kernel $K1 ($ARCH)"
    expect "both back to added (1)" "dkms_alpha_test/1.0: added"
    expect "both back to added (2)" "dkms_beta_test/2.0: added"
}

sc_hooks_when_dkms_fails() {
    # An empty kernel version makes dkms fail; the hooks still succeed.
    kernel "$K1"
    run "preinst.d ''" "$(hook preinst.d)" ""
    run "prerm.d ''" "$(hook prerm.d)" ""
    run "preinst.d (no argument)" "$(hook preinst.d)"
}
check_hooks_when_dkms_fails() {
    expect_exit "preinst.d ''" 0
    expect_exit "prerm.d ''" 0
    expect_exit "preinst.d (no argument)" 0
}

sc_hooks_without_dkms() {
    kernel "$K1"
    mkdir -p "$E/nodkms"
    RUN_PATH=$E/nodkms:/usr/bin:/bin run "preinst.d $K1" "$(hook preinst.d)" "$K1"
    RUN_PATH=$E/nodkms:/usr/bin:/bin run "prerm.d $K1" "$(hook prerm.d)" "$K1"
}
check_hooks_without_dkms() {
    expect_exit "preinst.d $K1" 0
    expect_exit "prerm.d $K1" 0
}

# ======================================================================
# kernel-install plugins

sc_kernel_install_debian() {
    kernel "$K1"
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    local plugin=$E/lib/kernel/install.d/40-dkms.install
    run "40-dkms.install add" "$plugin" add "$K1" "$E/boot/entry" "$E/boot/vmlinuz-$K1"
    run "status after add" dkms status
    run "40-dkms.install remove" "$plugin" remove "$K1" "$E/boot/entry"
    run "40-dkms.install inspect" "$plugin" inspect "$K1"
    run "40-dkms.install (no arguments)" "$plugin"
    snapshot
}
check_kernel_install_debian() {
    expect_exit "40-dkms.install add" 0
    expect "add installs" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
    expect_exit "40-dkms.install remove" 0
    expect "remove unbuilds" "dkms: removing module dkms_alpha_test/1.0 for kernel $K1 ($ARCH)"
    expect_exit "40-dkms.install inspect" 0
    expect_exit "40-dkms.install (no arguments)" 0
}

sc_kernel_install_debian_failures() {
    # add: the postinst hook fails (autoinstall fails) -> still 0;
    # remove without the prerm hook -> that failure is passed on.
    kernel "$K1" failing
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    local plugin=$E/lib/kernel/install.d/40-dkms.install
    run "40-dkms.install add (build fails)" "$plugin" add "$K1"
    rm -f "$(hook prerm.d)"
    run "40-dkms.install remove (no hook)" "$plugin" remove "$K1"
}
check_kernel_install_debian_failures() {
    expect_exit "40-dkms.install add (build fails)" 0
    expect_exit "40-dkms.install remove (no hook)" 127
}

sc_kernel_install_redhat() {
    kernel "$K1"
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    local plugin=$E/lib/kernel/redhat/40-dkms.install
    run "redhat add" "$plugin" add "$K1" "$E/boot/entry" "$E/boot/vmlinuz-$K1"
    run "status after add" dkms status
    run "redhat remove" "$plugin" remove "$K1"
    run "redhat add (empty kernel)" "$plugin" add ""
    run "redhat other" "$plugin" inspect "$K1"
    snapshot
}
check_kernel_install_redhat() {
    expect_exit "redhat add" 0
    expect "add installs" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
    expect_exit "redhat remove" 0
    expect_exit "redhat add (empty kernel)" 0
    expect_exit "redhat other" 0
}

# ======================================================================
# dkms_autoinstaller

sc_autoinstaller() {
    kernel "$K1"
    kernel "$K2"
    kernel "$K3" noheaders
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    run "start $K2" "$(lib dkms_autoinstaller)" start "$K2"
    run "start (running kernel)" "$(lib dkms_autoinstaller)" start
    run "start '' (running kernel)" "$(lib dkms_autoinstaller)" start ""
    run "start $K3 (no headers)" "$(lib dkms_autoinstaller)" start "$K3"
    run "start 9.9.9 (unknown)" "$(lib dkms_autoinstaller)" start 9.9.9
    local a
    for a in stop restart force-reload status reload; do
        run "$a" "$(lib dkms_autoinstaller)" "$a"
    done
    run "no action" "$(lib dkms_autoinstaller)"
    run "bogus action" "$(lib dkms_autoinstaller)" bogus
    snapshot
}
check_autoinstaller() {
    expect_exit "start $K2" 0
    expect "installs for the given kernel" "dkms_alpha_test/1.0, $K2, $ARCH: installed"
    expect_exit "start (running kernel)" 0
    expect "installs for the running kernel" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
    expect_exit "start $K3 (no headers)" 0
    expect "no headers message" "Automatic installation of modules for kernel $K3 was skipped since the kernel headers for this kernel do not seem to be installed."
    expect_exit "stop" 0
    expect_exit "reload" 0
    expect_exit "no action" 2
    expect "usage" "Usage: <ROOT>/lib/dkms/dkms_autoinstaller {start}"
    expect_exit "bogus action" 2
}

# Not upstream (issue 18): a kernel without headers on a machine whose dkms
# reads a shared module cache is autoinstalled (its modules come from the
# fleet), with the usual exit handling; without one, the old notice.
sc_autoinstaller_fleet() {
    kernel "$K1"
    kernel "$K3" noheaders
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    fleet_dkms
    run "start $K3 (shared cache)" "$(lib dkms_autoinstaller)" start "$K3"
    fleet_calls
    echo 1 >"$E/fails"
    run "start $K3 (the fleet lacks a build)" "$(lib dkms_autoinstaller)" start "$K3"
    rm "$E/fails"
    fleet_calls
    run "postinst.d $K3 (shared cache)" "$(hook postinst.d)" "$K3"
    fleet_calls
    touch "$E/no-fleet"
    run "start $K3 (no shared cache)" "$(lib dkms_autoinstaller)" start "$K3"
    fleet_calls
    run "start $K1 (headers, no shared cache)" "$(lib dkms_autoinstaller)" start "$K1"
    snapshot
}
check_autoinstaller_fleet() {
    local skipped="Automatic installation of modules for kernel $K3 was skipped since the kernel headers for this kernel do not seem to be installed."
    expect_exit "start $K3 (shared cache)" 0
    expect "asks dkms for a shared cache" "dkms cache locations (hook: none)"
    expect "autoinstalls the kernel without headers" "dkms autoinstall --kernelver $K3 (hook: none)"
    expect_exit "start $K3 (the fleet lacks a build)" 1
    expect_exit "postinst.d $K3 (shared cache)" 0
    expect "the kernel hook autoinstalls too" "dkms autoinstall --kernelver $K3 (hook: postinst)"
    expect_exit "start $K3 (no shared cache)" 0
    expect "without a shared cache: the old notice" "$skipped"
    if [[ $(grep -cF -- "$skipped" <<<"$transcript") == 1 ]]; then
        pass "$scenario: the notice only without a shared cache"
    else
        fail "$scenario: the notice only without a shared cache" "$(grep -F -- "$skipped" <<<"$transcript")"
    fi
    if [[ $(calls_matching "autoinstall") == 0 ]]; then
        pass "$scenario: no autoinstall without headers or shared cache"
    else
        fail "$scenario: no autoinstall without headers or shared cache"
    fi
    expect_exit "start $K1 (headers, no shared cache)" 0
    expect "a kernel with headers still builds" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
}

# The same with the dkms under test: build_cache_shared in a framework.conf
# drop-in makes "cache locations" succeed, so the autoinstaller runs dkms
# for the kernel without headers (which has nothing to do: no module is
# added); build_cache="no" brings the old notice back.
sc_autoinstaller_fleet_dkms() {
    kernel "$K3" noheaders
    echo "build_cache_shared=\"$E/fleet\"" >"$E/etc/dkms/framework.conf.d/fleet.conf"
    run "cache locations" dkms cache locations
    run "start $K3 (shared cache)" "$(lib dkms_autoinstaller)" start "$K3"
    framework 'build_cache="no"'
    run "cache locations (build_cache=no)" dkms cache locations
    run "start $K3 (build_cache=no)" "$(lib dkms_autoinstaller)" start "$K3"
}
check_autoinstaller_fleet_dkms() {
    expect_exit "cache locations" 0
    expect "the location" "<ROOT>/fleet"
    expect_exit "start $K3 (shared cache)" 0
    expect_exit "cache locations (build_cache=no)" 1
    expect_exit "start $K3 (build_cache=no)" 0
    if [[ $(grep -c "was skipped since the kernel headers" <<<"$transcript") == 1 ]]; then
        pass "$scenario: the notice only with build_cache=no"
    else
        fail "$scenario: the notice only with build_cache=no" "$transcript"
    fi
}

sc_autoinstaller_failure() {
    kernel "$K1" failing
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    run "start $K1" "$(lib dkms_autoinstaller)" start "$K1"
    snapshot
}
check_autoinstaller_failure() {
    expect_exit "start $K1" 1
    expect "dkms error" "Error! One or more modules failed to install during autoinstall."
}

sc_autoinstaller_without_dkms() {
    kernel "$K1"
    rm -f "$E/bin/dkms"
    run "start $K1" "$(lib dkms_autoinstaller)" start "$K1"
    run "bogus" "$(lib dkms_autoinstaller)" bogus
}
check_autoinstaller_without_dkms() {
    expect_exit "start $K1" 0
    expect_exit "bogus" 0
}

sc_autoinstaller_disabled() {
    kernel "$K1"
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    touch "$E/etc/dkms/no-autoinstall"
    run "start $K1" "$(lib dkms_autoinstaller)" start "$K1"
    snapshot
}
check_autoinstaller_disabled() {
    expect_exit "start $K1" 0
    expect "disabled message" "Automatic installation of modules has been disabled."
}

# ======================================================================
# common.postinst

postinst() { run "common.postinst $*" "$(lib common.postinst)" "$@"; }

sc_postinst_usage() {
    postinst
    postinst dkms_alpha_test
    postinst "" 1.0
}
check_postinst_usage() {
    expect_exit "common.postinst " 1
    expect "message" "Need NAME and VERSION defined"
    expect "message (2)" "ARCH is optional"
    expect_exit "common.postinst dkms_alpha_test" 1
}

sc_postinst_disabled() {
    kernel "$K1"
    module dkms_alpha_test 1.0
    touch "$E/etc/dkms/no-autoinstall"
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_disabled() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
    expect "message" "autoinstall for dkms modules has been disabled."
}

sc_postinst_current_and_newest() {
    kernel "$K1" headers boot
    kernel "$K2" headers boot
    boot_config 5.10.0-9-amd64 # older than the running kernel
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0 "$E/tarballs"
    snapshot
}
check_postinst_current_and_newest() {
    expect_exit "common.postinst dkms_alpha_test 1.0 <ROOT>/tarballs" 0
    expect "loading message" "Loading new dkms_alpha_test/1.0 DKMS files..."
    expect "kernels" "Building for $K1 $K2"
    expect "builds for the current kernel" "Building initial module dkms_alpha_test/1.0 for $K1"
    expect "installed on current" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
    expect "installed on newest" "dkms_alpha_test/1.0, $K2, $ARCH: installed"
}

sc_postinst_newest_not_installed() {
    # The newest config in /boot belongs to a kernel that is not installed:
    # no newest kernel at all, only the running one.
    kernel "$K1" headers boot
    kernel "$K2" headers boot
    boot_config 6.9.0-1-amd64
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_newest_not_installed() {
    expect "only the current kernel" "Building for $K1"
    expect_no "not the installed newer one" "$K2, $ARCH: installed"
}

sc_postinst_odd_boot_configs() {
    # config files whose names dpkg cannot compare (its warnings show), a
    # release without "-", a directory: all handled as upstream does.
    kernel "$K1" headers boot
    kernel 6.2.0 headers boot
    boot_config foo
    mkdir -p "$E/boot/config-6.9.0-1-dir"
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
}
check_postinst_odd_boot_configs() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
}

sc_postinst_current_is_newest() {
    kernel "$K1" headers boot
    kernel "$K3" headers # installed, but no config in /boot
    boot_config 6.1.0-5-amd64
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_current_is_newest() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
    expect "only the current kernel" "Building for $K1"
    expect_no "not the other kernel" "$K3, $ARCH: installed"
}

sc_postinst_newest_order() {
    # dpkg version order on VERSION-ABI, whatever the order of the files.
    FAKE_KERNEL=6.1.0-9-amd64
    kernel 6.1.0-9-amd64 headers boot
    kernel 6.1.0-11-amd64 headers boot
    kernel 6.1.0-2-amd64 headers boot
    kernel 6.1.0-10-cloud-amd64 headers boot
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_newest_order() {
    expect "newest by ABI" "Building for 6.1.0-9-amd64 6.1.0-11-amd64"
}

sc_postinst_chroot_all_kernels() {
    FAKE_KERNEL=6.18.0-host # not installed: a chroot
    kernel "$K3"
    kernel "$K1"
    kernel "$K2"
    kernel 6.1.0-3-rt-amd64 nobuild
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_chroot_all_kernels() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
    expect "chroot message" "It is likely that 6.18.0-host belongs to a chroot's host"
    expect "every kernel with a build directory, in version order" "Building for $K1, $K2 and $K3"
    expect "installed on K3" "dkms_alpha_test/1.0, $K3, $ARCH: installed"
}

sc_postinst_chroot_two_kernels() {
    FAKE_KERNEL=6.18.0-host
    kernel "$K1"
    kernel "$K2"
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
}
check_postinst_chroot_two_kernels() {
    expect "two kernels" "Building for $K1 and $K2"
}

sc_postinst_chroot_upgrade() {
    # The newest kernel must also be newer than the host's kernel.
    FAKE_KERNEL=5.10.0-host
    kernel "$K1" headers boot
    kernel "$K2" headers boot
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0 "" "" upgrade
    snapshot
}
check_postinst_chroot_upgrade() {
    expect "only the newest kernel" "Building for $K2"
    expect_no "not the older kernel" "$K1, $ARCH: installed"
}

sc_postinst_all_kernels() {
    kernel "$K1" headers boot
    kernel "$K2"
    kernel "$K3" noheaders
    framework 'autoinstall_all_kernels="yes"'
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_all_kernels() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
    expect "all kernels" "Building for $K1, $K2 and $K3"
    expect "headers missing for K3" "Module build for kernel $K3 was skipped since the"
    expect "headers missing (2)" "kernel headers for this kernel do not seem to be installed."
    expect "installed on K2" "dkms_alpha_test/1.0, $K2, $ARCH: installed"
}

# Not upstream (issue 18): with a shared module cache, a kernel without
# headers is built for (dkms takes the module from the fleet) instead of
# skipped; the cache is asked about once; a failure counts as a failed
# build. Without one: upstream's lines, unchanged.
sc_postinst_fleet() {
    kernel "$K1" headers boot
    kernel "$K2" noheaders
    kernel "$K3" noheaders
    framework 'autoinstall_all_kernels="yes"'
    module dkms_alpha_test 1.0
    fleet_dkms
    postinst dkms_alpha_test 1.0
    fleet_calls
    echo 21 >"$E/fails"
    postinst dkms_alpha_test 1.0 "" "" upgrade
    fleet_calls
    rm "$E/fails"
    touch "$E/no-fleet"
    postinst dkms_alpha_test 1.0 "" "" again
    fleet_calls
    snapshot
}
check_postinst_fleet() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
    expect "builds for K2 from the fleet" "Building initial module dkms_alpha_test/1.0 for $K2"
    expect "builds for K3 from the fleet" "Building initial module dkms_alpha_test/1.0 for $K3"
    expect "the stand-in built K3" "(stand-in) build for $K3 from the shared cache"
    expect "still builds K1 with its headers" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
    expect_exit "common.postinst dkms_alpha_test 1.0   upgrade" 21
    expect "failures listed" "Builds for the following kernel(s) failed: $K2 $K3"
    expect_exit "common.postinst dkms_alpha_test 1.0   again" 0
    expect "without a shared cache: skipped" "Module build for kernel $K3 was skipped since the"
    expect "without a shared cache: skipped (2)" "kernel headers for this kernel do not seem to be installed."
    local n
    n=$(grep -c "was skipped since the" <<<"$transcript")
    if [[ $n == 2 ]]; then pass "$scenario: skipped only without a shared cache"; else fail "$scenario: skipped only without a shared cache" "$n skip notices"; fi
    n=$(calls_matching "cache locations")
    if [[ $n == 1 ]]; then pass "$scenario: the shared cache is asked about once"; else fail "$scenario: the shared cache is asked about once" "$n times in the last run"; fi
}

sc_postinst_all_kernels_dropin() {
    kernel "$K1"
    kernel "$K2"
    echo 'autoinstall_all_kernels=1' >"$E/etc/dkms/framework.conf.d/all.conf"
    echo 'autoinstall_all_kernels=ignored' >"$E/etc/dkms/framework.conf.d/all.conf.disabled"
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
}
check_postinst_all_kernels_dropin() {
    expect "drop-in honoured" "Building for $K1 and $K2"
}

sc_postinst_reinstall() {
    kernel "$K1"
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_reinstall() {
    expect "old copy removed" "Removing old dkms_alpha_test/1.0 DKMS files..."
    expect "still installed" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
}

sc_postinst_no_autoinstall() {
    kernel "$K1"
    module dkms_alpha_test 1.0 'AUTOINSTALL=""'
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_no_autoinstall() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
    expect "message" "Not building the dkms_alpha_test module which does not have AUTOINSTALL enabled."
    expect "added only" "dkms_alpha_test/1.0: added"
}

sc_postinst_autoinstall_no() {
    # Any non-blank AUTOINSTALL counts for common.postinst, even "no".
    kernel "$K1"
    module dkms_alpha_test 1.0 'AUTOINSTALL="no"'
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_autoinstall_no() {
    expect "built anyway" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
}

sc_postinst_missing_source() {
    kernel "$K1"
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_missing_source() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
    expect "message" "Not building the dkms_alpha_test module which does not have AUTOINSTALL enabled."
}

sc_postinst_no_kernels() {
    FAKE_KERNEL=6.18.0-host
    kernel "$K1" nobuild
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_no_kernels() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
    expect "warning" "WARNING: No kernel headers were found, skipping module build."
    expect "warning (2)" "         To get the headers for the running kernel (6.18.0-host)"
    expect "warning (3)" "         please install the linux-headers-6.18.0-host package."
}

sc_postinst_current_without_headers() {
    kernel "$K1" nobuild
    kernel "$K2"
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_current_without_headers() {
    # Not upstream (issue 11): the running kernel has no headers here, so
    # the kernels with headers are built for, announced in one line.
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
    expect "says why" "dkms: the running kernel $K1 has no headers here; building for the installed kernels instead."
    expect "the kernel with headers" "Building for $K2"
    expect "module installed" "dkms_alpha_test/1.0, $K2, $ARCH: installed"
    expect_no "nothing for the running kernel" "Module build for kernel $K1 was skipped since the"
}

sc_postinst_build_exclusive() {
    kernel "$K1" headers boot
    kernel "$K3" headers boot
    module dkms_alpha_test 1.0 'BUILD_EXCLUSIVE_KERNEL="^6\.1\."'
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_build_exclusive() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 0
    expect "both kernels" "Building for $K1 $K3"
    expect "installed where allowed" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
    expect_no "no failure summary" "Builds for the following kernel(s) failed"
}

sc_postinst_build_failure_continues() {
    FAKE_KERNEL=6.18.0-host
    kernel "$K1" failing
    kernel "$K2"
    kernel "$K3" failing
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_build_failure_continues() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 10
    expect "summary" "Builds for the following kernel(s) failed: $K1 $K3"
    expect "the good kernel is done" "dkms_alpha_test/1.0, $K2, $ARCH: installed"
}

sc_postinst_build_failure_stops() {
    FAKE_KERNEL=6.18.0-host
    kernel "$K1" failing
    kernel "$K2"
    framework 'continue_on_error="no"'
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_build_failure_stops() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 10
    expect_no "no summary" "Builds for the following kernel(s) failed"
    expect_no "second kernel untouched" "$K2, $ARCH:"
}

sc_postinst_arch() {
    kernel "$K1"
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0 "" "$ARCH"
    snapshot
}
check_postinst_arch() {
    expect "arch message" "Building for architecture $ARCH"
    expect "installed" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
}

sc_postinst_boot_variant() {
    FAKE_KERNEL=6.18.0-host
    kernel 6.1.0-1-BOOT
    kernel "$K1"
    module dkms_alpha_test 1.0
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_boot_variant() {
    expect "skip message" "Module build and install for 6.1.0-1-BOOT was skipped as "
    expect "skip message (2)" "it is a BOOT variant"
}

sc_postinst_install_failure() {
    # PRE_INSTALL fails: dkms install exits 101 and common.postinst stops.
    FAKE_KERNEL=6.18.0-host
    kernel "$K1"
    kernel "$K2"
    module dkms_alpha_test 1.0 'PRE_INSTALL="refuse.sh"'
    printf '#!/bin/sh\necho "refusing to install"\nexit 1\n' >"$E/usr/src/dkms_alpha_test-1.0/refuse.sh"
    chmod 755 "$E/usr/src/dkms_alpha_test-1.0/refuse.sh"
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_install_failure() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 101
    expect "dkms error" "Error! pre_install failed, aborting install."
    expect_no "stops at the first kernel" "for $K2"
}

sc_postinst_bad_conf() {
    kernel "$K1"
    module dkms_alpha_test 1.0 'DEST_MODULE_LOCATION[0]="/elsewhere"'
    postinst dkms_alpha_test 1.0
    snapshot
}
check_postinst_bad_conf() {
    expect_exit "common.postinst dkms_alpha_test 1.0" 8
    expect "dkms error" "Error! Bad conf file."
}

sc_postinst_two_modules() {
    # Another module already installed is left alone.
    kernel "$K1"
    module dkms_alpha_test 1.0
    module dkms_beta_test 2.0
    postinst dkms_alpha_test 1.0
    postinst dkms_beta_test 2.0
    snapshot
}
check_postinst_two_modules() {
    expect "first" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
    expect "second" "dkms_beta_test/2.0, $K1, $ARCH: installed"
}

# Builds NAME.ko of a module source the way the fake kbuild does.
prebuilt_ko() { cc -c -o "$2" "$1"; }

sc_postinst_tarball() {
    kernel "$K1" headers boot
    kernel "$K2" headers boot
    module dkms_alpha_test 1.0
    local staging=$E/staging
    mkdir -p "$staging/dkms_main_tree/$K1/$ARCH/module"
    cp -r "$E/usr/src/dkms_alpha_test-1.0" "$staging/dkms_source_tree"
    prebuilt_ko "$staging/dkms_source_tree/dkms_alpha_test.c" "$staging/dkms_main_tree/$K1/$ARCH/module/dkms_alpha_test.ko"
    rm -rf "$E/usr/src/dkms_alpha_test-1.0"
    tar -C "$staging" -czf "$E/tarballs/dkms_alpha_test-1.0.dkms.tar.gz" .
    postinst dkms_alpha_test 1.0 "$E/tarballs"
    snapshot
}
check_postinst_tarball() {
    expect "loads the archive" "Loading tarball for dkms_alpha_test/1.0"
    expect "prebuilt kernel installed" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
    expect "other kernel built" "Building initial module dkms_alpha_test/1.0 for $K2"
}

# binaries_only_archive: an archive made of dkms.conf and a module prebuilt
# for K1, without source.
binaries_only_archive() {
    local staging=$E/staging
    mkdir -p "$staging/dkms_main_tree/$K1/$ARCH/module" "$staging/dkms_binaries_only"
    cp "$E/usr/src/dkms_alpha_test-1.0/dkms.conf" "$staging/dkms_binaries_only/"
    echo dkms_alpha_test >"$staging/dkms_binaries_only/PACKAGE_NAME"
    echo 1.0 >"$staging/dkms_binaries_only/PACKAGE_VERSION"
    prebuilt_ko "$E/usr/src/dkms_alpha_test-1.0/dkms_alpha_test.c" "$staging/dkms_main_tree/$K1/$ARCH/module/dkms_alpha_test.ko"
    tar -C "$staging" -czf "$E/tarballs/dkms_alpha_test-1.0.dkms.tar.gz" .
}

sc_postinst_tarball_binaries_only() {
    # Without the source, dkms ldtarball of a binaries-only archive fails
    # in 3.4.3, so common.postinst gives up with status 2.
    kernel "$K1" headers boot
    kernel "$K2" headers boot
    module dkms_alpha_test 1.0
    binaries_only_archive
    rm -rf "$E/usr/src/dkms_alpha_test-1.0"
    postinst dkms_alpha_test 1.0 "$E/tarballs"
    snapshot
}
check_postinst_tarball_binaries_only() {
    expect "message" "Unable to load DKMS tarball <ROOT>/tarballs/dkms_alpha_test-1.0.dkms.tar.gz."
    expect_exit "common.postinst dkms_alpha_test 1.0 <ROOT>/tarballs" 2
}

sc_postinst_tarball_binaries_with_source() {
    # With the source present, the prebuilt kernel is installed without a
    # build and the other kernel is built from source.
    kernel "$K1" headers boot
    kernel "$K2" headers boot
    module dkms_alpha_test 1.0
    binaries_only_archive
    postinst dkms_alpha_test 1.0 "$E/tarballs"
    snapshot
}
check_postinst_tarball_binaries_with_source() {
    expect_exit "common.postinst dkms_alpha_test 1.0 <ROOT>/tarballs" 0
    expect_no "no build for the prebuilt kernel" "Building initial module dkms_alpha_test/1.0 for $K1"
    expect "prebuilt kernel installed" "dkms_alpha_test/1.0, $K1, $ARCH: installed"
    expect "other kernel built" "Building initial module dkms_alpha_test/1.0 for $K2"
    expect "other kernel installed" "dkms_alpha_test/1.0, $K2, $ARCH: installed"
}

sc_postinst_tarball_corrupt() {
    kernel "$K1"
    module dkms_alpha_test 1.0
    echo "not an archive" >"$E/tarballs/dkms_alpha_test-1.0.dkms.tar.gz"
    postinst dkms_alpha_test 1.0 "$E/tarballs"
    snapshot
}
check_postinst_tarball_corrupt() {
    expect "message" "Unable to load DKMS tarball <ROOT>/tarballs/dkms_alpha_test-1.0.dkms.tar.gz."
    expect "message (2)" "Common causes include: "
    expect "exit 2" "### exit 2"
}

real_kernel=${REAL_KERNEL:-}
if [[ -z $real_kernel ]]; then
    for d in /lib/modules/*/build/include; do
        [[ -d $d ]] || continue
        d=${d%/build/include}
        real_kernel=${d##*/}
        break
    done
fi

sc_postinst_real_headers() {
    FAKE_KERNEL=$real_kernel
    mkdir -p "$E/lib/modules/$real_kernel"
    ln -s "/lib/modules/$real_kernel/build" "$E/lib/modules/$real_kernel/build"
    local dir=$E/usr/src/dkms_real_test-0.1
    mkdir -p "$dir"
    cat >"$dir/dkms.conf" <<'EOF'
PACKAGE_NAME="dkms_real_test"
PACKAGE_VERSION="0.1"
BUILT_MODULE_NAME[0]="dkms_real_test"
DEST_MODULE_LOCATION[0]="/updates/dkms"
AUTOINSTALL="yes"
EOF
    echo "obj-m := dkms_real_test.o" >"$dir/Makefile"
    cat >"$dir/dkms_real_test.c" <<'EOF'
#include <linux/module.h>
static int __init real_test_init(void) { return 0; }
static void __exit real_test_exit(void) { }
module_init(real_test_init);
module_exit(real_test_exit);
MODULE_LICENSE("GPL");
MODULE_VERSION("0.1");
EOF
    postinst dkms_real_test 0.1
    snapshot
    run "prerm.d" "$(hook prerm.d)" "$real_kernel"
    run "status after prerm.d" dkms status
}
check_postinst_real_headers() {
    expect_exit "common.postinst dkms_real_test 0.1" 0
    expect "installed" "./$real_kernel/updates/dkms/dkms_real_test.ko"
    expect_exit "prerm.d" 0
}

# ======================================================================
# Static checks of our files

static_checks() {
    scenario=static
    local f
    for f in kernel/postinst.d/dkms kernel/header_postinst.d/dkms kernel/preinst.d/dkms \
        kernel/prerm.d/dkms dkms_autoinstaller common.postinst kernel-install/40-dkms.install; do
        if sh -n "$integration/$f" 2>/dev/null && [[ -x $integration/$f ]]; then
            pass "static: $f is executable POSIX sh"
        else
            fail "static: $f is executable POSIX sh"
        fi
    done
    if bash -n "$integration/kernel-install/40-dkms.install.redhat" && [[ -x $integration/kernel-install/40-dkms.install.redhat ]]; then
        pass "static: kernel-install/40-dkms.install.redhat is executable bash"
    else
        fail "static: kernel-install/40-dkms.install.redhat is executable bash"
    fi
    if command -v shellcheck >/dev/null; then
        local out
        if out=$(cd "$integration" && shellcheck -s sh kernel/*/dkms dkms_autoinstaller common.postinst kernel-install/40-dkms.install 2>&1 &&
            shellcheck -s bash kernel-install/40-dkms.install.redhat render-additions "$rendered/dkms.bash" 2>&1); then
            pass "static: shellcheck"
        else
            fail "static: shellcheck" "$out"
        fi
    else
        skip "static: shellcheck" "shellcheck is not installed"
    fi
    # The two hooks differ only in the DKMS_KERNEL_HOOK they pass (and the
    # comment that says so).
    hook_code() { grep -v '^#' "$1" | sed 's/^\( *DKMS_KERNEL_HOOK=\).*/\1HOOK/'; }
    if cmp -s <(hook_code "$integration/kernel/postinst.d/dkms") <(hook_code "$integration/kernel/header_postinst.d/dkms"); then
        pass "static: header_postinst.d hook is the postinst.d hook"
    else
        fail "static: header_postinst.d hook is the postinst.d hook"
    fi

    # Every placeholder used is documented in integration/README.md.
    local placeholders p missing=
    placeholders=$(cd "$integration" && grep -rhoE '@[A-Z_]+@' --exclude-dir=tests . | sort -u)
    for p in $placeholders; do
        grep -Fq -- "$p" "$integration/README.md" || missing="$missing $p"
    done
    if [[ -z $missing ]]; then pass "static: placeholders documented in README.md"; else fail "static: placeholders documented in README.md" "undocumented:$missing"; fi

    # framework.conf: valid bash that sets nothing, and mentions every
    # variable dkms or common.postinst reads.
    local fw=$integration/framework.conf vars v
    vars="source_tree dkms_tree install_tree tmp_location verbose symlink_modules
        autoinstall_all_kernels modprobe_on_install parallel_jobs compress_gzip_opts
        compress_xz_opts compress_zstd_opts build_environment post_transaction
        sign_file mok_signing_key mok_certificate try_sign_modules continue_on_error
        kernel_hook_failures"
    if ((have_upstream)); then
        vars="$vars $(sed -n '/^readonly dkms_framework_\(nonsigning\|signing\)_variables=/,/"$/p' "$upstream_sources/dkms.in" |
            sed -e 's/^readonly [a-z_]*="//' -e 's/"$//')"
    fi
    missing=
    for v in $vars; do grep -Eq "^#[[:space:]]*$v=" "$fw" || missing="$missing $v"; done
    if [[ -z $missing ]]; then pass "static: framework.conf lists every variable"; else fail "static: framework.conf lists every variable" "missing:$missing"; fi
    # shellcheck disable=SC2016,SC2086
    if [[ -z $(bash -c '. "$1"; shift; for v; do [[ -v $v ]] && echo "$v"; done' _ "$fw" $vars) ]]; then
        pass "static: framework.conf sets nothing by default"
    else
        fail "static: framework.conf sets nothing by default"
    fi

    # dkms.service
    local unit=$integration/dkms.service
    if grep -Fxq 'ExecStart=@SBINDIR@/dkms autoinstall --verbose --kernelver %v' "$unit" &&
        grep -Fxq 'Type=oneshot' "$unit" && grep -Fxq 'RemainAfterExit=true' "$unit" &&
        grep -Fxq 'WantedBy=multi-user.target' "$unit" && grep -Fxq 'Before=network-pre.target graphical.target' "$unit"; then
        pass "static: dkms.service runs dkms autoinstall for the booted kernel"
    else
        fail "static: dkms.service runs dkms autoinstall for the booted kernel"
    fi
    if ((have_upstream)); then
        local ours theirs
        ours=$(grep -E '^(ExecStart|Type|RemainAfterExit|Before|After|WantedBy|Documentation)=' "$unit" | sort)
        theirs=$(grep -E '^(ExecStart|Type|RemainAfterExit|Before|After|WantedBy|Documentation)=' "$upstream_sources/dkms.service.in" | sort)
        if [[ $ours == "$theirs" ]]; then pass "static: dkms.service settings equal upstream's"; else fail "static: dkms.service settings equal upstream's" "$(diff <(echo "$theirs") <(echo "$ours"))"; fi
    fi
    if command -v systemd-analyze >/dev/null; then
        local d=$work/unit out
        mkdir -p "$d/bin"
        printf '#!/bin/sh\nexit 0\n' >"$d/bin/dkms"
        chmod 755 "$d/bin/dkms"
        sed "s|@SBINDIR@|$d/bin|" "$unit" >"$d/dkms.service"
        if out=$(systemd-analyze verify --man=no "$d/dkms.service" 2>&1 | grep -v -e 'Failed to .* bus' -e 'network-pre.target' -e 'graphical.target' -e 'multi-user.target'); [[ -z $out ]]; then
            pass "static: systemd-analyze verify dkms.service"
        else
            fail "static: systemd-analyze verify dkms.service" "$out"
        fi
    else
        skip "static: systemd-analyze verify dkms.service" "systemd-analyze is not installed"
    fi
}

# ======================================================================
# Our hooks beside another dkms (Debian's 3.0.10 after swift-dkms was
# swapped out: its conffiles under /etc/kernel stay behind)

older_dkms_checks() {
    scenario=older_dkms
    new_root ours
    kernel "$K1"
    # Stands in for a dkms without kernel_preinst and kernel_prerm: their
    # usage, and "Unknown action" for anything it lacks.
    cat >"$E/bin/dkms" <<'EOF'
#!/bin/sh
usage() {
    echo "Usage: $0 [action] [options]"
    echo "  [action]  = { add | remove | build | install | uninstall | match | autoinstall |"
    echo "                mktarball | ldtarball | status }"
}
case $1 in
add | remove | build | install | uninstall | match | autoinstall | mktarball | ldtarball | status)
    echo "dkms $*" ;;
-*) printf '\nError! Unknown option: %s\n' "$1" >&2; usage; exit 2 ;;
*) printf '\nError! Unknown action specified: ""\n' >&2; usage ;;
esac
EOF
    run "preinst.d $K1" "$(hook preinst.d)" "$K1" "/boot/vmlinuz-$K1"
    run "prerm.d $K1" "$(hook prerm.d)" "$K1" "/boot/vmlinuz-$K1"
    transcript=$(normalized "$E/transcript")
    local expected="### preinst.d $K1"$'\n'"### exit 0"$'\n'"### prerm.d $K1"$'\n'"### exit 0"
    if [[ $transcript == "$expected" ]]; then
        pass "older dkms: preinst.d and prerm.d hooks print nothing and succeed"
    else
        fail "older dkms: preinst.d and prerm.d hooks print nothing and succeed" "$transcript"
    fi
    # Another dkms's kernel-install plugin runs the same hooks: ours steps aside.
    new_root ours
    kernel "$K1"
    module dkms_alpha_test 1.0
    run add dkms add dkms_alpha_test/1.0
    mkdir -p "$E/etc/kernel/install.d"
    printf '#!/bin/sh\necho "other plugin $*"\n' >"$E/etc/kernel/install.d/dkms"
    chmod 755 "$E/etc/kernel/install.d/dkms"
    run "40-dkms.install add" "$E/lib/kernel/install.d/40-dkms.install" add "$K1"
    run "status" dkms status
    transcript=$(normalized "$E/transcript")
    if grep -Fxq "dkms_alpha_test/1.0: added" <<<"$transcript" && ! grep -q "installed" <<<"$transcript"; then
        pass "older dkms: 40-dkms.install steps aside for install.d/dkms"
    else
        fail "older dkms: 40-dkms.install steps aside for install.d/dkms" "$transcript"
    fi
}

# ======================================================================
# The man page

man_checks() {
    scenario='man'
    local page=$rendered/dkms.8 out
    if ! grep -q '@ADDITIONS_' "$page" && grep -q '^\.SH SWIFT-DKMS ADDITIONS$' "$page"; then
        pass "man: the additions section is rendered from the binary's table"
    else
        fail "man: the additions section is rendered from the binary's table"
    fi
    if command -v groff >/dev/null; then
        if out=$(groff -ww -man -Tutf8 "$page" 2>&1 >/dev/null) && [[ -z $out ]]; then
            pass "man: groff -ww renders without warnings"
        else
            fail "man: groff -ww renders without warnings" "$out"
        fi
    else
        skip "man: groff -ww" "groff is not installed"
    fi
    if command -v man >/dev/null; then
        if out=$(MANWIDTH=80 man -l "$page" 2>&1 >/dev/null) && [[ -z $out ]]; then
            pass "man: man -l renders without messages"
        else
            fail "man: man -l renders without messages" "$out"
        fi
    fi
    command -v groff >/dev/null || return
    local text word missing
    text=$(groff -man -Tutf8 -rLL=200n "$page" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g; s/.\x08//g' | sed 's/‐/-/g')
    check_words() {
        local what=$1
        shift
        missing=
        for word in "$@"; do grep -Fq -- "$word" <<<"$text" || missing="$missing $word"; done
        if [[ -z $missing ]]; then pass "man: documents every $what"; else fail "man: documents every $what" "missing:$missing"; fi
    }
    # Every action and option in dkms --help (upstream's and the added
    # ones), and the upstream options it does not list.
    # shellcheck disable=SC2086
    check_words action $usage_actions
    # shellcheck disable=SC2086
    check_words option $usage_options --module --kernelver --arch --quiet --symlink-modules --debug \
        --no-initrd --no-clean-kernel --no-prepare-kernel -V -h
    local directives="PACKAGE_NAME PACKAGE_VERSION POST_ADD POST_BUILD POST_INSTALL POST_REMOVE PRE_BUILD
        PRE_INSTALL BUILD_DEPENDS BUILD_EXCLUSIVE_ARCH BUILD_EXCLUSIVE_CONFIG BUILD_EXCLUSIVE_KERNEL
        BUILD_EXCLUSIVE_KERNEL_MIN BUILD_EXCLUSIVE_KERNEL_MAX MAKE MAKE_MATCH PATCH PATCH_MATCH
        BUILT_MODULE_NAME BUILT_MODULE_LOCATION DEST_MODULE_NAME DEST_MODULE_LOCATION STRIP
        AUTOINSTALL NO_WEAK_MODULES BUILD_DEPENDS_REBUILD OBSOLETE_BY CLEAN REMAKE_INITRD
        MODULES_CONF MODULES_CONF_OBSOLETES MODULES_CONF_ALIAS_TYPE MODULES_CONF_OBSOLETE_ONLY"
    if ((have_upstream)); then
        directives="$directives $(sed -n '/^readonly dkms_conf_variables="/,/"$/p' "$upstream_sources/dkms.in" |
            sed -e 's/^readonly [a-z_]*="//' -e 's/"$//' | tr ' ' '\n' | grep -E '^[A-Z_]+$')"
    fi
    # shellcheck disable=SC2086
    check_words "dkms.conf directive" $directives
    local variables="source_tree dkms_tree install_tree tmp_location verbose symlink_modules
        autoinstall_all_kernels modprobe_on_install parallel_jobs compress_gzip_opts compress_xz_opts
        compress_zstd_opts build_environment post_transaction sign_file mok_signing_key
        mok_certificate try_sign_modules continue_on_error"
    # shellcheck disable=SC2086
    check_words "framework.conf variable" $variables
    local codes="0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 21 77 101" code
    if ((have_upstream)); then
        codes=$(sed -n 's/^# \([0-9]\+\): .*/\1/p' "$upstream_sources/dkms.in" | sort -un | tr '\n' ' ')
    fi
    missing=
    local section
    section=$(sed -n '/^EXIT STATUS/,/^[A-Z]/p' <<<"$text")
    for code in $codes; do
        grep -Eq "^ +$code( |$)" <<<"$section" || missing="$missing $code"
    done
    if [[ -z $missing ]]; then pass "man: documents every exit status"; else fail "man: documents every exit status" "missing:$missing"; fi
}

# ======================================================================
# Completions

completion_checks() {
    scenario=completion
    local t=$work/completion
    mkdir -p "$t/dkms/dkms_alpha_test/1.0" "$t/dkms/dkms_alpha_test/2.0" "$t/dkms/dkms_beta_test/3.1" \
        "$t/src/dkms_gamma_test-0.9" "$t/src/my-module-1.2.3" "$t/modules/$K1" "$t/modules/$K2"
    ln -s 1.0 "$t/dkms/dkms_alpha_test/kernel-$K1-$ARCH"
    touch "$t/src/dkms_gamma_test-0.9/dkms.conf" "$t/src/my-module-1.2.3/dkms.conf"
    sed "s|@MODDIR@|$t/modules|g" "$rendered/dkms.bash" >"$t/dkms.bash"

    # bash: complete LINE (words separated by spaces; a trailing space
    # starts a new empty word) and compare the sorted candidates.
    bash_complete() {
        bash -c '
            . "$1"
            read -ra COMP_WORDS <<<"$2"
            [[ $2 == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            COMP_LINE=$2
            _dkms dkms "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort -u | tr "\n" " "
        ' _ "$t/dkms.bash" "$1" 2>&1
    }
    expect_completion() {
        local got
        got=$("$1" "$2")
        got=${got% }
        if [[ $got == "$3" ]]; then
            pass "completion: $1 '$2'"
        else
            fail "completion: $1 '$2'" "expected: $3"$'\n'"got:      $got"
        fi
    }
    # Every action in the usage; every option in the usage is offered
    # before an action and with the actions the table names for it.
    local all_actions=$usage_actions
    local long_options
    long_options=$(tr ' ' '\n' <<<"$usage_options" | grep -- '^--' | tr '\n' ' ')
    long_options=${long_options% }
    expect_completion bash_complete "dkms " "$all_actions"
    expect_completion_covers() { # COMPLETER LINE WORDS: every word is offered
        local got word missing=
        got=" $("$1" "$2") "
        for word in $3; do [[ $got == *" $word "* ]] || missing="$missing $word"; done
        if [[ -z $missing ]]; then pass "completion: $1 '$2' offers every option"; else fail "completion: $1 '$2' offers every option" "missing:$missing"; fi
    }
    expect_completion_covers bash_complete "dkms --" "$long_options"
    expect_completion bash_complete "dkms status --js" "--json"
    expect_completion bash_complete "dkms status --format " "json"
    expect_completion bash_complete "dkms build --dry" "--dry-run"
    expect_completion bash_complete "dkms mkbmdeb --dkmstree $t/dkms dkms_b" "dkms_beta_test dkms_beta_test/3.1"
    expect_completion bash_complete "dkms kernel_p" "kernel_postinst kernel_preinst kernel_prerm"
    expect_completion bash_complete "dkms build --fo" "--force"
    expect_completion bash_complete "dkms install --force-" "--force-version-override"
    expect_completion bash_complete "dkms mktarball --b" "--binaries-only"
    expect_completion bash_complete "dkms remove --a" "--all --arch"
    expect_completion bash_complete "dkms remove --dkmstree $t/dkms " "dkms_alpha_test dkms_alpha_test/1.0 dkms_alpha_test/2.0 dkms_beta_test dkms_beta_test/3.1"
    expect_completion bash_complete "dkms remove --dkmstree = $t/dkms dkms_b" "dkms_beta_test dkms_beta_test/3.1"
    expect_completion bash_complete "dkms uninstall --dkmstree $t/dkms -m dkms_alpha_test -v " "1.0 2.0"
    expect_completion bash_complete "dkms add --sourcetree $t/src " "dkms_gamma_test dkms_gamma_test/0.9 my-module my-module/1.2.3"
    expect_completion bash_complete "dkms add --sourcetree $t/src -m my" "my-module my-module/1.2.3"
    expect_completion bash_complete "dkms status -k " "$K1 $K2"
    expect_completion bash_complete "dkms match --templatekernel " "$K1 $K2"
    expect_completion bash_complete "dkms build -a " "$ARCH"
    expect_completion bash_complete "dkms cache " "export keygen list locations prune stats"
    expect_completion bash_complete "dkms cache lo" "locations"
    expect_completion bash_complete "dkms cache export $t/sr" "$t/src"

    if ! command -v zsh >/dev/null; then
        skip "completion: zsh" "zsh is not installed"
        return
    fi
    mkdir -p "$t/zfunc"
    sed "s|@MODDIR@|$t/modules|g" "$rendered/_dkms" >"$t/zfunc/_dkms"
    if zsh -n "$t/zfunc/_dkms"; then pass "completion: zsh syntax"; else fail "completion: zsh syntax"; fi
    # Drives an interactive zsh through zpty, records every candidate that
    # compadd accepts, and prints them sorted.
    zsh_complete() {
        local hits=$t/zsh.hits
        : >"$hits"
        zsh -f -c '
            zmodload zsh/zpty || exit 1
            zpty shell zsh -f -i
            zpty -w shell "fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -D"
            zpty -w shell "compadd() { if [[ \" \$* \" == *\" -\"[OAD]\" \"* ]]; then builtin compadd \"\$@\"; return; fi; local -a __found; builtin compadd -O __found \"\$@\"; (( \$#__found )) && print -rl -- \"\${IPREFIX}\"\${^__found} >>${(q)2}; builtin compadd \"\$@\"; }"
            zpty -w shell "zstyle \":completion:*\" menu no; LISTMAX=100000"
            zpty -w -n shell "$3"$'"'"'\t'"'"'
            for i in {1..50}; do [[ -s $2 ]] && break; sleep 0.2; done
            sleep 0.3
            zpty -r shell junk "*" 2>/dev/null
            zpty -d shell
        ' _ "$t/zfunc" "$hits" "$1" >/dev/null 2>&1
        LC_ALL=C sort -u "$hits" | tr '\n' ' '
    }
    expect_completion zsh_complete "dkms " "$all_actions"
    expect_completion_covers zsh_complete "dkms --" "$long_options"
    expect_completion zsh_complete "dkms status --format=" "--format=json"
    expect_completion zsh_complete "dkms kernel_p" "kernel_postinst kernel_preinst kernel_prerm"
    expect_completion zsh_complete "dkms build --fo" "--force --force-version-override --format"
    expect_completion zsh_complete "dkms remove --dkmstree $t/dkms " "dkms_alpha_test dkms_alpha_test/1.0 dkms_alpha_test/2.0 dkms_beta_test dkms_beta_test/3.1"
    expect_completion zsh_complete "dkms remove --dkmstree $t/dkms -m dkms_alpha_test -v " "1.0 2.0"
    expect_completion zsh_complete "dkms status -k " "$K1 $K2"
    expect_completion zsh_complete "dkms cache " "export keygen list locations prune stats"
    expect_completion zsh_complete "dkms cache lo" "locations"
}

# ======================================================================

scenario postinst_hook
scenario header_postinst_hook
scenario postinst_hook_no_headers
scenario postinst_hook_without_autoinstaller
scenario postinst_hook_failure dkms-differs
scenario hook_policy differs
scenario hook_policy_required differs
scenario hook_policy_strict differs
scenario preinst_hook
scenario prerm_hook
scenario hooks_when_dkms_fails
scenario hooks_without_dkms
scenario kernel_install_debian
scenario kernel_install_debian_failures dkms-differs
scenario kernel_install_redhat
scenario autoinstaller
scenario autoinstaller_failure
scenario autoinstaller_without_dkms
scenario autoinstaller_disabled
scenario autoinstaller_fleet differs
scenario autoinstaller_fleet_dkms differs
scenario postinst_usage
scenario postinst_disabled
scenario postinst_current_and_newest
scenario postinst_newest_not_installed
scenario postinst_odd_boot_configs
scenario postinst_current_is_newest
scenario postinst_newest_order
scenario postinst_chroot_all_kernels
scenario postinst_chroot_two_kernels
scenario postinst_chroot_upgrade
scenario postinst_all_kernels
scenario postinst_all_kernels_dropin
scenario postinst_fleet differs
scenario postinst_reinstall
scenario postinst_no_autoinstall
scenario postinst_autoinstall_no
scenario postinst_missing_source
scenario postinst_no_kernels
scenario postinst_current_without_headers differs
scenario postinst_build_exclusive
scenario postinst_build_failure_continues
scenario postinst_build_failure_stops
scenario postinst_arch
scenario postinst_boot_variant
scenario postinst_install_failure
scenario postinst_bad_conf
scenario postinst_two_modules
scenario postinst_tarball needs-ldtarball
scenario postinst_tarball_binaries_only needs-ldtarball
scenario postinst_tarball_binaries_with_source needs-ldtarball
scenario postinst_tarball_corrupt needs-ldtarball
if [[ $real_kernel && $real_kernel != none && -d /lib/modules/$real_kernel/build/include ]]; then
    scenario postinst_real_headers
else
    skip "postinst_real_headers" "no kernel headers under /lib/modules"
fi
if [[ -z ${ONLY:-} ]]; then
    static_checks
    ((is_root)) && older_dkms_checks
    man_checks
    completion_checks
fi

echo
if ((${#notes[@]})); then
    echo "Notes (not failures):"
    printf '%s\n' "${notes[@]}" | sort | uniq -c | sed 's/^ *\([0-9]*\) \(.*\)/  \2 (in \1 scenarios)/' 
fi
if ((known_count)); then
    echo "Known differences (not counted; STRICT=1 counts them):"
    printf '  %s\n' "${knowns[@]}"
fi
if ((failed)); then
    echo "Failed:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped, $known_count known differences"
((failed == 0))
