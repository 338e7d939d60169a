#!/usr/bin/env bash
# Checks that includes between the folders of src/ point down only, in the order of
# docs/ARCHITECTURE.md:
#   core < io < data < metrics < nn < quant < layers < ptq < export < models < run < cli
# A file may include its own folder and any folder below it; a header marked "Internal to
# DIR/" only from DIR/. Prints every upward include as FILE:LINE: FOLDER includes HEADER
# (and every outside use of an internal header) and exits 1 when there is one.
set -u
cd "$(dirname "$0")/../src" || exit 2
order=(core io data metrics nn quant layers ptq export models run cli)
rank() {
    local i
    for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && { echo "$i"; return; }; done
    echo -1
}
status=0
for dir in */; do
    dir=${dir%/}
    own=$(rank "$dir")
    if [ "$own" -lt 0 ]; then
        echo "src/$dir: a folder that is not in the layer order (scripts/check_layers.sh)"
        status=1
        continue
    fi
    while IFS=: read -r file line text; do
        inc=$(sed -n 's/^#include "\([a-z_]*\)\/.*/\1/p' <<<"$text")
        [ -n "$inc" ] || continue
        r=$(rank "$inc")
        if [ "$r" -lt 0 ] || [ "$r" -gt "$own" ]; then
            echo "src/$file:$line: $dir includes ${text#\#include }"
            status=1
        fi
    done < <(grep -n '^#include "' "$dir"/*.[ch] /dev/null)
done
# Headers marked "Internal to DIR/" are included from DIR/ only (tests included).
for h in $(grep -l 'Internal to [a-z_]*/:' */*.h); do
    dir=$(sed -n 's/.*Internal to \([a-z_]*\)\/:.*/\1/p' "$h" | head -1)
    for user in $(grep -l "^#include \"$h\"" */*.[ch] ../tests/*/*.[ch] ../bench/*.c 2>/dev/null); do
        case $user in "$dir"/*) ;; *) echo "$user: includes $h, internal to $dir/"; status=1 ;; esac
    done
done
[ $status -eq 0 ] && echo "check_layers: every include points down (${order[*]}); internal headers stay in their folder"
exit $status
