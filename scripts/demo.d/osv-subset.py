#!/usr/bin/env python3
"""Regenerates the demo's part of the committed OSV subset (testkit/fixtures/osv/demo-{npm,pypi}.jsonl.gz):
the real advisories of ../shared/vulndb that a scan of the demo image matched, and no others.

  STRATA_DEMO_DB=full.db scripts/demo.sh --offline --format json --output full.json   # full.db: `strata
      db build --osv ../shared/vulndb/osv-{npm,pypi,debian}.jsonl.gz --out full.db`
  scripts/demo.d/osv-subset.py full.json ../shared/vulndb testkit/fixtures/osv

Records are copied byte for byte, sorted by id, gzip with mtime 0 (as ../shared/vulndb is).
"""
import gzip
import json
import sys

report, vulndb, out = sys.argv[1:4]
ids = {f["id"] for r in json.load(open(report))["results"] for f in r.get("findings", [])}
for eco, name in (("npm", "osv-npm.jsonl.gz"), ("pypi", "osv-pypi.jsonl.gz")):
    lines = sorted(
        (line for line in gzip.open(f"{vulndb}/{name}", "rt") if json.loads(line)["id"] in ids),
        key=lambda line: json.loads(line)["id"],
    )
    with open(f"{out}/demo-{eco}.jsonl.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as z:
        z.write("".join(lines).encode())
    print(f"demo-{eco}.jsonl.gz: {len(lines)} advisories", file=sys.stderr)
