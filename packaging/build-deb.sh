#!/bin/bash
# Builds the swift-dkms Debian package: the dkms and dh_dkms binaries
# (release build, Swift runtime linked statically), the kernel hooks,
# common.postinst, dkms_autoinstaller, the kernel-install plugin, the
# systemd unit, framework.conf, completions, the man page and the
# debhelper sequence. It Provides dkms (= 3.4.3) and replaces Debian's
# dkms and dh-dkms. Usage: packaging/build-deb.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$PWD/.build/deb}
version=3.4.3-swift1
arch=$(dpkg --print-architecture)

swift build -c release --static-swift-stdlib >/dev/null
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# mktemp -d makes it 0700: it becomes the package's root entry.
chmod 755 "$stage"
umask 022

# Fills in the install locations the templates leave open.
subst() {
    integration/render-additions .build/release/dkms < "$1" |
    sed -e 's|@SBINDIR@|/usr/sbin|g' -e 's|@LIBDIR@|/usr/lib/dkms|g' \
        -e 's|@MODDIR@|/lib/modules|g' -e 's|@KCONFDIR@|/etc/kernel|g' \
        -e 's|@SYSCONFDIR@|/etc/dkms|g' -e 's|@DKMSTREE@|/var/lib/dkms|g' \
        -e 's|@SOURCETREE@|/usr/src|g' -e 's|@BOOTDIR@|/boot|g'
}
put() { # MODE SOURCE DESTINATION (templates are substituted)
    install -d "$stage$(dirname "$3")"
    subst "$2" > "$stage$3"
    chmod "$1" "$stage$3"
}

install -D -m755 -s .build/release/dkms "$stage/usr/sbin/dkms"
install -D -m755 -s .build/release/dh_dkms "$stage/usr/bin/dh_dkms"
put 644 packaging/debhelper/dkms.pm /usr/share/perl5/Debian/Debhelper/Sequence/dkms.pm
put 755 integration/common.postinst /usr/lib/dkms/common.postinst
put 755 integration/dkms_autoinstaller /usr/lib/dkms/dkms_autoinstaller
for hook in postinst.d header_postinst.d preinst.d prerm.d; do
    put 755 "integration/kernel/$hook/dkms" "/etc/kernel/$hook/dkms"
done
put 755 integration/kernel-install/40-dkms.install /usr/lib/kernel/install.d/40-dkms.install
put 644 integration/dkms.service /lib/systemd/system/dkms.service
put 644 integration/framework.conf /etc/dkms/framework.conf
install -d "$stage/etc/dkms/framework.conf.d" "$stage/var/lib/dkms"
put 644 integration/completion/dkms.bash /usr/share/bash-completion/completions/dkms
put 644 integration/completion/_dkms /usr/share/zsh/vendor-completions/_dkms
install -d "$stage/usr/share/man/man8"
subst integration/man/dkms.8 | gzip -9n > "$stage/usr/share/man/man8/dkms.8.gz"
doc=$stage/usr/share/doc/swift-dkms
install -d "$doc"
install -m644 README.md "$doc/README.md"
install -m644 packaging/debian/copyright "$doc/copyright"
gzip -9n < packaging/debian/changelog > "$doc/changelog.Debian.gz"

install -d "$stage/DEBIAN"
install -m755 packaging/debian/postrm "$stage/DEBIAN/postrm"
install -m755 packaging/debian/postinst "$stage/DEBIAN/postinst"
echo /etc/dkms/framework.conf > "$stage/DEBIAN/conffiles"
for hook in postinst.d header_postinst.d preinst.d prerm.d; do echo "/etc/kernel/$hook/dkms" >> "$stage/DEBIAN/conffiles"; done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
# The shared libraries the binaries need (libc6, libstdc++6, libgcc-s1),
# with the versions dpkg-shlibdeps derives from their symbols.
shlibs=$(mktemp -d)
mkdir "$shlibs/debian"
printf 'Source: swift-dkms\n\nPackage: swift-dkms\nArchitecture: any\n' >"$shlibs/debian/control"
libs=$(cd "$shlibs" && dpkg-shlibdeps -O "$stage/usr/sbin/dkms" "$stage/usr/bin/dh_dkms" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlibs"
[[ -n $libs ]] || { echo "dpkg-shlibdeps found no library dependencies" >&2; exit 1; }
# A fleet client (docs/fleet.md) installs modules built elsewhere: it needs
# no compiler, make or headers, so those are recommended, not required
# (dpkg-dev too: it depends on make and binutils; dh_dkms runs where
# debhelper brings it). curl fetches http(s) shared caches, which the fleet
# recipe installs with --no-install-recommends: it is required.
cat > "$stage/DEBIAN/control" <<CONTROL
Package: swift-dkms
Version: $version
Architecture: $arch
Maintainer: swift-dkms maintainers <swift-dkms@swift-dkms.invalid>
Installed-Size: $size
Depends: $libs, kmod, patch, xz-utils, bubblewrap, util-linux (>= 2.33), adduser | passwd, curl
Recommends: gcc | c-compiler, make | build-essential, dpkg-dev, linux-headers-amd64 | linux-headers-generic, openssl, fakeroot
Provides: dkms (= 3.4.3), dh-dkms (= 3.4.3), dh-sequence-dkms
Conflicts: dkms, dh-dkms
Replaces: dkms, dh-dkms
Section: kernel
Priority: optional
Description: Dynamic Kernel Module Support, rebuilt in Swift
 A drop-in replacement for dkms 3.4.3: builds and installs out-of-tree
 kernel modules shipped as source under /usr/src for every installed
 kernel, and rebuilds them when a new kernel arrives. Includes dh_dkms.
CONTROL
if grep -rl '@[A-Z_]*@' "$stage" --exclude-dir=DEBIAN -I >/dev/null; then
    echo "unsubstituted placeholders in: $(grep -rl '@[A-Z_]*@' "$stage" -I)" >&2
    exit 1
fi
mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/swift-dkms_${version}_${arch}.deb" >/dev/null
echo "$out/swift-dkms_${version}_${arch}.deb"
