#!/usr/bin/env bash
# Backup benchmark: `promote backup` of a fleet from the embedded emulator into git.
#
# Usage: benches/backup.sh [TENANTS] [CONCURRENCY...]     (default: 2000 tenants; 4 16)
#
# Generates a fleet with examples/gen-repo.rs in a fresh git repository, adds an environment
# `emu` (prod's tenants and variables, target `emulator: .promote/emu`) and applies it once to
# create every tenant. Then, for each concurrency, on a backup branch of its own: times the first
# `promote backup` (every tenant's files written as git objects, one commit) and a second one
# with nothing changed (no commit), under GNU time. Prints a markdown table: wall time,
# tenants/s and peak RSS, and the goals of the issue (first run >= 150 tenants/s, second
# >= 300 tenants/s, peak RSS <= 300 MB). Each concurrency's first run writes every object again
# (a new branch: nothing to compare with). Run it on an otherwise idle machine; it is not a test.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tenants="${1:-2000}"
shift || true
levels=("$@")
[ "${#levels[@]}" -eq 0 ] && levels=(4 16)
name=backup.sh
# shellcheck source=benches/common.sh
source "$root/benches/common.sh"

env_file 16 10m0s
log "creating $tenants tenants in the embedded emulator (first apply)"
read -r s rss <<<"$(timed "first apply" "$promote" --repo "$repo" -q apply --env emu --yes)"
log "first apply (creates every tenant): ${s}s, ${rss} MB"

echo "| concurrency | backup | s | tenants/s | peak RSS MB |"
echo "|---|---|---|---|---|"
for c in "${levels[@]}"; do
    env_file "$c" 10m0s
    branch="bench/c$c"
    read -r s rss <<<"$(timed "backup c=$c" "$promote" --repo "$repo" -q backup --env emu --branch "$branch")"
    grep -q "committed" "$work/out.txt" || { log "the first backup made no commit"; exit 1; }
    echo "| $c | first (every tenant written) | $s | $(python3 -c "print(round($tenants/$s))") | $rss |"
    read -r s rss <<<"$(timed "backup again c=$c" "$promote" --repo "$repo" -q backup --env emu --branch "$branch")"
    grep -q "no commit" "$work/out.txt" || { log "the second backup made a commit"; exit 1; }
    echo "| $c | second (nothing changed, no commit) | $s | $(python3 -c "print(round($tenants/$s))") | $rss |"
done
echo
echo "Goals: first >= 150 tenants/s, second >= 300 tenants/s, peak RSS <= 300 MB (2,000 tenants, 2 cores)."
