#!/bin/bash
# Builds a synthetic dkms tree for the `dkms status` benchmark, laid out as
# upstream dkms 3.4.3 leaves it, without compiling real kernel modules.
#
#   bench/make-status-tree.sh DIR [MODULES=60] [KERNELS=6]
#
# Creates DIR/dkms (--dkmstree), DIR/src (--sourcetree) and
# DIR/modules (--installtree); any previous copies of those three are
# replaced. Every module gets a dkms.conf and version 1.0; kernels are
# named 6.1.0-N-amd64. Per module and kernel the state cycles through:
#
#   - nothing built for that kernel;
#   - built (DIR/dkms/m/1.0/K/x86_64/module/m.ko);
#   - built, but the module directory lost its .ko
#     ("Built modules are missing in the kernel modules folder");
#   - installed (kernel-K-x86_64 -> 1.0/K/x86_64, copy in
#     DIR/modules/K/updates/dkms), some of them with an archived original
#     module (DIR/dkms/m/original_module/K/x86_64/m.ko + m.ko.origin:
#     "Original modules exist"), some with an installed copy whose bytes
#     differ from the built one at the same version
#     ("Differences between built and installed modules").
#
# Every 10th module is only added, and every 6th has an extra added-only
# version 0.9. The .ko files are two small ELF objects with a .modinfo
# section (version=1.0, same srcversion) compiled once with cc and copied.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 3 || $1 = -h || $1 = --help ]]; then
    echo "usage: $0 DIR [MODULES=60] [KERNELS=6]" >&2
    exit 2
fi
modules=${2:-60}
kernels=${3:-6}
[[ $modules =~ ^[0-9]+$ && $kernels =~ ^[0-9]+$ && $modules -ge 1 && $kernels -ge 1 ]] || {
    echo "$0: MODULES and KERNELS must be positive integers" >&2
    exit 2
}

# dkms compares `readlink -f kernel-K-ARCH` with the tree path it builds by
# concatenation, so the tree must be given by its canonical path.
mkdir -p -- "$1"
root=$(realpath -e -- "$1")
dkms_tree=$root/dkms
source_tree=$root/src
install_tree=$root/modules
arch=x86_64
rm -rf -- "$dkms_tree" "$source_tree" "$install_tree"
mkdir -p -- "$dkms_tree" "$source_tree" "$install_tree"

# The two module images: the built one, and an installed variant with the
# same version and srcversion but other bytes.
objects=$(mktemp -d)
trap 'rm -rf -- "$objects"' EXIT
cat > "$objects/module.c" <<'EOF'
#define MODINFO(tag, text) \
    __attribute__((section(".modinfo"), used, aligned(1))) static const char tag[] = text
MODINFO(m_version, "version=1.0");
MODINFO(m_license, "license=GPL");
MODINFO(m_srcversion, "srcversion=B3E1D8F0A6C4927D51E0F3A");
MODINFO(m_depends, "depends=");
MODINFO(m_name, "name=benchmod");
MODINFO(m_vermagic, "vermagic=6.1.0-1-amd64 SMP preempt mod_unload modversions ");
#ifdef VARIANT
int benchmod_init(void) { return 2; }
#else
int benchmod_init(void) { return 0; }
#endif
EOF
cc -c "$objects/module.c" -o "$objects/built.ko"
cc -DVARIANT -c "$objects/module.c" -o "$objects/variant.ko"
cmp -s "$objects/built.ko" "$objects/variant.ko" && {
    echo "$0: the two module images are identical" >&2
    exit 1
}

kernel_names=()
for ((j = 0; j < kernels; j++)); do
    k="6.1.0-$((20 + j))-amd64"
    kernel_names+=("$k")
    # The kernel's own modules directory, where originals came from.
    mkdir -p "$install_tree/$k/kernel/drivers/misc" "$install_tree/$k/updates/dkms"
done

# add: source tree with dkms.conf, and the source symlink in the dkms tree.
add_version() { # module version
    local m=$1 v=$2
    mkdir -p "$source_tree/$m-$v" "$dkms_tree/$m/$v"
    cat > "$source_tree/$m-$v/dkms.conf" <<EOF
PACKAGE_NAME="$m"
PACKAGE_VERSION="$v"
BUILT_MODULE_NAME[0]="$m"
DEST_MODULE_LOCATION[0]="/extra"
AUTOINSTALL="yes"
EOF
    printf 'obj-m := %s.o\n' "$m" > "$source_tree/$m-$v/Makefile"
    printf '/* %s %s */\n' "$m" "$v" > "$source_tree/$m-$v/$m.c"
    ln -s "$source_tree/$m-$v" "$dkms_tree/$m/$v/source"
}

# build: the per-kernel build directory with its log and module.
build_version() { # module version kernel [empty]
    local m=$1 v=$2 k=$3 empty=${4:-}
    local d=$dkms_tree/$m/$v/$k/$arch
    mkdir -p "$d/module" "$d/log"
    printf 'DKMS (dkms-3.4.3) make.log for %s/%s for kernel %s (%s)\n' "$m" "$v" "$k" "$arch" > "$d/log/make.log"
    [[ $empty ]] || cp "$objects/built.ko" "$d/module/$m.ko"
}

# install: the active-kernel symlink and the copy in the install tree.
install_version() { # module version kernel image
    local m=$1 v=$2 k=$3 image=$4
    ln -s "$v/$k/$arch" "$dkms_tree/$m/kernel-$k-$arch"
    cp "$image" "$install_tree/$k/updates/dkms/$m.ko"
}

# An original module archived when dkms installed over it.
archive_original() { # module kernel
    local m=$1 k=$2
    local backup=$dkms_tree/$m/original_module/$k/$arch
    mkdir -p "$backup"
    cp "$objects/variant.ko" "$backup/$m.ko"
    echo "$install_tree/$k/kernel/drivers/misc/$m.ko" > "$backup/$m.ko.origin"
}

for ((i = 1; i <= modules; i++)); do
    m=$(printf 'benchmod%02d' "$i")
    add_version "$m" 1.0
    ((i % 6 == 0)) && add_version "$m" 0.9
    ((i % 10 == 0)) && continue
    for ((j = 0; j < kernels; j++)); do
        k=${kernel_names[j]}
        case $(((i + j) % 8)) in
            0) ;;
            1) build_version "$m" 1.0 "$k" ;;
            2) build_version "$m" 1.0 "$k" empty ;;
            *)
                build_version "$m" 1.0 "$k"
                image=$objects/built.ko
                (((i + 3 * j) % 7 == 0)) && image=$objects/variant.ko
                install_version "$m" 1.0 "$k" "$image"
                (((7 * i + j) % 5 == 0)) && archive_original "$m" "$k"
                ;;
        esac
    done
done

echo "$root: $modules modules x $kernels kernels" \
    "(--dkmstree $dkms_tree --sourcetree $source_tree --installtree $install_tree)"
