#!/bin/bash
# Runs the whole test suite: unit and end-to-end tests (swift test, with
# real module builds against installed headers), then the Debian dkms
# package corpus through the built dkms.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-dependencies.sh
swift build
kernel=$(scripts/kernel-with-headers.sh)
DKMS_TEST_KERNEL=$kernel swift test --parallel --num-workers 2
if [[ ${SKIP_CORPUS:-} != 1 ]]; then
    tests/corpus/run-corpus.sh "$PWD/.build/debug/dkms" "$kernel"
fi
