#!/usr/bin/env bash
# Report benchmark: what the HTML plan report (`plan --output html --out FILE`, with its line and
# word diffs of changed values) costs beside the text report, on a change that touches every
# tenant: one line of every script body and every client's description.
#
# Usage: benches/report.sh [TENANTS] [RUNS]      (default: 2000 tenants, 3 runs of each)
#
# Generates a fleet with examples/gen-repo.rs, adds an environment `emu` (prod's tenants and
# variables, target `emulator: .promote/emu`, concurrency 16) and applies it once. Then changes
# `const roles = groups` to `const roles = (groups || [])` in every script and times, under GNU
# time, the best of RUNS of `promote plan --env emu` in text, json and html. Prints a markdown
# table with wall times, each one's ratio to the text plan, peak RSS and the report's size.
# Not a test: run it on an otherwise idle machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tenants="${1:-2000}"
runs="${2:-3}"
name=report.sh
# shellcheck source=benches/common.sh
source "$root/benches/common.sh"

env_file 16 10m0s
log "creating $tenants tenants in the embedded emulator (first apply)"
timed "first apply" "$promote" --repo "$repo" -q apply --env emu --yes >/dev/null
find "$repo/templates" -name '*.js' -exec sed -i 's/const roles = groups$/const roles = (groups || [])/' {} +
git -C "$repo" diff --quiet && { log "the change changed nothing"; exit 1; }

size() { stat -c %s "$1"; }
read -r text text_rss <<<"$(best "text plan" "$promote" --repo "$repo" -q plan --env emu)"
text_bytes="$(size "$work/out.txt")"
grep -q "$tenants tenant(s): $tenants with changes" "$work/out.txt" || { log "the text plan did not change every tenant:"; tail -3 "$work/out.txt" >&2; exit 1; }
read -r json json_rss <<<"$(best "json plan" "$promote" --repo "$repo" -q --output json plan --env emu --out "$work/plan.json")"
json_bytes="$(size "$work/plan.json")"
read -r html html_rss <<<"$(best "html plan" "$promote" --repo "$repo" -q --output html plan --env emu --out "$work/plan.html")"
html_bytes="$(size "$work/plan.html")"
grep -q 'class=ins' "$work/plan.html" || { log "the html report marks no change"; exit 1; }

ratio() { python3 -c "print(f'{$1/$text*100:.0f}%')"; }
mb() { python3 -c "print(f'{$1/1048576:.1f}')"; }
echo "| plan --env emu ($tenants tenants, every one changed; best of $runs) | s | of the text plan | peak RSS MB | report MB |"
echo "|---|---:|---:|---:|---:|"
echo "| --output text | $text | 100% | $text_rss | $(mb "$text_bytes") |"
echo "| --output json --out FILE | $json | $(ratio "$json") | $json_rss | $(mb "$json_bytes") |"
echo "| --output html --out FILE (details of the first 500 tenants) | $html | $(ratio "$html") | $html_rss | $(mb "$html_bytes") |"
