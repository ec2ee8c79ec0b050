#!/bin/bash
# Structure figures of DKMSCore that docs/architecture.md quotes (issue 17's signs):
#   - lines and blocks of `final class Engine` plus its `extension Engine` blocks
#     (brace depth from each declaration line), and their `func` declarations;
#   - the largest other type: lines of its files (one file per concept);
#   - static `FileSystem.` calls outside Platform/ (not counting the pure FileSystem.split);
#   - console assignments outside construction, and hand save/restore of state in the engine;
#   - every type's lines, body and extensions together (each top-level `struct`, `class`,
#     `enum`, `actor`, `protocol` or `extension` block from its line to its closing brace),
#     the five largest printed.
# Usage: scripts/measure-structure.sh [--max LINES] [SOURCES_DIR]   (default Sources/DKMSCore)
#   --max LINES: exit 1 when a type has more lines than LINES (CI runs it with 600).
set -euo pipefail
max=""
if [ "${1:-}" = "--max" ]; then max=$2; shift 2; fi
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
# shellcheck disable=SC2046
sizes=$(awk '
  FNR == 1 { inblock = 0 }
  !inblock && match($0, /^(package |public |internal |private |fileprivate )*(final )?(struct|class|enum|actor|protocol|extension) [A-Za-z_][A-Za-z0-9_]*/) {
    decl = substr($0, RSTART, RLENGTH); n = split(decl, words, " "); name = words[n]
    inblock = 1; depth = 0; opened = 0
  }
  inblock {
    lines[name]++
    o = gsub(/{/, "{"); c = gsub(/}/, "}"); depth += o - c; if (o > 0) opened = 1
    if (opened && depth == 0) inblock = 0
  }
  END { for (n in lines) printf "%d %s\n", lines[n], n }' $(find "$src" -name "*.swift" | sort) | sort -rn)
echo "largest types (lines, body and extensions):"
echo "$sizes" | head -5 | sed 's/^/  /'
if [ -n "$max" ]; then
    over=$(echo "$sizes" | awk -v max="$max" '$1 > max')
    if [ -n "$over" ]; then echo "types over $max lines:"; echo "$over" | sed 's/^/  /'; exit 1; fi
    echo "no type over $max lines"
fi
