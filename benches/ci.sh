#!/usr/bin/env bash
# CI benchmark: `promote ci` (plan, live) for a merge that changes one tenant's entry and for one
# that changes the shared partial every tenant includes, beside a full `promote plan` of the same
# environment.
#
# Usage: benches/ci.sh [TENANTS] [RUNS]      (default: 2000 tenants, 3 runs of each)
#
# Generates a fleet with examples/gen-repo.rs in a fresh git repository, adds an environment
# `emu` (prod's tenants and variables, target `emulator: .promote/emu`, concurrency 16), commits
# it and applies it once so that every tenant exists. Then commits two changes:
#   1. one tenant's entry (t00042's seats),
#   2. the shared partial `templates/_shared/clients/defaults.yaml` (every tenant),
# and times, under GNU time, the best of RUNS of:
#   - `promote plan --env emu` (the full plan, live) at the second change,
#   - `promote ci --base BASE --head ONE --env emu` (plan of change 1),
#   - `promote ci --base ONE --head TWO --env emu` (plan of change 2).
# Prints a markdown table with wall times and each one's ratio to the full plan. Goals of the
# issue: change 1 under 5% of the full plan, change 2 no longer than the full plan. Not a test:
# run it on an otherwise idle machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tenants="${1:-2000}"
runs="${2:-3}"
name=ci.sh
# shellcheck source=benches/common.sh
source "$root/benches/common.sh"

git_commit() { git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qam "$1"; git -C "$repo" rev-parse HEAD; }

env_file 16 10m0s
git -C "$repo" add environments/emu.yaml
base="$(git_commit "an emulator environment")"
log "creating $tenants tenants in the embedded emulator (first apply)"
read -r s rss <<<"$(timed "first apply" "$promote" --repo "$repo" -q apply --env emu --yes)"
log "first apply: ${s}s, ${rss} MB"

sed -i -E 's/^(  t00042: .*seats: )[0-9]+/\11/' "$repo/environments/emu.yaml"
one="$(git_commit "t00042: one seat")"
sed -i 's/^system: false/system: false # reviewed/' "$repo/templates/_shared/clients/defaults.yaml"
two="$(git_commit "clients: a comment in the shared partial")"

read -r full full_rss <<<"$(best "full plan" "$promote" --repo "$repo" -q plan --env emu)"
read -r c1 c1_rss <<<"$(best "ci one tenant" "$promote" --repo "$repo" -q ci --base "$base" --head "$one" --env emu)"
grep -q '1 tenant(s): 1 with changes' "$work/out.txt" || { log "ci of change 1 did not plan exactly one tenant:"; cat "$work/out.txt" >&2; exit 1; }
read -r c2 c2_rss <<<"$(best "ci shared partial" "$promote" --repo "$repo" -q ci --base "$one" --head "$two" --env emu)"
grep -q "$tenants tenant(s): " "$work/out.txt" || { log "ci of change 2 did not plan every tenant:"; tail -3 "$work/out.txt" >&2; exit 1; }

ratio() { python3 -c "print(f'{$1/$full*100:.1f}%')"; }
echo "| command ($tenants tenants, best of $runs) | s | of the full plan | peak RSS MB |"
echo "|---|---:|---:|---:|"
echo "| plan --env emu (full, live) | $full | 100% | $full_rss |"
echo "| ci: one tenant's entry changed | $c1 | $(ratio "$c1") | $c1_rss |"
echo "| ci: the shared partial changed (every tenant) | $c2 | $(ratio "$c2") | $c2_rss |"
echo
echo "Goals: one tenant's entry < 5% of the full plan; the shared partial <= the full plan."
