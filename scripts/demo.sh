#!/usr/bin/env bash
# The main job, end to end on this machine: build a real Debian 11 image from the package mirror, push it to
# a local registry, build the vulnerability DB from OSV data, and scan the image through the registry.
#   scripts/demo.sh [extra strata image flags, e.g. --format json]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/strata-target}
work=${STRATA_DEMO_DIR:-/var/tmp/strata-demo}
port=${STRATA_DEMO_PORT:-5055}
mkdir -p "$work"

scripts/setup.sh
fixtures=$(scripts/fixtures.sh)
cargo build --release --quiet -p strata-cli
strata="$CARGO_TARGET_DIR/release/strata"

# 1. A real image: the debootstrapped bullseye root filesystem as one layer, assembled with umoci.
if [ ! -f "$work/oci/index.json" ]; then
  rm -rf "$work/oci"
  umoci init --layout "$work/oci"
  umoci new --image "$work/oci:bullseye"
  umoci raw add-layer --image "$work/oci:bullseye" \
    --history.created_by "debootstrap --variant=minbase bullseye" "$fixtures/bullseye-minbase.tar"
  umoci config --image "$work/oci:bullseye" --config.cmd bash --architecture amd64 --os linux
fi

# 2. A local registry of our own (Debian's docker-registry, 127.0.0.1 only, no auth), started once.
if ! curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
  mkdir -p "$work/registry"
  cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YAML
  nohup docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
fi
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/oci:bullseye" \
  "docker://127.0.0.1:$port/demo/debian:bullseye"

# 3. The vulnerability DB: osv.dev when reachable, else the OSV files shipped beside this checkout.
db="$work/strata.db"
if ! "$strata" db update --ecosystems Debian --out "$db" 2>"$work/update.log"; then
  if [ -d ../shared/vulndb ]; then
    echo "demo: osv.dev is not reachable here; building the DB from ../shared/vulndb instead" >&2
    "$strata" db build --osv ../shared/vulndb --out "$db" >/dev/null
  else
    cat "$work/update.log" >&2; exit 2
  fi
fi

# 4. Scan it through the registry.
"$strata" image "127.0.0.1:$port/demo/debian:bullseye" --db "$db" "$@"
