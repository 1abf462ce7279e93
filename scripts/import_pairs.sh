#!/usr/bin/env bash
# Same-run pairs of `embudo import` for two (or more) binaries, alternating, each import into a
# fresh SQLite file in its own directory: the comparison docs/benchmarks.md quotes (this machine
# is noisy; only figures of one run of this script compare).
#
#   scripts/import_pairs.sh ROUNDS FILE BINARY... [-- IMPORT ARGS...]
#   scripts/import_pairs.sh 3 /tmp/rees46_x160.csv.gz /tmp/embudo-before target/release/embudo
#
# Prints one line per import: binary, wall, user and system seconds, maximum RSS (KB).
set -euo pipefail
rounds=$1
file=$2
shift 2
binaries=()
while [[ $# -gt 0 && $1 != "--" ]]; do
    binaries+=("$(realpath "$1")")
    shift
done
[[ ${1:-} == "--" ]] && shift
for round in $(seq "$rounds"); do
    for binary in "${binaries[@]}"; do
        dir=$(mktemp -d)
        (
            cd "$dir"
            "$binary" workspace create tienda > /dev/null 2>&1
            /usr/bin/time -f "$binary round $round: wall %e s, user %U s, sys %S s, max RSS %M KB" \
                "$binary" import --workspace tienda "$file" --format rees46 "$@" 2>&1 \
                | grep "wall "
        )
        rm -rf "$dir"
    done
done
