#!/bin/bash
# Structure figures of DKMSCore that docs/architecture.md quotes (issue 17's signs):
#   - lines and blocks of `final class Engine` plus its `extension Engine` blocks
#     (brace depth from each declaration line), and their `func` declarations;
#   - the largest other type: lines of its files (one file per concept);
#   - static `FileSystem.` calls outside Platform/ (not counting the pure FileSystem.split);
#   - console assignments outside construction, and hand save/restore of state in the engine.
# Usage: scripts/measure-structure.sh [SOURCES_DIR]   (default Sources/DKMSCore)
set -euo pipefail
src=${1:-Sources/DKMSCore}
engine_files=$(grep -rlE "^(package )?(final )?class Engine[ {:]|^extension Engine[ {:]" "$src")
# shellcheck disable=SC2086
awk '
  /^(package )?(final )?class Engine[ {:]|^extension Engine[ {:]/ { inblock=1; depth=0 }
  inblock { lines++; n=gsub(/{/,"{"); m=gsub(/}/,"}"); depth+=n-m; if (depth==0 && (n>0||m>0)) { inblock=0; blocks++ } }
  END { printf "Engine: %d lines in %d blocks\n", lines, blocks }' $engine_files
# shellcheck disable=SC2086
echo "Engine func declarations: $(grep -hcE "^\s*(package |private |fileprivate )?(static )?func " $engine_files | paste -sd+ | bc)"
echo "static FileSystem calls outside Platform/: $(grep -rn "FileSystem\.[a-zA-Z]*(" "$src" | grep -v "/Platform/" | grep -vc "FileSystem\.split(")"
echo "console swaps in DKMSCore (assignments other than self.console = console): $(grep -rnE "^\s*console = " "$src" | wc -l)"
echo "state saved by hand (let saved… = scope…): $(grep -rnE "let saved[A-Za-z]* = (state|scope|settings)" "$src" | wc -l)"
