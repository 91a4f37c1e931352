#!/usr/bin/env bash
# Fleet benchmark: times the whole `promote` binary on synthetic fleets.
#
# Usage: benches/fleet.sh [SIZES...]        (default sizes: 500 2000 10000)
#
# For each size N it generates a repository with `examples/gen-repo.rs` (one ~130-file template,
# N tenants in `staging` and `prod`), renders `staging` as the JSON baseline and `prod` as YAML,
# then times under `/usr/bin/time -v` (GNU time: `apt-get install time`):
#
#   promote --repo R plan --env prod --against dir:R/baseline --output json > /dev/null
#   the same with the report for people (text, the default output: tenants grouped by change)
#   the same JSON plan with PROMOTE_NO_CACHE=1 (every file rendered as text and parsed: the straight path)
#   parse-floor R/rendered-prod       (examples/parse-floor.rs: the same YAML, same parser,
#                                      same rayon threads; the least work a plan can do)
#   benches/script-plan.py plan R prod B  (the plan a team would script in an afternoon, the
#                                      issue's yardstick: Jinja2, PyYAML's libyaml loader, jsonpatch
#                                      and json-merge-patch, two processes; against its own rendering
#                                      of staging B, so it plans the same changes)
#   $BENCH_REFERENCE --repo R plan ... (when set: another build of promote, timed like the plan;
#                                      the issue's yardstick was the build before it, 4120b01)
#
# and prints a markdown table on stdout: wall time, tenants/s and peak RSS of the plan; the wall
# time of the straight path ("straight s") and how many times faster the plan is; the floor
# ("floor s": parse-floor's own clock around the parses alone, with the files already in memory,
# because the rendered layout is one small file per entry and plan never opens those files;
# "floor wall s": the whole parse-floor process, reads included); the ratio plan s / floor s;
# the wall time of the text report ("text s"); the script's wall time ("script s") and how many
# times faster the plan is ("× script": measured in the same hour, it says more than tenants/s on
# a shared machine whose speed drifts by the hour); the reference build's wall time ("reference
# s") and how many times faster the plan is ("× reference"); then the targets of the issue
# checked on the largest size. Without the script's Python modules its columns read "-" (pip
# install jinja2 pyyaml jsonpatch json-merge-patch), and so do the reference's without one.
# Progress goes to stderr. Run it on an otherwise idle machine; it is not a test.
#
# Environment: BENCH_RUNS (default 1; best wall time and worst RSS of that many runs),
# BENCH_SEED (gen-repo seed, default 1), BENCH_KEEP=1 (keep the generated repositories),
# TMPDIR (where they go), RAYON_NUM_THREADS (applies to both plan and floor), CARGO_TARGET_DIR,
# BENCH_SCRIPT=0 (do not time the script: it plans about 35 tenants/s, 5 minutes for 10,000),
# BENCH_REFERENCE (a promote binary to time beside this one, e.g. one built from 4120b01: the
# issue measured that build at 700 tenants/s when it asked for 2,500, 3.57 times as many).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${BENCH_RUNS:-1}"
seed="${BENCH_SEED:-1}"

sizes=("$@")
if [ "${#sizes[@]}" -eq 0 ]; then
    sizes=(500 2000 10000)
fi
for n in "${sizes[@]}" "$runs"; do
    if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -eq 0 ]; then
        echo "fleet.sh: '$n' is not a positive integer" >&2
        echo "usage: benches/fleet.sh [SIZES...]" >&2
        exit 1
    fi
done
if ! [[ "$seed" =~ ^[0-9]+$ ]]; then
    echo "fleet.sh: BENCH_SEED '$seed' is not a non-negative integer" >&2
    exit 1
fi

if ! /usr/bin/time -v true >/dev/null 2>&1; then
    echo "fleet.sh: needs GNU time at /usr/bin/time (apt-get install time)" >&2
    exit 1
fi

log() { echo "fleet.sh: $*" >&2; }

reference="${BENCH_REFERENCE:-}"
if [ -n "$reference" ] && ! [ -x "$reference" ]; then
    echo "fleet.sh: BENCH_REFERENCE '$reference' is not an executable" >&2
    exit 1
fi

script="$root/benches/script-plan.py"
with_script=0
if [ "${BENCH_SCRIPT:-1}" != 0 ]; then
    if python3 -c 'import jinja2, yaml, jsonpatch, json_merge_patch; assert yaml.__with_libyaml__' 2>/dev/null; then
        with_script=1
    else
        log "not timing the script: it needs python3 with jinja2, pyyaml (built with libyaml), jsonpatch and json-merge-patch"
    fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/promote-fleet.XXXXXX")"
cleanup() {
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$root"
log "building release binaries"
cargo build --release --quiet --bin promote --example gen-repo --example parse-floor
target_dir="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-${CARGO_TARGET_DIR:-$root/target}}"
promote="$target_dir/release/promote"
gen="$target_dir/release/examples/gen-repo"
floor="$target_dir/release/examples/parse-floor"
for b in "$promote" "$gen" "$floor"; do
    [ -x "$b" ] || { log "missing binary $b"; exit 1; }
done

# timed LOG OK_CODES OUT CMD... : runs CMD under GNU time with stdout to OUT, fails unless its
# exit code is one of OK_CODES (space separated).
timed() {
    local log_file="$1" ok="$2" out="$3" rc=0
    shift 3
    /usr/bin/time -v -o "$log_file" "$@" >"$out" 2>"$log_file.stderr" || rc=$?
    case " $ok " in
        *" $rc "*) ;;
        *)
            log "'$*' exited with status $rc"
            tail -n 20 "$log_file.stderr" >&2
            return 1
            ;;
    esac
}
# Wall seconds and peak RSS (MB) from a `time -v` log.
wall_s() {
    awk -F': ' '/Elapsed \(wall clock\) time/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"
}
rss_mb() { awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

rows=()
for n in "${sizes[@]}"; do
    repo="$work/fleet-$n"
    log "$n tenants: generating $repo"
    "$gen" "$repo" --tenants "$n" --seed "$seed" >/dev/null
    log "$n tenants: rendering staging (JSON baseline) and prod (YAML, for the floor)"
    "$promote" --repo "$repo" render --env staging --out "$repo/baseline" >/dev/null
    "$promote" --repo "$repo" render --env prod --format yaml --out "$repo/rendered-prod" >/dev/null
    if [ "$with_script" = 1 ]; then
        log "$n tenants: the script renders staging (its own baseline)"
        python3 "$script" render "$repo" staging "$repo/script-baseline"
    fi

    plan_s="" plan_rss=0 text_s="" straight_s="" floor_s="" floor_wall="" floor_line="" script_s="" ref_s=""
    for ((r = 1; r <= runs; r++)); do
        log "$n tenants: plan, run $r/$runs"
        # Exit code 2 means "changes present": expected, prod differs from the staging baseline.
        timed "$work/plan.time" "0 2" /dev/null \
            "$promote" --repo "$repo" plan --env prod --against "dir:$repo/baseline" --output json
        log "$n tenants: plan with the text report, run $r/$runs"
        timed "$work/text.time" "0 2" /dev/null \
            "$promote" --repo "$repo" plan --env prod --against "dir:$repo/baseline"
        log "$n tenants: plan on the straight path (PROMOTE_NO_CACHE=1), run $r/$runs"
        timed "$work/straight.time" "0 2" /dev/null env PROMOTE_NO_CACHE=1 \
            "$promote" --repo "$repo" plan --env prod --against "dir:$repo/baseline" --output json
        log "$n tenants: parse floor, run $r/$runs"
        timed "$work/floor.time" "0" "$work/floor.out" "$floor" "$repo/rendered-prod"
        floor_line="$(cat "$work/floor.out")"
        if [ "$with_script" = 1 ]; then
            log "$n tenants: the script's plan, run $r/$runs"
            timed "$work/script.time" "0" /dev/null \
                python3 "$script" plan "$repo" prod "$repo/script-baseline"
            y="$(wall_s "$work/script.time")"
            if [ -z "$script_s" ] || awk "BEGIN { exit !($y < $script_s) }"; then script_s="$y"; fi
        fi
        if [ -n "$reference" ]; then
            log "$n tenants: the reference build's plan, run $r/$runs"
            timed "$work/reference.time" "0 2" /dev/null \
                "$reference" --repo "$repo" plan --env prod --against "dir:$repo/baseline" --output json
            z="$(wall_s "$work/reference.time")"
            if [ -z "$ref_s" ] || awk "BEGIN { exit !($z < $ref_s) }"; then ref_s="$z"; fi
        fi

        s="$(wall_s "$work/plan.time")"
        m="$(rss_mb "$work/plan.time")"
        f="$(sed -n 's/.*parse_seconds=\([0-9.]*\).*/\1/p' "$work/floor.out")"
        w="$(wall_s "$work/floor.time")"
        t="$(wall_s "$work/straight.time")"
        x="$(wall_s "$work/text.time")"
        if [ -z "$f" ]; then
            log "unexpected parse-floor output: $floor_line"
            exit 1
        fi
        if [ -z "$plan_s" ] || awk "BEGIN { exit !($s < $plan_s) }"; then plan_s="$s"; fi
        if awk "BEGIN { exit !($m > $plan_rss) }"; then plan_rss="$m"; fi
        if [ -z "$text_s" ] || awk "BEGIN { exit !($x < $text_s) }"; then text_s="$x"; fi
        if [ -z "$straight_s" ] || awk "BEGIN { exit !($t < $straight_s) }"; then straight_s="$t"; fi
        if [ -z "$floor_s" ] || awk "BEGIN { exit !($f < $floor_s) }"; then floor_s="$f"; fi
        if [ -z "$floor_wall" ] || awk "BEGIN { exit !($w < $floor_wall) }"; then floor_wall="$w"; fi
    done
    log "$n tenants: floor input $floor_line"

    tps="$(calc "%.0f" "$n / ($plan_s > 0 ? $plan_s : 0.01)")"
    ratio="$(calc "%.2f" "$plan_s / ($floor_s > 0 ? $floor_s : 0.001)")"
    rows+=("$n|$plan_s|$tps|$plan_rss|$floor_s|$ratio|$floor_wall|$straight_s|$text_s|$script_s|$ref_s")
    if [ "${BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$repo"
    fi
done

cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "promote fleet benchmark, $(date -u +%Y-%m-%d), commit $rev, $(nproc) cores${cpu:+ ($cpu)}, best of $runs run(s)"
echo
echo "| tenants | plan s | tenants/s | peak RSS MB | straight s | speed-up | floor s | ratio plan/floor | floor wall s | text s | script s | × script | reference s | × reference |"
echo "|--------:|-------:|----------:|------------:|-----------:|---------:|--------:|-----------------:|-------------:|-------:|---------:|---------:|------------:|------------:|"
# The script's (or the reference build's) columns: its wall time and how many times the plan's
# it is, or "-".
script_cells() {
    if [ -n "$2" ]; then
        printf '%.2f | %s×' "$2" "$(calc "%.1f" "$2 / ($1 > 0 ? $1 : 0.01)")"
    else
        printf -- '- | -'
    fi
}
for row in "${rows[@]}"; do
    IFS='|' read -r n s tps m f ratio w t x y z <<<"$row"
    printf '| %s | %.2f | %s | %s | %.2f | %s× | %.3f | %s× | %.2f | %.2f | %s | %s |\n' "$n" "$s" "$tps" "$m" "$t" \
        "$(calc "%.2f" "$t / ($s > 0 ? $s : 0.01)")" "$f" "$ratio" "$w" "$x" "$(script_cells "$s" "$y")" \
        "$(script_cells "$s" "$z")"
done

# Targets (issue 20), checked at 2,000 tenants (or the size nearest to it): at least 2,500
# tenants/s, below the parse floor (ratio < 1.0), peak RSS within 300 MB; and memory flat from
# there to the largest size (peak RSS at most 1.5 times as much).
verdict() { if awk "BEGIN { exit !($1) }"; then echo ok; else echo MISSED; fi; }
ref=0
for i in "${!rows[@]}"; do
    IFS='|' read -r n _ <<<"${rows[$i]}"
    IFS='|' read -r best _ <<<"${rows[$ref]}"
    if awk "BEGIN { exit !(($n - 2000)^2 < ($best - 2000)^2) }"; then ref=$i; fi
done
IFS='|' read -r n_ref s_ref tps_ref m_ref _ ratio_ref _ _ _ y_ref z_ref <<<"${rows[$ref]}"
IFS='|' read -r n_big _ _ m_big _ _ _ _ _ _ _ <<<"${rows[${#rows[@]} - 1]}"
echo
echo "targets at $n_ref tenants: throughput $tps_ref tenants/s (goal >= 2500): $(verdict "$tps_ref >= 2500");" \
    "plan/floor $ratio_ref× (goal < 1.0): $(verdict "$ratio_ref < 1.0");" \
    "peak RSS $m_ref MB (goal <= 300): $(verdict "$m_ref <= 300")"
if [ -n "$y_ref" ]; then
    times="$(calc "%.1f" "$y_ref / ($s_ref > 0 ? $s_ref : 0.01)")"
    echo "against the script in the same hour at $n_ref tenants: ${times}× as fast (the issue's 2,500 tenants/s" \
        "was about 25× its script): $(verdict "$times >= 25")"
fi
if [ -n "$z_ref" ]; then
    times="$(calc "%.2f" "$z_ref / ($s_ref > 0 ? $s_ref : 0.01)")"
    echo "against the reference build in the same hour at $n_ref tenants: ${times}× as fast (the issue's" \
        "2,500 tenants/s was 3.57× the 700 it measured of 4120b01): $(verdict "$times >= 3.57")"
fi
if [ "$n_big" -gt "$n_ref" ]; then
    echo "memory from $n_ref to $n_big tenants: peak RSS ${m_ref} MB -> ${m_big} MB" \
        "(×$(calc "%.2f" "$m_big / ($m_ref > 0 ? $m_ref : 1)"), goal <= 1.5):" \
        "$(verdict "$m_big <= 1.5 * $m_ref")"
fi
