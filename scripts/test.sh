#!/bin/bash
# Runs the whole test suite: unit and end-to-end tests (swift test, with
# real module builds against installed headers), then the Debian dkms
# package corpus through the built dkms.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-dependencies.sh
# docs/architecture.md's structure: no type of DKMSCore over 600 lines.
scripts/measure-structure.sh --max 600
swift build
kernel=$(scripts/kernel-with-headers.sh)
DKMS_TEST_KERNEL=$kernel swift test
# Real Debian dkms packages through our binary, in private trees.
if [[ ${SKIP_CORPUS:-} != 1 ]]; then
    tests/corpus/run-corpus.sh "$PWD/.build/debug/dkms" "$kernel"
fi
# Modules built by our dkms (plain, signed, compressed) load in the real
# kernel booted under qemu; a broken one is reported as not loaded.
if [[ ${SKIP_LOAD_PROOF:-} != 1 ]]; then
    tests/load/run-load-proof.sh "$PWD/.build/debug/dkms" "$kernel"
fi
# SIGKILL at random instants (install, uninstall, remove, autoinstall, the
# kernel hook...) never leaves an inconsistent tree, and the very next status
# shows a committed state (the full campaign is 1,000+ trials: docs/consistency.md);
# eight concurrent invocations end consistent, one waiting for the lock; a full
# or read-only tree makes build/install/uninstall/remove fail cleanly (tmpfs, root).
if [[ ${SKIP_FAULTS:-} != 1 ]]; then
    tests/faults/run-fault-injection.sh "$PWD/.build/debug/dkms" "${FAULT_TRIALS:-200}" 900
    tests/faults/run-concurrency.sh "$PWD/.build/debug/dkms"
    if [[ $(id -u) == 0 ]]; then
        tests/faults/run-space.sh "$PWD/.build/debug/dkms"
    else
        echo "tests/faults/run-space.sh skipped: needs root for its tmpfs mounts" >&2
    fi
fi
# Power cuts: QEMU is killed at a uniform random instant while install, uninstall,
# unbuild, an autoinstall served from the module cache and fsck run in the real Debian
# kernel on an ext4 disk, or in the 10 s after them (before the guest's page cache is
# written back); the replayed disk must be consistent and the kernel's own module of the
# same name never lost (docs/consistency.md has the full campaigns). A seeded slice of
# about 4-5 minutes.
if [[ ${SKIP_POWERCUT:-} != 1 ]]; then
    POWERCUT_SEED=${POWERCUT_SEED:-1904} POWERCUT_KERNEL=$kernel POWERCUT_TAIL=10 \
        POWERCUT_STEPS='install hello-dkms/1.0 -k $K|uninstall hello-dkms/1.0 -k $K|unbuild hello-dkms/1.0 -k $K|autoinstall -k $K|fsck' \
        tests/powercut/run-powercut.sh "$PWD/.build/debug/dkms" "${POWERCUT_CUTS:-15}" 240
    # ... and the whole workload with the three trees on one mount (moves are renames),
    # with a 5 s tail: about 3 minutes.
    POWERCUT_SEED=${POWERCUT_SEED:-1906} POWERCUT_KERNEL=$kernel POWERCUT_TAIL=5 POWERCUT_LAYOUT=one-mount \
        tests/powercut/run-powercut.sh "$PWD/.build/debug/dkms" "${POWERCUT_ONE_MOUNT_CUTS:-8}" 200
fi
# Module builds that try to write outside their build directory, read the
# signing key, reach the network or leave a process behind: each attempt
# is blocked by the build sandbox.
if [[ ${SKIP_HOSTILE:-} != 1 ]]; then
    tests/hostile/run-hostile-builds.sh "$PWD/.build/debug/dkms"
    # ... and each attempt, with the sandbox off, has the effect that check looks for
    tests/hostile/run-hostile-builds.sh "$PWD/.build/debug/dkms" control
fi
# dkms.conf files and command lines against upstream 3.4.3: a seeded slice
# (about 1.5 minutes) of the differential fuzz campaign of tests/fuzz; the full
# size and its figures are in docs/conf-divergences.md.
if [[ ${SKIP_FUZZ:-} != 1 ]]; then
    python3 tests/fuzz/conf_fuzz.py --ours "$PWD/.build/debug/dkms" \
        --confs "${FUZZ_CONFS:-150}" --cmds "${FUZZ_CMDS:-60}" --seed "${FUZZ_SEED:-1}" --jobs 2
fi
# A debootstrap root (cached under /var/cache/swift-dkms-tests): a real
# *-dkms package from apt builds for the root's kernel, not the running
# one, and its initramfs follows a listed module. First run builds the
# cache (about 2 min of debootstrap + apt), later runs take about 2-4 min.
if [[ ${SKIP_CHROOT:-} != 1 ]]; then
    tests/chroot/run-chroot.sh "$PWD/.build/debug/dkms"
fi
# A fleet sharing one module cache: a machine builds real modules and exports
# them signed; others fetch them over http and from a directory and build
# nothing; untrusted, unsigned, tampered, truncated, edited or wrong-kernel
# entries are refused with a warning and built locally (about 30 s).
if [[ ${SKIP_FLEET:-} != 1 ]]; then
    tests/fleet/run-fleet.sh "$PWD/.build/debug/dkms" "$kernel"
fi
# A kernel upgrade with no headers and no compiler: an exporter builds hello-dkms and two
# corpus packages for every kernel with headers and exports them; clients without any
# K/build (make and compilers fail if called) install them all by the kernel's identity
# (autoinstall and kernel_postinst), signed with openssl byte-identical to sign-file; a
# record of another build, an untrusted or edited record, a changed module or a missing
# one is refused with one line and nothing installed; the adopted module loads in the
# real kernel under QEMU (about 40 s).
if [[ ${SKIP_HEADERLESS:-} != 1 ]]; then
    tests/fleet/run-headerless.sh "$PWD/.build/debug/dkms"
fi
# Kernel hooks, common.postinst and friends against our binary.
if [[ -x integration/tests/run-integration-tests.sh ]]; then
    integration/tests/run-integration-tests.sh
fi
# The package flow on this machine (installs and purges packages).
if [[ ${SKIP_PACKAGE_FLOW:-} != 1 ]]; then
    tests/package/run-package-flow.sh
fi
