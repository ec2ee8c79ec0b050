#!/bin/bash
# Load proof: kernel modules built and installed by a dkms implementation really load in the
# real Debian kernel, booted under qemu (TCG, no KVM needed).
#
# Usage: tests/load/run-load-proof.sh DKMS_BINARY [KERNEL_VERSION]
#
# KERNEL_VERSION defaults to the newest /boot/vmlinuz-*-amd64 that also has headers at
# /lib/modules/K/build, preferring the generic -amd64 flavour over -cloud/-rt.
#
# Four modules are made from examples/hello-dkms (renamed copies) and driven through
# `dkms add/build/install` with private --dkmstree/--sourcetree/--installtree trees:
#   plain       lp_plain    unsigned (try_sign_modules=false), installed as .ko
#   signed      lp_signed   try_sign_modules=true + mok_signing_key/mok_certificate in the
#                           environment: dkms generates the key pair with openssl and signs
#                           with sign-file; checked with modinfo (signer, sig_key = certificate
#                           serial) and by verifying the appended PKCS#7 signature with openssl
#   compressed  lp_xz       separate install tree holding a dummy kernel/dummy.ko.xz, so dkms
#                           compresses with xz like the kernel's own modules; must be .ko.xz
#   broken      lp_broken   init returns -EINVAL: must be reported as NOT loaded
#   cached      lp_cached   (swift-dkms only) built, removed, added and built again: the
#                           second build comes from the module cache (make.log says so) and
#                           is signed with the local key (modinfo signer) when published
# Every built module must have a vermagic starting with "K ". A busybox-static initramfs then
# insmods each module in the real kernel and reports `LOAD name OK|FAIL rc` plus the kernel
# log lines each load produced; the serial console output is parsed into
# "PASS <what>" / "FAIL <what>: reason" lines and a final "N passed, M failed" (exit 1 if any
# failed, 2 on setup errors).
#
# Never writes /var/lib/dkms, /usr/src or /lib/modules (warns on stderr if the dkms under test
# did).
#
# Environment:
#   LOAD_PROOF_KEEP=1      keep the temp dir (trees, logs, initramfs, serial log)
#   LOAD_PROOF_TIMEOUT     seconds allowed for the VM (default 180)
#   LOAD_PROOF_BOOT        auto (default: unpacked vmlinux via PVH, bzImage if that fails),
#                          vmlinux or bzimage
#   LOAD_PROOF_ACCEL       qemu accelerator (default tcg)

set -u

# Packages needed, installed only if missing (plus linux-image-K when /boot/vmlinuz-K is absent):
#   qemu-system-x86  the VM;  busybox-static  the initramfs userland;  cpio  packs it
#   kmod             modinfo/depmod;  xz-utils, zstd  module/kernel (de)compression
#   openssl          dkms generates the signing key with it; we verify the signature with it
#   make, gcc-12     kbuild (gcc-12 is the compiler Debian 12 kernels are built with)
PACKAGES=(qemu-system-x86 busybox-static cpio kmod xz-utils zstd openssl make gcc-12)

die() { echo "run-load-proof: $*" >&2; exit 2; }
note() { echo "# $*" >&2; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 DKMS_BINARY [KERNEL_VERSION]"
DKMS=$(readlink -f -- "$1") || die "cannot resolve $1"
[[ -x $DKMS ]] || die "$DKMS is not executable"
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXAMPLE=$script_dir/../../examples/hello-dkms
[[ -f $EXAMPLE/dkms.conf && -f $EXAMPLE/hello_dkms.c ]] || die "example module not found at $EXAMPLE"
VM_TIMEOUT=${LOAD_PROOF_TIMEOUT:-180}
BOOT_MODE=${LOAD_PROOF_BOOT:-auto}
ACCEL=${LOAD_PROOF_ACCEL:-tcg}
ARCH=$(uname -m)
[[ $ARCH = x86_64 ]] || die "x86_64 only (this is $ARCH)"
start_all=$SECONDS

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
apt_install() {
    echo "Installing: $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=1200 "$@" >&2 \
        || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y \
            --no-install-recommends -o DPkg::Lock::Timeout=1200 "$@" >&2; } \
        || die "apt-get install $* failed"
}

# --- packages --------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
((${#missing[@]} == 0)) || apt_install "${missing[@]}"

# --- kernel ----------------------------------------------------------------------------------
has_headers() { [[ -f /lib/modules/$1/build/Makefile ]]; }
# Newest version among the arguments, generic flavour first.
newest() {
    local generic others
    generic=$(printf '%s\n' "$@" | grep -Ev -- '-(cloud|rt)-amd64$' | sort -V | tail -n 1)
    others=$(printf '%s\n' "$@" | sort -V | tail -n 1)
    echo "${generic:-$others}"
}
# Print the default kernel: newest image with headers, else newest headers (image installed
# below); fails if there are no amd64 headers at all.
default_kernel() {
    local f d cands=() hdrs=()
    for f in /boot/vmlinuz-*-amd64; do
        [[ -f $f ]] && has_headers "${f#/boot/vmlinuz-}" && cands+=("${f#/boot/vmlinuz-}")
    done
    for d in /lib/modules/*-amd64; do
        has_headers "${d#/lib/modules/}" && hdrs+=("${d#/lib/modules/}")
    done
    if ((${#cands[@]})); then newest "${cands[@]}"
    elif ((${#hdrs[@]})); then newest "${hdrs[@]}"
    else return 1
    fi
}
if [[ $# -ge 2 ]]; then
    K=$2
elif ! K=$(default_kernel); then
    apt_install linux-image-amd64 linux-headers-amd64
    K=$(default_kernel) || die "no kernel with headers even after installing linux-image-amd64"
fi
[[ -f /boot/vmlinuz-$K ]] || apt_install "linux-image-$K"
[[ -f /boot/vmlinuz-$K ]] || die "no /boot/vmlinuz-$K"
has_headers "$K" || die "no kernel headers for $K (/lib/modules/$K/build)"
HEADERS=$(readlink -f "/lib/modules/$K/build")
note "kernel $K, dkms $DKMS"

# --- work dir, cleaned up on exit ------------------------------------------------------------
W=$(mktemp -d "${TMPDIR:-/tmp}/dkms-load-proof.XXXXXX") || die "mktemp failed"
chmod 755 "$W"   # the build user must reach the trees below
cleanup() {
    if [[ ${LOAD_PROOF_KEEP:-} = 1 ]]; then note "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$W/src" "$W/tmp" "$W/etc" "$W/keys"
touch "$W/stamp"
LOG=$W/dkms.log DK_FROM=1
: > "$LOG"

# Two tree sets: "main" (plain, signed, broken) and "xz" whose install tree holds a dummy
# compressed module, which makes dkms compress what it installs there. Neither has a
# modules.dep, so dkms skips depmod: upstream would run `depmod -a K` on the real
# /lib/modules/K otherwise (its depmod call ignores --installtree).
for t in main xz; do
    mkdir -p "$W/$t/D" "$W/$t/S" "$W/$t/I/$K"
    ln -s "$HEADERS" "$W/$t/I/$K/build"
done
mkdir -p "$W/xz/I/$K/kernel"
: > "$W/xz/I/$K/kernel/dummy.ko.xz"

# Run dkms on tree set $1 with extra environment (VAR=VALUE words) up to "--", then dkms
# arguments. A clean environment: only what is given here can leak into dkms.
# SWIFT_DKMS_SYSCONFDIR points swift-dkms at an empty /etc/dkms (upstream ignores it).
dk() {
    local t=$1 vars=()
    shift
    while [[ $1 != -- ]]; do vars+=("$1"); shift; done
    shift
    DK_FROM=$(($(wc -l < "$LOG") + 1))   # first log line of this step, for dkfail
    echo "+ ${vars[*]} dkms $* [$t trees]" >> "$LOG"
    env -i PATH="$PATH" HOME="${HOME:-/root}" TMPDIR="$W/tmp" SWIFT_DKMS_SYSCONFDIR="$W/etc" \
        "${vars[@]}" timeout 900 "$DKMS" "$@" \
        --dkmstree "$W/$t/D" --sourcetree "$W/$t/S" --installtree "$W/$t/I" \
        < /dev/null >> "$LOG" 2>&1
    local rc=$?
    echo "+ exit $rc" >> "$LOG"
    return $rc
}

# Copy the example as package $1 with module $2 and description $3; $4=broken makes its init
# fail with -EINVAL after logging that it ran.
make_src() {
    local pkg=$1 mod=$2 desc=$3 dir=$W/src/$1-1.0
    mkdir -p "$dir"
    sed "s/hello_dkms/$mod/g" "$EXAMPLE/Makefile" > "$dir/Makefile"
    sed -e "s/^PACKAGE_NAME=.*/PACKAGE_NAME=\"$pkg\"/" \
        -e "s/^BUILT_MODULE_NAME\[0\]=.*/BUILT_MODULE_NAME[0]=\"$mod\"/" \
        "$EXAMPLE/dkms.conf" > "$dir/dkms.conf"
    sed -e "s/hello_dkms/$mod/g" -e "s/MODULE_DESCRIPTION(.*)/MODULE_DESCRIPTION(\"$desc\")/" \
        "$EXAMPLE/hello_dkms.c" > "$dir/$mod.c"
    if [[ ${4:-} = broken ]]; then
        sed -i -e "s/$mod: loaded/$mod: init fails on purpose/" \
            -e "0,/return 0;/s//return -EINVAL;/" "$dir/$mod.c"
        grep -q 'return -EINVAL;' "$dir/$mod.c" || die "could not break $mod.c"
    fi
    if ! { grep -q "^PACKAGE_NAME=\"$pkg\"" "$dir/dkms.conf" && grep -q "\"$mod\"" "$dir/dkms.conf" \
        && grep -q "$mod.o" "$dir/Makefile" && grep -q "pr_info(\"$mod: " "$dir/$mod.c"; }; then
        die "renaming the example to $pkg/$mod failed"
    fi
}

# --- results ---------------------------------------------------------------------------------
passed=0 failed=0
declare -A BAD KO
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
bad() { [[ -n ${BAD[$1]:-} ]] || BAD[$1]=$2; }   # first host-side problem of check $1
# A dkms step $2 of check $1 failed: record it, show the end of its output (and make.log).
dkfail() {
    local m
    bad "$1" "dkms $2 failed (exit $3)"
    echo "# $1: dkms $2 failed; its output:" >&2
    tail -n "+$DK_FROM" "$LOG" | tail -n 25 | sed 's/^/  | /' >&2
    m=$(find "$W" -path "*/${MOD[$1]//_/-}/*" -name make.log -print -quit 2> /dev/null)
    [[ -z $m ]] || { echo "# ${m#"$W"/}:" >&2; tail -n 20 "$m" | sed 's/^/  | /' >&2; }
}

# check name -> tree set, module, package, extra dkms environment
declare -A TREE=([plain]=main [signed]=main [compressed]=xz [broken]=main [cached]=main)
declare -A MOD=([plain]=lp_plain [signed]=lp_signed [compressed]=lp_xz [broken]=lp_broken [cached]=lp_cached)
CHECKS=(plain signed compressed broken)
# The module cache is swift-dkms': upstream has no `dkms cache`.
if "$DKMS" cache stats --dkmstree "$W/tmp/probe" 2> /dev/null | grep -q "^entries:"; then CHECKS+=(cached); fi
NOSIGN=(try_sign_modules=false)
SIGN=(try_sign_modules=true "mok_signing_key=$W/keys/mok.key" "mok_certificate=$W/keys/mok.pub")

# --- build and install with dkms -------------------------------------------------------------
t0=$SECONDS
for c in "${CHECKS[@]}"; do
    mod=${MOD[$c]} pkg=${MOD[$c]//_/-} t=${TREE[$c]}
    env_=("${NOSIGN[@]}")
    [[ $c = signed || $c = cached ]] && env_=("${SIGN[@]}")
    make_src "$pkg" "$mod" "swift-dkms load proof: $c" "$([[ $c = broken ]] && echo broken)"
    dk "$t" "${env_[@]}" -- add "$W/src/$pkg-1.0" || { dkfail "$c" add $?; continue; }
    dk "$t" "${env_[@]}" -- build "$pkg/1.0" -k "$K" || { dkfail "$c" build $?; continue; }
    if [[ $c = cached ]]; then
        dk "$t" "${env_[@]}" -- remove "$pkg/1.0" --all || { dkfail "$c" remove $?; continue; }
        dk "$t" "${env_[@]}" -- add "$W/src/$pkg-1.0" || { dkfail "$c" add $?; continue; }
        dk "$t" "${env_[@]}" -- build "$pkg/1.0" -k "$K" || { dkfail "$c" "build (cached)" $?; continue; }
        sed -n 2p "$W/$t/D/$pkg/1.0/$K/$ARCH/log/make.log" | grep -qF "from the module cache" \
            || bad "$c" "the second build did not come from the module cache (make.log line 2)"
    fi
    dk "$t" "${env_[@]}" -- install "$pkg/1.0" -k "$K" || { dkfail "$c" install $?; continue; }
    dk "$t" -- status "$pkg/1.0" -k "$K" > /dev/null
    grep -qxF "$pkg/1.0, $K, $ARCH: installed" < <(tail -n 3 "$LOG") \
        || bad "$c" "dkms status does not say installed"
    mapfile -t kos < <(find "$W/$t/I/$K" -name "$mod.ko*" -type f)
    [[ ${#kos[@]} = 1 ]] || { bad "$c" "expected one installed $mod.ko*, found ${#kos[@]}"; continue; }
    KO[$c]=${kos[0]}
    vm=$(modinfo -F vermagic "${KO[$c]}" 2>&1)
    [[ $vm = "$K "* ]] || bad "$c" "vermagic '$vm' does not start with '$K '"
done
note "dkms add/build/install of ${#CHECKS[@]} modules: $((SECONDS - t0))s"

# plain: an uncompressed, unsigned .ko
if [[ -n ${KO[plain]:-} ]]; then
    [[ ${KO[plain]} = *.ko ]] || bad plain "installed as ${KO[plain]##*/}, expected .ko"
    [[ -z $(modinfo -F signer "${KO[plain]}") ]] || bad plain "signed although try_sign_modules=false"
fi

# signed: dkms created the key pair; modinfo shows our signer and certificate serial; the
# appended PKCS#7 signature (layout: module | PKCS#7 | 12-byte module_signature whose last 4
# bytes are the big-endian PKCS#7 length | "~Module signature appended~\n") verifies against
# the certificate over the module bytes.
if [[ -n ${KO[signed]:-} ]]; then
    ko=${KO[signed]}
    if [[ ! -s $W/keys/mok.key || ! -s $W/keys/mok.pub ]]; then
        bad signed "dkms did not generate $W/keys/mok.key and mok.pub"
    else
        signer=$(modinfo -F signer "$ko")
        sig_key=$(modinfo -F sig_key "$ko")
        serial=$(openssl x509 -serial -inform DER -in "$W/keys/mok.pub" -noout)
        serial=${serial#serial=}
        [[ $signer = "DKMS module signing key" ]] || bad signed "modinfo signer is '$signer'"
        norm_key=${sig_key//:/} norm_serial=${serial//:/}
        [[ -n $norm_key && ${norm_key^^} = "${norm_serial^^}" ]] \
            || bad signed "sig_key '$sig_key' is not the certificate serial $serial"
        size=$(stat -c %s "$ko")
        siglen=$(tail -c 32 "$ko" | head -c 4 | od -An -tu1 \
            | awk '{print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4}')
        if [[ $(tail -c 28 "$ko") != "~Module signature appended~" ]]; then
            bad signed "no appended module signature"
        else
            head -c $((size - 40 - siglen)) "$ko" > "$W/signed.body"
            tail -c $((siglen + 40)) "$ko" | head -c "$siglen" > "$W/signed.p7"
            openssl x509 -inform DER -in "$W/keys/mok.pub" -out "$W/keys/mok.pem"
            openssl cms -verify -binary -inform DER -in "$W/signed.p7" -content "$W/signed.body" \
                -certfile "$W/keys/mok.pem" -noverify -out /dev/null > "$W/cms.log" 2>&1 \
                || bad signed "PKCS#7 signature does not verify: $(tail -n 1 "$W/cms.log")"
        fi
        note "signed: signer '$signer', sig_key $sig_key, certificate serial $serial"
    fi
fi

# cached: taken from the cache, signed on publishing with the local key
if [[ -n ${KO[cached]:-} ]]; then
    signer=$(modinfo -F signer "${KO[cached]}")
    [[ $signer = "DKMS module signing key" ]] || bad cached "modinfo signer of the cached module is '$signer'"
fi

# compressed: a real xz file holding an ELF module
if [[ -n ${KO[compressed]:-} ]]; then
    ko=${KO[compressed]}
    if [[ $ko != *.ko.xz ]]; then
        bad compressed "installed as ${ko##*/}, expected .ko.xz"
    elif ! xz -t "$ko" 2> /dev/null || [[ $(xz -dc "$ko" | head -c 4 | od -An -c | tr -d ' ') != 177ELF ]]; then
        bad compressed "${ko##*/} is not an xz-compressed ELF file"
    fi
fi

# --- initramfs -------------------------------------------------------------------------------
# /init loads each module in order and reports its result and the kernel log lines it produced.
# busybox insmod can take .ko.xz itself (finit_module rejects the xz data, "Invalid ELF header
# magic", and busybox falls back to decompressing it and calling init_module); should a busybox
# lack that, the script decompresses with unxz and retries, and says so ("via unxz").
# busybox makes that fallback on any finit_module error, so the broken module's init runs twice.
R=$W/initramfs
mkdir -p "$R/bin" "$R/dev" "$R/proc" "$R/sys" "$R/tmp" "$R/mod"
cp /bin/busybox "$R/bin/busybox" || die "no /bin/busybox"
for a in sh mount insmod dmesg cat tail wc sed grep unxz uname poweroff; do
    ln -s busybox "$R/bin/$a"
done
order=()
# signed first: its log then carries the one-time "module verification failed" taint notice,
# expected since the DKMS key is not enrolled in this kernel.
for c in signed cached plain compressed broken; do
    [[ -n ${KO[$c]:-} ]] || continue
    cp "${KO[$c]}" "$R/mod/" && order+=("${KO[$c]##*/}")
done
printf '%s\n' "${order[@]}" > "$R/mod/order"
cat > "$R/init" << 'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "LOADPROOF BEGIN $(uname -r)"
for f in $(cat /mod/order); do
    name=${f%%.ko*}
    before=$(dmesg | wc -l)
    insmod "/mod/$f" 2> /tmp/err; rc=$?; how=insmod
    if [ $rc -ne 0 ] && [ "${f%.xz}" != "$f" ]; then
        sed "s/^/ERR $name /" /tmp/err
        unxz -c "/mod/$f" > "/tmp/$name.ko" && insmod "/tmp/$name.ko" 2> /tmp/err; rc=$?
        how=unxz
    fi
    sed "s/^/ERR $name /" /tmp/err
    if [ $rc -eq 0 ]; then echo "LOAD $name OK via $how"; else echo "LOAD $name FAIL $rc"; fi
    dmesg | tail -n +$((before + 1)) | sed "s/^/DMESG $name /"
done
sed 's/^/MODULE /' /proc/modules
echo "LOADPROOF END"
poweroff -f
EOF
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet) > "$W/initramfs.cpio" || die "cpio failed"

# --- boot ------------------------------------------------------------------------------------
# Booting the bzImage makes the guest decompress the kernel under TCG (~5 s); unpacking it here
# (like scripts/extract-vmlinux) and booting the ELF vmlinux through its PVH entry point
# (CONFIG_PVH) takes ~2.5 s. Fall back to the bzImage if that does not work.
extract_vmlinux() {
    local img=$1 out=$2 magic cmd off
    for m in 'xz:\xFD7zXZ\x00' 'zstd -q:\x28\xB5\x2F\xFD' 'gzip -q:\x1F\x8B\x08' 'lz4 -q:\x02\x21\x4C\x18'; do
        cmd=${m%%:*} magic=${m#*:}
        command -v "${cmd%% *}" > /dev/null || continue
        for off in $(LC_ALL=C grep -aboP "$magic" "$img" | cut -d: -f1 | head -n 3); do
            tail -c +$((off + 1)) "$img" | $cmd -dc > "$out" 2> /dev/null
            [[ $(head -c 4 "$out" | od -An -c | tr -d ' ') = 177ELF ]] && return 0
        done
    done
    return 1
}
boot() {
    timeout "$VM_TIMEOUT" qemu-system-x86_64 -accel "$ACCEL" -m 512 -nographic -no-reboot \
        -nic none -kernel "$1" -initrd "$W/initramfs.cpio" \
        -append 'console=ttyS0 panic=-1 quiet' < /dev/null > "$2" 2>&1
    local rc=$?
    tr -d '\r' < "$2" > "$2.txt"
    grep -q "LOADPROOF BEGIN" "$2.txt" && grep -q "LOADPROOF END" "$2.txt" && return 0
    note "boot of $1 did not complete (exit $rc$( ((rc == 124)) && echo ", timeout ${VM_TIMEOUT}s"))"
    return 1
}
SERIAL=$W/serial
t0=$SECONDS
booted=
if [[ $BOOT_MODE != bzimage ]] && grep -q '^CONFIG_PVH=y' "/boot/config-$K" 2> /dev/null \
    && extract_vmlinux "/boot/vmlinuz-$K" "$W/vmlinux"; then
    boot "$W/vmlinux" "$SERIAL" && booted=vmlinux
fi
if [[ -z $booted && $BOOT_MODE != vmlinux ]]; then
    boot "/boot/vmlinuz-$K" "$SERIAL" && booted=bzImage
fi
note "VM boot (${booted:-failed}): $((SECONDS - t0))s"
[[ -f $SERIAL.txt ]] || : > "$SERIAL.txt"
if [[ -z $booted ]]; then
    echo "# end of the serial console output:" >&2
    tail -n 25 "$SERIAL.txt" | sed 's/^/  | /' >&2
fi
grep -E '^(LOADPROOF|LOAD |ERR |DMESG |MODULE lp_)' "$SERIAL.txt" | sed 's/^/  | /' >&2

# --- verdicts --------------------------------------------------------------------------------
running=$(sed -n 's/^.*LOADPROOF BEGIN //p' "$SERIAL.txt" | head -n 1)
vm_ok=1
if [[ -z $booted ]]; then
    vm_ok=0 vm_why="the VM did not run the initramfs to its end"
elif [[ $running != "$K" ]]; then
    vm_ok=0 vm_why="VM runs kernel '$running', expected $K"
fi
load_line() { grep -oE "LOAD $1 (OK|FAIL).*" "$SERIAL.txt" | head -n 1; }
dmesg_has() { grep -qF "DMESG $1 " "$SERIAL.txt" && grep "DMESG $1 " "$SERIAL.txt" | grep -qF "$2"; }
listed() { grep -qE "^MODULE $1 " "$SERIAL.txt"; }

for c in "${CHECKS[@]}"; do
    mod=${MOD[$c]}
    what="$c loaded"
    [[ $c = broken ]] && what="broken reported as not loaded"
    if [[ -n ${BAD[$c]:-} ]]; then fail "$what" "${BAD[$c]}"; continue; fi
    if ((!vm_ok)); then fail "$what" "$vm_why"; continue; fi
    line=$(load_line "$mod")
    case $c:$line in
        *:) fail "$what" "no LOAD line for $mod in the serial output" ;;
        broken:"LOAD $mod FAIL"*)
            if ! dmesg_has "$mod" "$mod: init fails on purpose"; then
                fail "$what" "insmod failed but the module's init never ran: ${line#LOAD "$mod" }"
            elif listed "$mod"; then
                fail "$what" "$mod is in /proc/modules"
            else
                pass "$what (insmod ${line#LOAD "$mod" }, init ran and returned -EINVAL)"
            fi ;;
        broken:*) fail "$what" "insmod reported success: $line" ;;
        *:"LOAD $mod OK"*)
            if ! dmesg_has "$mod" "$mod: loaded"; then
                fail "$what" "no '$mod: loaded' in the kernel log"
            elif ! listed "$mod"; then
                fail "$what" "$mod is not in /proc/modules"
            else
                pass "$what (${KO[$c]##*/}, ${line#LOAD "$mod" OK })"
            fi ;;
        *) fail "$what" "${line#LOAD "$mod" }" ;;
    esac
done

# Anything written outside the private trees (by the dkms under test) is worth a warning.
hits=$(find /var/lib/dkms /usr/src /lib/modules/"$K" -maxdepth 1 -newer "$W/stamp" 2> /dev/null \
    | tr '\n' ' ')
[[ -z $hits ]] || echo "WARN modified outside the private trees: $hits" >&2
note "total: $((SECONDS - start_all))s"

((failed == 0)) || [[ ${LOAD_PROOF_KEEP:-} = 1 ]] || note "rerun with LOAD_PROOF_KEEP=1 to keep trees and logs"
echo "$passed passed, $failed failed"
((failed == 0))
