#!/usr/bin/env bash
# Emulator load benchmark: `promote serve` under a load generator in a second process.
#
# Usage: benches/emulator.sh [SECONDS]        (default 10 per operation)
#
# Generates a one-tenant repository with examples/gen-repo.rs and renders it (about 60 KB of
# JSON per tenant), starts `promote serve --data` on an ephemeral loopback port, and runs
# examples/load.rs against it twice at concurrency 32 (BENCH_CONCURRENCY): GET exports of the
# tenant, then RFC 7396 patches that each rename one client of that same tenant (every patch is
# validated, persisted with fsync and published before the next one to that tenant starts).
# Prints a markdown table: requests/s, p50/p99/max latency, errors, and the goals of the issue
# (>= 2,000 exports/s and >= 1,000 patches/s with zero errors).
# Run it on an otherwise idle machine; the server and the load share its cores. It is not a test.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-10}"
concurrency="${BENCH_CONCURRENCY:-32}"
log() { echo "emulator.sh: $*" >&2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/promote-emulator.XXXXXX")"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
log "building release binaries"
cargo build --release --quiet --bin promote --example gen-repo --example load
target_dir="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-${CARGO_TARGET_DIR:-$root/target}}"
promote="$target_dir/release/promote"
load="$target_dir/release/examples/load"

"$target_dir/release/examples/gen-repo" "$work/repo" --tenants 1 >&2
"$promote" --repo "$work/repo" render --env staging --out "$work/rendered" >&2
tree="$(ls "$work"/rendered/*.json | head -n 1)"
log "tenant tree $(basename "$tree"): $(wc -c <"$tree") bytes"

secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PROMOTE_SERVE_CLIENTS="bench:load:$secret" "$promote" -q serve --listen 127.0.0.1:0 \
    --data "$work/data" 2>"$work/serve.log" &
server=$!
# -q keeps request logs off; the listening line is printed before serving (not a note under -q).
url=""
for _ in $(seq 100); do
    url="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/serve.log" | head -n 1)"
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { log "the server did not start:"; cat "$work/serve.log" >&2; exit 1; }
log "serving at $url"

echo "| operation | concurrency | requests/s | p50 ms | p99 ms | max ms | errors | goal |"
echo "|---|---|---|---|---|---|---|---|"
for op in export patch; do
    goal=2000
    [ "$op" = patch ] && goal=1000
    out="$("$load" --url "$url" --tenant bench --client "load:$secret" --tree "$tree" \
        --op "$op" --concurrency "$concurrency" --seconds "$seconds")"
    log "$out"
    python3 - "$out" "$goal" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); goal = int(sys.argv[2])
met = "met" if r["requests_per_s"] >= goal and r["errors"] == 0 else "NOT met"
print(f'| {r["op"]} ({r["export_bytes"]} B tenant) | {r["concurrency"]} | {r["requests_per_s"]:.0f} | {r["p50_ms"]} | {r["p99_ms"]} | {r["max_ms"]} | {r["errors"]} | ≥ {goal}/s: {met} |')
PY
done
