# Shared by benches/live.sh, benches/backup.sh, benches/ci.sh and benches/report.sh (sourced,
# not run): checks for GNU time, builds the release binaries, generates a fleet of $tenants
# tenants in a fresh git repository ($repo, inside the temporary $work), and defines env_file,
# timed and best. Expects $root, $tenants and $name (the script's name, for messages), and $runs
# for best.
log() { echo "$name: $*" >&2; }
if ! /usr/bin/time -v true >/dev/null 2>&1; then
    log "needs GNU time at /usr/bin/time (apt-get install time)"
    exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/promote-$name.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cd "$root"
log "building release binaries"
cargo build --release --quiet --bin promote --example gen-repo
target_dir="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-${CARGO_TARGET_DIR:-$root/target}}"
promote="$target_dir/release/promote"

repo="$work/repo"
"$target_dir/release/examples/gen-repo" "$repo" --tenants "$tenants" >&2
git -C "$repo" init -q
git -C "$repo" -c user.name=bench -c user.email=bench@localhost add -A
git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm fleet

env_file() { # CONCURRENCY TTL
    sed -e "s|^  url: .*|  emulator: .promote/emu|" -e "s|^  concurrency: .*|  concurrency: $1|" \
        -e "s|^  access_token_ttl: .*|  access_token_ttl: $2|" \
        "$repo/environments/prod.yaml" >"$repo/environments/emu.yaml"
}

# timed LABEL CMD...: runs CMD under GNU time; prints "seconds rss_mb" on stdout.
timed() {
    local label="$1"; shift
    if ! /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/out.txt" 2>"$work/err.txt"; then
        log "$label failed:"; tail -20 "$work/err.txt" >&2; tail -20 "$work/out.txt" >&2; exit 1
    fi
    local wall rss
    wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.txt")"
    rss="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")"
    python3 -c "
import sys
w='$wall'.split(':'); s=sum(float(x)*60**i for i,x in enumerate(reversed(w)))
print(f'{s:.2f} {int(\"$rss\")/1024:.1f}')"
}

# best LABEL CMD...: the fastest of $runs runs of CMD under `timed`, as "seconds rss_mb".
best() {
    local label="$1"; shift
    local out="" s rss
    for _ in $(seq "$runs"); do
        read -r s rss <<<"$(timed "$label" "$@")"
        if [ -z "$out" ] || python3 -c "import sys; sys.exit(0 if $s < ${out%% *} else 1)"; then
            out="$s $rss"
        fi
    done
    echo "$out"
}
