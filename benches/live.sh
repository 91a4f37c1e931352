#!/usr/bin/env bash
# Live benchmark: `promote plan` (live baseline) and `promote apply` of a fleet against the
# embedded emulator.
#
# Usage: benches/live.sh [TENANTS] [CONCURRENCY...]     (default: 2000 tenants; 4 16 32)
#
# Generates a fleet with examples/gen-repo.rs (one ~130-file template, ~63 KB of JSON per
# tenant) in a fresh git repository, adds an environment `emu` (prod's tenants and variables,
# target `emulator: .promote/emu`), applies it once to create every tenant, then for each
# concurrency: changes one variable that every tenant renders (access_token_ttl), times
# `promote apply --env emu --yes` of that change, and times `promote plan --env emu` (live,
# nothing left to change) under GNU time. Prints a markdown table: wall time, tenants/s and peak
# RSS of each, and the goals of the issue (plan >= 200 tenants/s, apply >= 100 tenants/s,
# peak RSS <= 300 MB). The emulator runs in the same process (2 runtime threads), so client and
# server share the machine's cores. Run it on an otherwise idle machine; it is not a test.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tenants="${1:-2000}"
shift || true
levels=("$@")
[ "${#levels[@]}" -eq 0 ] && levels=(4 16 32)
name=live.sh
# shellcheck source=benches/common.sh
source "$root/benches/common.sh"

env_file 16 10m0s
log "creating $tenants tenants in the embedded emulator (first apply)"
read -r s rss <<<"$(timed "first apply" "$promote" --repo "$repo" -q apply --env emu --yes)"
log "first apply (creates every tenant): ${s}s, ${rss} MB"

echo "| concurrency | command | s | tenants/s | peak RSS MB |"
echo "|---|---|---|---|---|"
ttl=11
for c in "${levels[@]}"; do
    env_file "$c" "${ttl}m0s"
    ttl=$((ttl + 1))
    read -r s rss <<<"$(timed "apply c=$c" "$promote" --repo "$repo" -q apply --env emu --yes)"
    echo "| $c | apply (1 change × $tenants tenants) | $s | $(python3 -c "print(round($tenants/$s))") | $rss |"
    read -r s rss <<<"$(timed "plan c=$c" "$promote" --repo "$repo" -q plan --env emu --detailed-exitcode)"
    echo "| $c | plan (live, no changes) | $s | $(python3 -c "print(round($tenants/$s))") | $rss |"
done
echo
echo "Goals: plan >= 200 tenants/s, apply >= 100 tenants/s, peak RSS <= 300 MB (2,000 tenants, 2 cores)."
