#!/bin/bash
# Prints an installed kernel version whose headers are complete
# (/lib/modules/KVER/build holds a kbuild Makefile and include/),
# preferring the generic flavour (…-amd64) over cloud and rt, newest first.
candidates=()
for dir in /lib/modules/*/; do
    k=$(basename "$dir")
    [[ -f /lib/modules/$k/build/Makefile && -d /lib/modules/$k/build/include ]] && candidates+=("$k")
done
if ((${#candidates[@]} == 0)); then
    echo "no kernel headers installed" >&2
    exit 1
fi
generic=$(printf '%s\n' "${candidates[@]}" | grep -E -- '-[0-9]+-amd64$' | sort -V | tail -n 1)
echo "${generic:-$(printf '%s\n' "${candidates[@]}" | sort -V | tail -n 1)}"
