#!/usr/bin/env bash
# The demo image's application layers: real old npm and PyPI releases (vulnerable versions that the
# registries still publish), installed by the machine's npm and pip, cached in $1/demo-app-v1:
#   app.tar      /app: package.json, package-lock.json and node_modules/ (express 4.2.0 pulls old qs,
#                send, ms, negotiator, serve-static: several `npm ls` paths), as `COPY . /app` would add it
#   python.tar   /usr/local/lib/python3.9/site-packages: requests 2.19.1 and its pinned dependencies,
#                as `RUN pip install` would leave it (pure-Python wheels only)
# Only what the demo needs; the tests' fixtures (yarn, pnpm, Ruby, Go, rpm, …) are scripts/fixtures.d.
set -euo pipefail
out="$1/demo-app-v1"
[ -s "$out/app.tar" ] && [ -s "$out/python.tar" ] && exit 0

if ! command -v npm >/dev/null; then
  echo "demo: apt-get install npm (to install the demo app's node_modules)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi
work=$(mktemp -d "$1/demo-app.XXXXXX")
trap 'rm -rf "$work"' EXIT
tarit() { tar --sort=name --numeric-owner --owner=0 --group=0 --mtime='2024-01-01 00:00:00Z' --format=gnu "$@"; }

echo "demo: npm install express@4.2.0 lodash@4.17.4 (old releases from the npm registry)" >&2
mkdir -p "$work/root/app"
cat >"$work/root/app/package.json" <<'JSON'
{
  "name": "demo-shop",
  "version": "1.0.0",
  "private": true,
  "dependencies": {
    "express": "4.2.0",
    "lodash": "4.17.4"
  }
}
JSON
(cd "$work/root/app" && npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false \
  npm install --package-lock --ignore-scripts --no-progress >"$work/npm.log" 2>&1) || { tail -20 "$work/npm.log" >&2; exit 1; }

echo "demo: pip install requests==2.19.1 urllib3==1.23 … (old releases from PyPI)" >&2
site="$work/py/usr/local/lib/python3.9/site-packages"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-warn-conflicts --no-compile --no-deps \
  --only-binary=:all: --target "$site" \
  requests==2.19.1 urllib3==1.23 idna==2.7 chardet==3.0.4 certifi==2018.4.16 >&2
rm -rf "$site/bin"

mkdir -p "$work/out"
tarit -C "$work/root" -cf "$work/out/app.tar" app
tarit -C "$work/py" -cf "$work/out/python.tar" usr
rm -rf "$out" && mv "$work/out" "$out"
