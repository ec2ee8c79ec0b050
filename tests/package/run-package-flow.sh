#!/bin/bash
# The real package flow on this machine, with full clean-up:
#  1. build the swift-dkms .deb and install it with apt (it Provides dkms);
#  2. apt-get install an unmodified Debian *-dkms package: its postinst
#     (common.postinst) builds and installs the module through our dkms;
#  3. install a second kernel's headers: the header_postinst.d hook builds
#     the module for that kernel too;
#  4. purge the package: the module is gone from every kernel;
#  5. build a module source package of our own with `dh $@ --with dkms`
#     (dpkg-buildpackage), install it and purge it the same way.
# Prints PASS/FAIL lines and `N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
export DEBIAN_FRONTEND=noninteractive
package=${FLOW_PACKAGE:-v4l2loopback-dkms}
module=${FLOW_MODULE:-v4l2loopback}
second_headers=${FLOW_SECOND_HEADERS:-}
passed=0
failed=0
work=$(mktemp -d /tmp/swift-dkms-flow.XXXXXX)
installed_headers=""

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

cleanup() {
    apt-get purge -y -qq "$package" hello-dkms >/dev/null 2>&1
    dpkg -P $(dpkg-query -W -f='${Package}\n' 'hello-dkms-modules-*' 2>/dev/null) >/dev/null 2>&1
    if [[ -n $installed_headers ]]; then
        apt-get purge -y -qq "$installed_headers" "${installed_headers%-amd64}-common" >/dev/null 2>&1
    fi
    apt-get purge -y -qq swift-dkms >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

apt_quiet() { apt-get -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "$@" > "$work/apt.log" 2>&1 || { tail -30 "$work/apt.log"; return 1; }; }
# Kernels with headers, for which the module should appear.
kernels_with_headers() { for d in /lib/modules/*/build/include; do [[ -d $d ]] && basename "$(dirname "$(dirname "$d")")"; done; }
module_files() { find /lib/modules/*/updates/dkms -name "$1.ko*" 2>/dev/null; }

deb=$(packaging/build-deb.sh "$work/deb" | tail -n 1)
check "swift-dkms package built" test -f "$deb"
check "swift-dkms installs with apt" apt_quiet install "$deb"
check "dkms on PATH is ours" bash -c '[[ $(dkms --version) == dkms-3.4.3 && $(dpkg -S /usr/sbin/dkms) == swift-dkms:* ]]'
check "kernel hooks installed" test -x /etc/kernel/header_postinst.d/dkms -a -x /usr/lib/dkms/common.postinst

check "$package installs with apt" apt_quiet install "$package"
check "$package installed for a kernel with headers" bash -c "dkms status -m $module | grep -q ': installed'"
check "module file present" bash -c "[[ -n \$(find /lib/modules/*/updates/dkms -name '$module.ko*' 2>/dev/null) ]]"

if [[ -z $second_headers ]]; then
    # An older ABI of the running headers' flavour, not yet installed.
    current=$(dkms status -m "$module" | sed -n 's/^[^,]*, \([^,]*\), .*: installed.*/\1/p' | head -n 1)
    abi=$(sed -n 's/^6\.1\.0-\([0-9]*\)-amd64$/\1/p' <<<"$current")
    if [[ -n $abi ]]; then
        for ((old = abi - 1; old > abi - 6; old--)); do
            candidate=linux-headers-6.1.0-$old-amd64
            if apt-cache show "$candidate" >/dev/null 2>&1 && ! dpkg-query -W -f='${Status}' "$candidate" 2>/dev/null | grep -q "ok installed"; then
                second_headers=$candidate
                break
            fi
        done
    fi
fi
if [[ -n $second_headers ]]; then
    second_kernel=${second_headers#linux-headers-}
    check "second kernel headers ($second_headers) install" apt_quiet install "$second_headers"
    installed_headers=$second_headers
    check "header_postinst hook built $module for $second_kernel" \
        bash -c "dkms status -m $module -k $second_kernel | grep -q ': installed' && ls /lib/modules/$second_kernel/updates/dkms/$module.ko* >/dev/null"
else
    echo "SKIP no second kernel headers package available"
fi

check "$package purges" apt_quiet purge "$package"
check "module gone from every kernel" bash -c "[[ -z \$(find /lib/modules/*/updates/dkms -name '$module.ko*' 2>/dev/null) ]]"
check "module gone from the dkms tree" bash -c "[[ ! -d /var/lib/dkms/$module && -z \$(dkms status -m $module) ]]"

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
check "hello-dkms ships its source and dkms.conf" bash -c "dpkg-deb -c '$hello_deb' | grep -q 'usr/src/hello-dkms-1.0/dkms.conf' && dpkg-deb -c '$hello_deb' | grep -q 'usr/src/hello-dkms-1.0/hello_dkms.c'"
check "hello-dkms depends on dkms" bash -c "dpkg-deb -f '$hello_deb' Depends | grep -q dkms"
check "hello-dkms installs" apt_quiet install "$hello_deb"
check "hello-dkms built and installed by its postinst" bash -c "dkms status -m hello-dkms | grep -q ': installed'"
check "hello-dkms purges" apt_quiet purge hello-dkms
check "hello-dkms gone from every kernel" bash -c "[[ -z \$(find /lib/modules/*/updates/dkms -name 'hello_dkms.ko*' 2>/dev/null) && -z \$(dkms status -m hello-dkms) ]]"

echo "$passed passed, $failed failed"
((failed == 0))
