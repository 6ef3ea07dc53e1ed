#!/usr/bin/env bash
# CI's check of the README's first command as a new user meets it: clones this checkout (its HEAD) into a
# temporary directory with no ../shared beside it, runs scripts/demo.sh there, locally and with --fleet,
# and asserts that the reports have real findings (npm with `npm ls` paths, PyPI, layer attribution,
# dependency-bump advice), that the demo said it used the committed OSV subset and where it looked, that
# both modes found the same, and that the registry it started is stopped.
#
# --offline: CI never reaches past 127.0.0.1. The binaries are the ones scripts/test.sh has just built
# (STRATA_DEMO_BIN_DIR, default $CARGO_TARGET_DIR/debug): a clone's path differs from the checkout's, so
# building there would compile every workspace crate again.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export STRATA_DEMO_BIN_DIR=${STRATA_DEMO_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/debug}
tmp=$(mktemp -d /tmp/strata-demo-clone.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
git clone -q "$root" "$tmp/strata"
export STRATA_DEMO_DIR="$tmp/work"
fail() { echo "demo check FAILED: $*" >&2; exit 1; }
[ -e "$tmp/shared" ] && fail "$tmp/shared exists; the clone must have no ../shared"

run() { # NAME ARGS...: the demo's JSON report in $tmp/NAME.json, its messages in $tmp/NAME.err
  local name=$1; shift
  if ! "$tmp/strata/scripts/demo.sh" --offline "$@" --format json --output "$tmp/$name.json" 2>"$tmp/$name.err"; then
    cat "$tmp/$name.err" >&2; fail "scripts/demo.sh $* exited non-zero"
  fi
}
check() { # DESCRIPTION FILE JQ-EXPRESSION (true when the check passes)
  jq -e "$3" "$2" >/dev/null || fail "$1 ($2: jq '$3' is not true)"
}
said() { # NAME TEXT: the demo said TEXT on stderr
  grep -qF -- "$2" "$tmp/$1.err" || { cat "$tmp/$1.err" >&2; fail "scripts/demo.sh ($1) did not say '$2'"; }
}

for mode in local fleet; do
  if [ "$mode" = fleet ]; then run fleet --fleet; else run local; fi
  said "$mode" "built from the OSV subset this repository ships"
  said "$mode" "shared/vulndb: not there"
  said "$mode" "osv.dev: not tried (--offline)"
  r="$tmp/$mode.json"
  check "npm findings" "$r" '[.results[] | select(.ecosystem == "npm") | .findings[]] | length > 0'
  check "PyPI findings" "$r" '[.results[] | select(.ecosystem == "PyPI") | .findings[]] | length > 0'
  check "an npm ls path through express" "$r" \
    '[.results[].findings[]? | .dependency_paths[]? | select(startswith("demo-shop@1.0.0 › express@4.2.0 › "))] | length > 0'
  check "npm findings attributed to the COPY layer" "$r" \
    '[.results[] | select(.ecosystem == "npm") | .findings[] | .layer.created_by] | unique == ["COPY . /app # buildkit"]'
  check "fixed versions" "$r" '[.results[].findings[]? | select(.fixed_version != null)] | length > 0'
  check "dependency-bump advice" "$r" '.advice.dependency_bumps | length > 0'
  check "the Debian base found" "$r" '.advice.release == "Debian 11 (bullseye)"'
  if pgrep -f "$tmp/work/registry.yml" >/dev/null; then fail "the registry the demo started is still running"; fi
done
ids() { jq -c '[.results[].findings[]? | [.id, .package, .installed_version]] | sort' "$1"; }
[ "$(ids "$tmp/local.json")" = "$(ids "$tmp/fleet.json")" ] || fail "the fleet found other findings than the local scan"
echo "demo check: a fresh clone without ../shared: $(jq '.summary.total' "$tmp/local.json") findings, local and fleet alike" >&2
