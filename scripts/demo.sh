#!/usr/bin/env bash
# The main job, end to end on this machine: a real image (a debootstrapped Debian 11 base plus an app layer
# of real old npm packages and a layer of real old PyPI packages), pushed to a registry of our own on
# 127.0.0.1, scanned through that registry against a vulnerability DB.
#
#   scripts/demo.sh [--fleet] [--release] [--offline] [extra `strata image` flags, e.g. --format json]
#
#   --fleet    scan through a coordinator and a worker (the real binaries, the machine's RabbitMQ and Redis,
#              the demo's own queue and key prefix): `strata submit --wait`, then `strata results`
#   --release  build and run the release profile (optimised; a much longer first build)
#   --offline  do not try osv.dev for the DB
# Env: STRATA_DEMO_DIR (work dir, default /var/tmp/strata-demo), STRATA_DEMO_PORT (first registry port to
# try, default 5055), STRATA_DEMO_BIN_DIR (use the strata binaries already built there; no cargo build),
# STRATA_DEMO_DB (a DB file to use as is), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# The same target dir as scripts/test.sh, so the two commands share one build.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/strata-target}
work=${STRATA_DEMO_DIR:-/var/tmp/strata-demo}
say() { echo "demo: $*" >&2; }

fleet=false profile=debug offline=false
while [ $# -gt 0 ]; do
  case "$1" in
    --fleet) fleet=true ;;
    --release) profile=release ;;
    --offline) offline=true ;;
    *) break ;;
  esac
  shift
done
mkdir -p "$work"
started=$SECONDS

# Whatever this run starts is stopped when it ends, however it ends.
pids=()
cleanup() { for p in "${pids[@]}"; do { kill "$p" && wait "$p"; } 2>/dev/null || true; done; }
trap cleanup EXIT

scripts/setup.sh --demo
fixtures=$(scripts/fixtures.sh --base)
bash scripts/demo.d/app-layers.sh "$fixtures"

# 1. The binaries.
bins=(strata)
$fleet && bins+=(strata-coordinator strata-worker)
if [ -n "${STRATA_DEMO_BIN_DIR:-}" ]; then
  bindir=$STRATA_DEMO_BIN_DIR
  say "using the binaries in $bindir (STRATA_DEMO_BIN_DIR; no build)"
else
  bindir="$CARGO_TARGET_DIR/$profile"
  pkgs=(-p strata-cli)
  $fleet && pkgs+=(-p strata-coordinator -p strata-worker)
  flags=()
  [ "$profile" = release ] && flags+=(--release)
  # Measured (README): a first debug build is ~10 CPU-minutes; the release profile takes about twice that.
  if [ "$profile" = release ]; then expect="20-25 minutes"; else expect="5-10 minutes"; fi
  say "cargo build ${flags[*]:+${flags[*]} }${pkgs[*]} into $CARGO_TARGET_DIR ($profile profile: a first build" \
      "compiles ~350 crates, $expect on an idle 2-core machine; later runs take seconds)"
  cargo build "${flags[@]}" "${pkgs[@]}" --bins
fi
for b in "${bins[@]}"; do
  [ -x "$bindir/$b" ] || { say "no $b in $bindir"; exit 2; }
done
strata="$bindir/strata"

# 2. The image, assembled with umoci the way a two-stage Dockerfile on debian:bullseye would leave it:
#    the base (rootfs + CMD), then `COPY . /app` (package.json, lockfile, node_modules), then `RUN pip install`.
image="$work/oci"
stamp=$( (cat "$0" && sha256sum "$fixtures/bullseye-minbase.tar" "$fixtures"/demo-app-v1/*.tar) | sha256sum | cut -c1-16)
if [ "$(cat "$image/.stamp" 2>/dev/null)" != "$stamp" ]; then
  say "assembling the image (umoci): bullseye base, /app node_modules, site-packages"
  rm -rf "$image"
  umoci init --layout "$image"
  umoci new --image "$image:shop"
  umoci raw add-layer --image "$image:shop" \
    --history.created_by '/bin/sh -c #(nop) ADD file:bullseye-minbase.tar in / ' "$fixtures/bullseye-minbase.tar"
  umoci config --image "$image:shop" --config.cmd bash --architecture amd64 --os linux \
    --history.created_by '/bin/sh -c #(nop)  CMD ["bash"]'
  umoci raw add-layer --image "$image:shop" --history.created_by 'COPY . /app # buildkit' \
    "$fixtures/demo-app-v1/app.tar"
  umoci raw add-layer --image "$image:shop" \
    --history.created_by 'RUN /bin/sh -c pip install requests==2.19.1 urllib3==1.23 # buildkit' \
    "$fixtures/demo-app-v1/python.tar"
  umoci config --image "$image:shop" --config.workingdir /app --config.cmd node --config.cmd index.js \
    --history.created_by 'CMD ["node", "index.js"]'
  echo "$stamp" >"$image/.stamp"
fi

# 3. A registry of our own (Debian's docker-registry, 127.0.0.1 only, no auth), stopped when the demo ends.
#    A port something else answers on is never used: whatever it is, it is not ours.
port=${STRATA_DEMO_PORT:-5055}
busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
first=$port
while busy "$port"; do port=$((port + 1)); done
[ "$port" != "$first" ] && say "127.0.0.1:$first is taken by another process (not this demo's); using port $port"
mkdir -p "$work/registry"
cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || { say "the registry did not start:"; cat "$work/registry.log" >&2; exit 2; }
ref="127.0.0.1:$port/demo/shop:1.0"
say "registry on 127.0.0.1:$port (pid ${pids[-1]}, stopped at the end); pushing $ref"
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$image:shop" "docker://$ref"

# 4. The vulnerability DB: osv.dev when reachable, else ../shared/vulndb beside this checkout when there,
#    else the OSV subset this repository ships (testkit/fixtures/osv). Says where it looked.
. scripts/demo.d/db.sh
pick_db

# 5. Scan it.
say "scanning $ref ($(( SECONDS - started )) s so far)"
if ! $fleet; then
  "$strata" image "$ref" --db "$db" --quiet "$@"
else
  . scripts/demo.d/fleet.sh
  fleet_scan "$@"
fi
say "done in $(( SECONDS - started )) s"
