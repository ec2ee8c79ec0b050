#!/bin/bash
# Runs the whole test suite: unit and end-to-end tests (swift test, with
# real module builds against installed headers), then the Debian dkms
# package corpus through the built dkms.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-dependencies.sh
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
# SIGKILL at random instants never leaves an inconsistent tree; eight
# concurrent invocations end consistent, one waiting for the lock.
if [[ ${SKIP_FAULTS:-} != 1 ]]; then
    tests/faults/run-fault-injection.sh "$PWD/.build/debug/dkms" "${FAULT_TRIALS:-200}" 900
    tests/faults/run-concurrency.sh "$PWD/.build/debug/dkms"
fi
# dkms.conf files and command lines against upstream 3.4.3: a seeded slice
# (about 1.5 minutes) of the differential fuzz campaign of tests/fuzz; the full
# size and its figures are in docs/conf-divergences.md.
if [[ ${SKIP_FUZZ:-} != 1 ]]; then
    python3 tests/fuzz/conf_fuzz.py --ours "$PWD/.build/debug/dkms" \
        --confs "${FUZZ_CONFS:-150}" --cmds "${FUZZ_CMDS:-60}" --seed "${FUZZ_SEED:-1}" --jobs 2
fi
# Kernel hooks, common.postinst and friends against our binary.
if [[ -x integration/tests/run-integration-tests.sh ]]; then
    integration/tests/run-integration-tests.sh
fi
# The package flow on this machine (installs and purges packages).
if [[ ${SKIP_PACKAGE_FLOW:-} != 1 ]]; then
    tests/package/run-package-flow.sh
fi
