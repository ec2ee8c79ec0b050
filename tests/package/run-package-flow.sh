#!/bin/bash
# The real package flow on this machine, with full clean-up:
#  1. build the swift-dkms .deb; lintian finds no error in it, its root
#     entry is 0755 and it ships copyright and changelog; it installs with
#     apt in a Debian root without gcc, make or headers, where dkms works
#     (tests/chroot/run-fleet-client.sh, a fleet client);
#  2. as a Debian admin would: Debian's dkms with an unmodified *-dkms
#     package (its postinst builds the module), then our .deb swapped in
#     with apt (it Provides and replaces dkms), the kernel hooks run as a
#     kernel package runs them, a second kernel's headers installed (the
#     header_postinst.d hook builds the module for it), and Debian's dkms
#     swapped back in, its hooks run and a third kernel's headers
#     installed: no hook prints an error, the module stays installed at
#     every step, and nothing of ours is left that Debian's dkms trips over;
#  3. ours again: purging the package removes the module from every kernel;
#  4. a binary package of built modules (dkms mkbmdeb) installs and purges;
#  5. a module source package of our own built with `dh $@ --with dkms`
#     (dpkg-buildpackage) installs and purges the same way.
# Everything it installed is purged at the end (Debian's dkms is put back
# if it was installed before). Prints PASS/FAIL lines and `N passed, M
# failed`.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
export DEBIAN_FRONTEND=noninteractive
package=${FLOW_PACKAGE:-v4l2loopback-dkms}
module=${FLOW_MODULE:-v4l2loopback}
passed=0
failed=0
work=$(mktemp -d /tmp/swift-dkms-flow.XXXXXX)
chmod 755 "$work"   # sandboxed builds (the fleet part) run as an unprivileged user that must reach the trees
installed_headers=()
start=$SECONDS
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
debian_dkms_before=0
installed dkms && debian_dkms_before=1
# The directories scripts/install-dependencies.sh makes for tests that
# run dkms here; purging the package removes them, the end puts them back.
dirs_before=()
for d in /etc/dkms/framework.conf.d /var/lib/dkms; do [[ -d $d ]] && dirs_before+=("$d"); done
# The signing key dkms creates on first use: removed at the end if the flow made it.
mok_before=0
[[ -e /var/lib/dkms/mok.key || -e /var/lib/dkms/mok.pub ]] && mok_before=1

check() { # NAME COMMAND...
    local name=$1
    shift
    if "$@"; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        failed=$((failed + 1))
    fi
}

apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }

# The two modules of the hook policy check, their sources and mark.
remove_policy_modules() {
    local m
    rm -f /etc/dkms/flowbad.conf
    for m in flowgood flowbad; do
        [[ -d /usr/src/$m-1.0 ]] || continue
        dkms remove "$m/1.0" --all >/dev/null 2>&1
        rm -rf "/usr/src/$m-1.0"
    done
}

build_user_before=0
getent passwd dkms-build >/dev/null && build_user_before=1

cleanup() {
    remove_policy_modules
    dpkg --configure -a >/dev/null 2>&1
    apt_get purge -y -qq "$package" hello-dkms >/dev/null 2>&1
    dpkg -P $(dpkg-query -W -f='${Package}\n' 'hello-dkms-modules-*' 2>/dev/null) >/dev/null 2>&1
    local h
    for h in "${installed_headers[@]}"; do
        apt_get purge -y -qq "$h" "${h%-amd64}-common" >/dev/null 2>&1
    done
    apt_get purge -y -qq swift-dkms >/dev/null 2>&1
    if ((debian_dkms_before)); then
        installed dkms || apt_get install -y -qq --no-install-recommends dkms >/dev/null 2>&1
    else
        apt_get purge -y -qq dkms >/dev/null 2>&1
    fi
    ((mok_before)) || rm -f /var/lib/dkms/mok.key /var/lib/dkms/mok.pub
    # The package keeps its build user on purge (postinst says why); this machine had none.
    ((build_user_before)) || userdel dkms-build >/dev/null 2>&1
    ((${#dirs_before[@]})) && mkdir -p "${dirs_before[@]}"
    rm -rf "$work"
}
trap cleanup EXIT

# apt LOG ARGS...: runs apt-get quietly, its output (with the hooks') in $work/LOG.
apt_logged() {
    local log=$work/$1
    shift
    apt_get -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "$@" >"$log" 2>&1 || { tail -30 "$log"; return 1; }
}
apt_quiet() { apt_logged apt.log "$@"; }
# No hook or maintainer script said anything that looks like a failure.
no_errors_in() {
    if grep -nE 'Error!|Unknown action|Usage: |Unknown option|returned error exit status|exited with return code|dkms: WARNING' "$work/$1"; then
        return 1
    fi
}
module_files() { find /lib/modules/*/updates/dkms -name "$module.ko*" 2>/dev/null | LC_ALL=C sort; }
# The module's files and their checksums, to compare across steps.
module_fingerprint() { module_files | xargs -r md5sum; }
installed_for() { grep -q ': installed' <<<"$(dkms status -m "$module" -k "$1" 2>/dev/null)" && [[ -n $(ls /lib/modules/"$1"/updates/dkms/"$module".ko* 2>/dev/null) ]]; }
# Runs the dkms hooks of a kernel image package for kernel $1, as its
# maintainer scripts do (run-parts KVER IMAGE), into $work/$2.
run_image_hooks() {
    local k=$1 log=$work/$2 hook
    : >"$log"
    for hook in /etc/kernel/preinst.d/dkms /etc/kernel/postinst.d/dkms; do
        [[ -x $hook ]] || continue
        echo "## $hook $k" >>"$log"
        "$hook" "$k" "/boot/vmlinuz-$k" >>"$log" 2>&1 || echo "## $hook exited with return code $?" >>"$log"
    done
}
# The newest kernel with headers here, of the generic flavour if there is one.
newest_kernel_with_headers() {
    local all generic
    all=$(for d in /lib/modules/*/build/include; do [[ -d $d ]] && basename "$(dirname "$(dirname "$d")")"; done | sort -V)
    generic=$(grep -E -- '^[0-9.]+-[0-9]+-amd64$' <<<"$all" | tail -n 1)
    echo "${generic:-$(tail -n 1 <<<"$all")}"
}
# Older ABIs of the generic headers installed here, not installed yet.
headers_candidates() {
    local abi old
    abi=$(sed -n 's/^6\.1\.0-\([0-9]*\)-amd64$/\1/p' <<<"$(newest_kernel_with_headers)")
    [[ -n $abi ]] || return 0
    for ((old = abi - 1; old > abi - 8; old--)); do
        if apt-cache show "linux-headers-6.1.0-$old-amd64" >/dev/null 2>&1 && ! installed "linux-headers-6.1.0-$old-amd64"; then
            echo "linux-headers-6.1.0-$old-amd64"
        fi
    done
}
# install_headers PACKAGE LOG: installs a kernel's headers with apt.
install_headers() {
    installed_headers+=("$1")
    apt_logged "$2" install "$1"
}
candidates=()
if [[ -n ${FLOW_HEADERS:-} ]]; then read -ra candidates <<<"$FLOW_HEADERS"; else mapfile -t candidates < <(headers_candidates); fi
kernel=$(newest_kernel_with_headers)

# 1. The package itself.
deb=$(packaging/build-deb.sh "$work/deb" | tail -n 1)
check "swift-dkms package built" test -f "$deb"
dpkg-deb -c "$deb" >"$work/contents" 2>&1
check "root entry of the package is drwxr-xr-x root/root" bash -c "head -n 1 '$work/contents' | grep -q '^drwxr-xr-x root/root .* \./\$'"
check "package ships copyright and changelog" bash -c "grep -q ' ./usr/share/doc/swift-dkms/copyright\$' '$work/contents' && grep -q ' ./usr/share/doc/swift-dkms/changelog.Debian.gz\$' '$work/contents'"
if command -v lintian >/dev/null; then
    lintian --no-tag-display-limit "$deb" >"$work/lintian.log" 2>&1
    check "lintian: no errors in the package" bash -c "! grep '^E:' '$work/lintian.log'"
    echo "# lintian: $(grep -c '^E:' "$work/lintian.log") errors, $(grep -c '^W:' "$work/lintian.log") warnings"
else
    echo "SKIP lintian is not installed"
fi

# A fleet client (issue 18): the package installs with apt and dkms works
# in a Debian root without gcc, make or headers (tests/chroot's cached
# root; nothing on this machine is touched).
"$repo/tests/chroot/run-fleet-client.sh" "$deb" >"$work/fleet-client.log" 2>&1
client_rc=$?
sed 's/^/# client: /' "$work/fleet-client.log"
if ((client_rc == 77)); then
    echo "SKIP fleet client: $(tail -n 1 "$work/fleet-client.log")"
else
    check "fleet client: installs and runs without gcc, make or headers" test "$client_rc" = 0
fi

# 2. Debian's dkms -> ours -> Debian's, with a module package installed.
swap=1
if ((debian_dkms_before)); then
    echo "# Debian's dkms was installed before; it is put back at the end"
elif ! grep -q '^Maintainer: .*@packages\.debian\.org' <<<"$(apt-cache show dkms 2>/dev/null)"; then
    echo "SKIP no Debian dkms package to swap with"
    swap=0
fi
if ((swap)); then
    check "Debian's dkms installs with apt" apt_logged debian-dkms.log install dkms
    check "$package installs with Debian's dkms" apt_logged debian-module.log install "$package"
    check "Debian's dkms built and installed $module for $kernel" installed_for "$kernel"
    no_errors_in debian-module.log >/dev/null
    fingerprint=$(module_fingerprint)

    check "swift-dkms replaces Debian's dkms with apt" apt_logged swap-in.log install "$deb"
    check "dkms on PATH is ours" bash -c '[[ $(dkms --version) == dkms-3.4.3 && $(dpkg -S /usr/sbin/dkms) == swift-dkms:* ]]'
    check "no error while swapping in" no_errors_in swap-in.log
    check "module intact after the swap to ours" bash -c "[[ \$(dkms status -m $module -k $kernel) == *': installed'* && '$(module_fingerprint)' == '$fingerprint' ]]"
    run_image_hooks "$kernel" hooks-ours.log
    check "kernel image hooks with ours print no error" no_errors_in hooks-ours.log
    check "module reinstalled by the hooks for $kernel" installed_for "$kernel"
    if [[ -x /etc/kernel/install.d/dkms ]]; then
        check "our kernel-install plugin steps aside for Debian's install.d/dkms" bash -c "[[ -z \$(/usr/lib/kernel/install.d/40-dkms.install add $kernel 2>&1) ]]"
    fi
fi
if ((!swap)); then
    check "swift-dkms installs with apt" apt_quiet install "$deb"
    check "dkms on PATH is ours" bash -c '[[ $(dkms --version) == dkms-3.4.3 && $(dpkg -S /usr/sbin/dkms) == swift-dkms:* ]]'
    check "$package installs with apt" apt_quiet install "$package"
    check "$package installed for a kernel with headers" bash -c "dkms status -m $module | grep -q ': installed'"
fi
check "the package made the build user dkms-build (system uid, its own group, no login, no home)" bash -c \
    'IFS=: read -r _ _ u g _ h sh < <(getent passwd dkms-build) && ((u > 0 && u < 1000)) && [[ $(getent group "$g" | cut -d: -f1) == dkms-build && $sh == */nologin && ! -e $h ]]'
check "the build user owns no file on the host after the builds" bash -c '[[ -z $(find / -xdev \( -user dkms-build -o -group dkms-build \) -print -quit 2>/dev/null) ]]'
check "kernel hooks installed" test -x /etc/kernel/header_postinst.d/dkms -a -x /usr/lib/dkms/common.postinst
check "module file present" bash -c "[[ -n \$(find /lib/modules/*/updates/dkms -name '$module.ko*' 2>/dev/null) ]]"

# A second kernel's headers: the header_postinst.d hook builds the module.
second_kernel=""
if ((${#candidates[@]} >= 1)); then
    second_kernel=${candidates[0]#linux-headers-}
    check "second kernel headers (${candidates[0]}) install with ours" install_headers "${candidates[0]}" headers-ours.log
    check "no hook error while installing headers with ours" no_errors_in headers-ours.log
    check "header_postinst hook built $module for $second_kernel" installed_for "$second_kernel"
else
    echo "SKIP no second kernel headers package available"
fi

if ((swap)); then
    fingerprint=$(module_fingerprint)
    check "Debian's dkms replaces ours with apt" apt_logged swap-back.log install dkms
    check "dkms on PATH is Debian's again" bash -c '[[ $(dpkg -S /usr/sbin/dkms) == dkms:* ]] && ! dpkg-query -W -f="\${Status}" swift-dkms | grep -q "ok installed"'
    check "no error while swapping back" no_errors_in swap-back.log
    check "module intact after the swap back" bash -c "[[ \$(dkms status -m $module -k $kernel) == *': installed'* && '$(module_fingerprint)' == '$fingerprint' ]]"
    check "no swift-dkms bookkeeping left in the dkms tree" bash -c "[[ ! -e /var/lib/dkms/.logs && ! -e /var/lib/dkms/.lock && ! -e /var/lib/dkms/.failed && ! -e /var/lib/dkms/.cache ]]"
    run_image_hooks "$kernel" hooks-debian.log
    check "kernel image hooks with Debian's dkms (and our leftover preinst.d) print no error" no_errors_in hooks-debian.log
    check "module still installed for $kernel after the hooks" installed_for "$kernel"
    if ((${#candidates[@]} >= 2)); then
        third_kernel=${candidates[1]#linux-headers-}
        check "third kernel headers (${candidates[1]}) install with Debian's dkms" install_headers "${candidates[1]}" headers-debian.log
        check "no hook error while installing headers with Debian's dkms" no_errors_in headers-debian.log
        check "Debian's dkms built $module for $third_kernel" installed_for "$third_kernel"
    else
        echo "SKIP no third kernel headers package available"
    fi
    check "swift-dkms replaces Debian's dkms again" apt_logged swap-again.log install "$deb"
    check "no error while swapping in again" no_errors_in swap-again.log
    check "module still installed for every kernel" bash -c "for k in $kernel $second_kernel ${third_kernel:-}; do [[ \$(dkms status -m $module -k \$k) == *': installed'* ]] || exit 1; done"
fi

# 3. Purging the module package with ours.
check "$package purges" apt_quiet purge "$package"
check "module gone from every kernel" bash -c "[[ -z \$(find /lib/modules/*/updates/dkms -name '$module.ko*' 2>/dev/null) ]]"
check "module gone from the dkms tree" bash -c "[[ ! -d /var/lib/dkms/$module && -z \$(dkms status -m $module) && ! -e /var/lib/dkms/.logs/$module ]]"

# The kernel hook policy through apt (issue 11 item 2): with one module
# that fails to build and one that builds, both AUTOINSTALL, installing a
# kernel's headers succeeds, the good module is installed for it, and the
# failure is reported with its kept log and shown by status --json; once
# the failing module is marked required, the same apt run fails, as it
# always does with upstream's dkms.
if [[ -n $second_kernel ]] && installed swift-dkms; then
    policy_headers=${candidates[0]}
    arch=$(uname -m)
    apt_quiet purge "$policy_headers" "${policy_headers%-amd64}-common"
    for m in flowgood flowbad; do
        mkdir -p "/usr/src/$m-1.0"
        printf 'PACKAGE_NAME="%s"\nPACKAGE_VERSION="1.0"\nBUILT_MODULE_NAME[0]="%s"\nDEST_MODULE_LOCATION[0]="/updates/dkms"\nAUTOINSTALL="yes"\n' "$m" "$m" >"/usr/src/$m-1.0/dkms.conf"
        echo "obj-m := $m.o" >"/usr/src/$m-1.0/Makefile"
        printf '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n' >"/usr/src/$m-1.0/$m.c"
        dkms add "$m/1.0" >/dev/null
    done
    echo 'this is not C;' >>/usr/src/flowbad-1.0/flowbad.c
    check "policy: headers install with apt although a module fails" install_headers "$policy_headers" policy.log
    check "policy: the good module is installed for $second_kernel" bash -c "dkms status flowgood/1.0 -k $second_kernel | grep -q ': installed'"
    log=/var/lib/dkms/.logs/flowbad/1.0/$second_kernel/$arch/make.log
    check "policy: the failure is reported with its kept log" bash -c "grep -q 'flowbad/1.0 failed for kernel $second_kernel.*$log' '$work/policy.log' && test -s '$log'"
    check "policy: status --json lists the failure with its log" bash -c "dkms status --json | python3 -c '
import json, sys
failures = json.load(sys.stdin).get(\"failures\", [])
sys.exit(0 if any(f[\"module\"] == \"flowbad\" and f[\"kernel\"] == \"$second_kernel\" and f[\"log\"] == \"$log\" for f in failures) else 1)'"
    echo 'REQUIRED_MODULE="yes"' >/etc/dkms/flowbad.conf
    apt_quiet purge "$policy_headers" "${policy_headers%-amd64}-common"
    required_failed=0
    apt_logged policy-required.log install "$policy_headers" >/dev/null || required_failed=1
    check "policy: with the failing module required, the same apt run fails" test "$required_failed" = 1
    check "policy: and says the module is needed to boot" grep -q "needed to boot $second_kernel: flowbad/1.0 (REQUIRED_MODULE=yes)" "$work/policy-required.log"
    rm -f /etc/dkms/flowbad.conf
    check "policy: dpkg configures the kernel headers once the mark is gone" bash -c "dpkg --configure -a >'$work/policy-configure.log' 2>&1 && dpkg-query -W -f='\${Status}' '$policy_headers' | grep -q 'ok installed'"
    remove_policy_modules
else
    echo "SKIP policy: needs ours installed and a second kernel's headers"
fi

# The fleet path: modules built here become a binary package that dpkg
# installs without compiler or headers, owning the module files.
fleet_kernel=""
for image in /boot/vmlinuz-*; do
    k=${image#/boot/vmlinuz-}
    [[ -d /lib/modules/$k/build/include ]] && fleet_kernel=$k
done
if [[ -n $fleet_kernel ]]; then
    fleet=$work/fleet
    mkdir -p "$fleet"/{dkms,src,out,modules/"$fleet_kernel"}
    ln -s "/lib/modules/$fleet_kernel/build" "$fleet/modules/$fleet_kernel/build"
    fleet_trees=(--dkmstree "$fleet/dkms" --sourcetree "$fleet/src" --installtree "$fleet/modules")
    check "mkbmdeb builds a binary package" bash -c "
        try_sign_modules=false dkms add examples/hello-dkms ${fleet_trees[*]} >/dev/null &&
        try_sign_modules=false dkms build hello-dkms/1.0 -k $fleet_kernel ${fleet_trees[*]} >/dev/null &&
        dkms mkbmdeb hello-dkms/1.0 -k $fleet_kernel --archive $fleet/out ${fleet_trees[*]} >/dev/null"
    fleet_deb=$fleet/out/hello-dkms-modules-${fleet_kernel}_1.0_$(dpkg --print-architecture).deb
    check "binary package installs with dpkg" bash -c "dpkg -i '$fleet_deb' >/dev/null"
    check "modinfo finds the packaged module for its kernel" \
        bash -c "[[ \$(modinfo -k $fleet_kernel -F filename hello_dkms) == /lib/modules/$fleet_kernel/updates/dkms/hello_dkms.ko ]]"
    check "dpkg owns the module file" bash -c "dpkg -S /lib/modules/$fleet_kernel/updates/dkms/hello_dkms.ko | grep -q hello-dkms-modules"
    check "purging the binary package removes the module" \
        bash -c "dpkg -P hello-dkms-modules-$fleet_kernel >/dev/null && [[ ! -e /lib/modules/$fleet_kernel/updates/dkms/hello_dkms.ko ]]"
else
    echo "SKIP no kernel with both image and headers for the binary package"
fi

# A module source package of our own, built with dh --with dkms.
src=$work/hello-dkms-1.0
mkdir -p "$src/debian"
cp examples/hello-dkms/{dkms.conf,Makefile,hello_dkms.c} "$src/"
sed -i 's/^PACKAGE_VERSION=.*/PACKAGE_VERSION="#MODULE_VERSION#"/' "$src/dkms.conf"
cat > "$src/debian/control" <<'CONTROL'
Source: hello-dkms
Section: kernel
Priority: optional
Maintainer: swift-dkms tests <tests@localhost>
Build-Depends: debhelper-compat (= 13), dh-sequence-dkms
Standards-Version: 4.6.2

Package: hello-dkms
Architecture: all
Depends: ${misc:Depends}
Description: swift-dkms example module (DKMS source)
 Example module used by swift-dkms' package flow test.
CONTROL
cat > "$src/debian/changelog" <<'CHANGELOG'
hello-dkms (1.0-1) unstable; urgency=medium

  * Test package.

 -- swift-dkms tests <tests@localhost>  Wed, 25 Nov 2026 00:00:00 +0000
CHANGELOG
# The module is built on the target machine by dkms, not at package build time.
printf '#!/usr/bin/make -f\n%%:\n\tdh $@ --with dkms\n\noverride_dh_dkms:\n\tdh_dkms -V\n\noverride_dh_auto_clean override_dh_auto_build override_dh_auto_test override_dh_auto_install:\n' > "$src/debian/rules"
chmod +x "$src/debian/rules"
echo "dkms.conf" > "$src/debian/hello-dkms.dkms"
echo "Makefile hello_dkms.c usr/src/hello-dkms-1.0/" > "$src/debian/hello-dkms.install"
check "hello-dkms builds with dpkg-buildpackage and dh --with dkms" \
    bash -c "cd '$src' && dpkg-buildpackage -us -uc -b > '$work/build.log' 2>&1 || { tail -30 '$work/build.log'; exit 1; }"
hello_deb=$(ls "$work"/hello-dkms_1.0-1_all.deb 2>/dev/null || echo "$work/missing.deb")
check "hello-dkms ships its source and dkms.conf" bash -c "contents=\$(dpkg-deb -c '$hello_deb'); grep -q 'usr/src/hello-dkms-1.0/dkms.conf' <<<\"\$contents\" && grep -q 'usr/src/hello-dkms-1.0/hello_dkms.c' <<<\"\$contents\""
check "hello-dkms depends on dkms" bash -c "dpkg-deb -f '$hello_deb' Depends | grep -q dkms"
check "hello-dkms installs" apt_quiet install "$hello_deb"
check "hello-dkms built and installed by its postinst" bash -c "dkms status -m hello-dkms | grep -q ': installed'"
check "hello-dkms purges" apt_quiet purge hello-dkms
check "hello-dkms gone from every kernel" bash -c "[[ -z \$(find /lib/modules/*/updates/dkms -name 'hello_dkms.ko*' 2>/dev/null) && -z \$(dkms status -m hello-dkms) ]]"

# The machine as it was: everything installed here purged, nothing of
# swift-dkms left behind.
cleanup
trap - EXIT
check "clean: swift-dkms, $package and the headers installed here are gone" bash -c "
    for p in swift-dkms $package hello-dkms ${installed_headers[*]}; do dpkg-query -W -f='\${Status}' \$p 2>/dev/null | grep -q ' installed' && exit 1; done; exit 0"
if ((debian_dkms_before)); then
    check "clean: Debian's dkms installed again, as before" installed dkms
else
    check "clean: Debian's dkms not left installed" bash -c "! dpkg-query -W -f='\${Status}' dkms 2>/dev/null | grep -q ' installed'"
fi
check "clean: no swift-dkms conffile or bookkeeping left" bash -c "{ [[ ! -e /etc/kernel/preinst.d/dkms ]] || dpkg -S /etc/kernel/preinst.d/dkms 2>/dev/null | grep -qv '^swift-dkms:'; } && [[ ! -e /var/lib/dkms/.logs && ! -e /var/lib/dkms/.lock && ! -e /var/lib/dkms/.journal && ! -e /var/lib/dkms/.failed ]]"
check "clean: no module of the flow left under /lib/modules" bash -c "[[ -z \$(find /lib/modules/*/updates/dkms \( -name '$module.ko*' -o -name 'hello_dkms.ko*' \) 2>/dev/null) ]]"

echo "# package flow took $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
((failed == 0))
