#!/usr/bin/env bash
# Real npm content for the npm analyser's tests: an app that depends on real old package versions with
# advisories in ../shared/vulndb/osv-npm.jsonl.gz (the Node.js Security WG data, 2013-2020), installed by
# the machine's npm from the npm registry. Cached under $1/npm-app/:
#   app/            package.json, package-lock.json (v3, npm 11's default) and node_modules/
#   lock-v1.json    the same dependencies locked as v1 (`--lockfile-version 1`)
#   lock-v2.json    ... as v2
#   yarn.lock       `yarn@1 install` of the same package.json (when the registry serves yarn)
#   yarn-berry.lock `yarn install --mode=update-lockfile` with yarn 4 (npm package @yarnpkg/cli-dist)
#   pnpm-lock.yaml  `pnpm@8 install --lockfile-only` (lockfile format 6.0)
#   pnpm9-lock.yaml `pnpm@9 install --lockfile-only` (lockfile format 9.0)
#   node_modules.tar.gz  the installed app as an image layer would hold it
#   global-node_modules.tar.gz  the machine's global installs (npm itself, ~200 packages) as a layer: the bench's input
set -euo pipefail

out="$1/npm-app"
stamp="$out/.done-v3"
[ -e "$stamp" ] && exit 0
command -v npm >/dev/null || { echo "npm fixtures: npm is not installed; skipped" >&2; exit 0; }

work=$(mktemp -d "$1/npm-app.XXXXXX")
trap 'rm -rf "$work"' EXIT
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

# express 4.2.0 pulls qs 0.6.6, send 0.3.0/0.2.0, ms, negotiator: all with advisories, several paths each.
write_package_json() {
  cat >"$1/package.json" <<'JSON'
{
  "name": "acme",
  "version": "1.0.0",
  "private": true,
  "dependencies": {
    "express": "4.2.0",
    "lodash": "4.17.4",
    "handlebars": "4.0.11",
    "marked": "0.3.5"
  },
  "devDependencies": {
    "moment": "2.10.6"
  }
}
JSON
}

echo "npm fixtures: npm install (lockfile v3, v2, v1)" >&2
mkdir -p "$work/app"
write_package_json "$work/app"
(cd "$work/app" && npm install --package-lock >/dev/null)
for v in 1 2; do
  mkdir -p "$work/v$v"
  write_package_json "$work/v$v"
  (cd "$work/v$v" && npm install --package-lock-only --lockfile-version "$v" >/dev/null)
  cp "$work/v$v/package-lock.json" "$work/lock-v$v.json"
done

echo "npm fixtures: yarn@1 and pnpm@8 lockfiles" >&2
for d in yarn berry pnpm pnpm9; do mkdir -p "$work/$d"; write_package_json "$work/$d"; done
if (cd "$work/yarn" && npx --yes yarn@1 install --ignore-scripts --non-interactive >/dev/null 2>&1); then
  cp "$work/yarn/yarn.lock" "$work/yarn.lock"
else
  echo "npm fixtures: yarn@1 not available from the registry; no yarn.lock" >&2
fi
# An empty yarn.lock tells berry this folder is a project of its own, not part of one further up.
touch "$work/berry/yarn.lock"
if (cd "$work/berry" && npx --yes -p @yarnpkg/cli-dist@4 yarn install --mode=update-lockfile >"$work/berry.log" 2>&1); then
  cp "$work/berry/yarn.lock" "$work/yarn-berry.lock"
else
  tail -5 "$work/berry.log" >&2
  echo "npm fixtures: yarn 4 (@yarnpkg/cli-dist) failed; no yarn-berry.lock" >&2
fi
if (cd "$work/pnpm9" && npx --yes pnpm@9 install --lockfile-only >/dev/null 2>&1); then
  cp "$work/pnpm9/pnpm-lock.yaml" "$work/pnpm9-lock.yaml"
else
  echo "npm fixtures: pnpm@9 not available from the registry; no pnpm9-lock.yaml" >&2
fi
if (cd "$work/pnpm" && npx --yes pnpm@8 install --lockfile-only >/dev/null 2>&1); then
  cp "$work/pnpm/pnpm-lock.yaml" "$work/pnpm-lock.yaml"
else
  echo "npm fixtures: pnpm@8 not available from the registry; no pnpm-lock.yaml" >&2
fi

tar --sort=name --numeric-owner --mtime='2024-01-01 00:00:00Z' --format=gnu -C "$work" -czf "$work/node_modules.tar.gz" app
npm_root=$(npm root -g)
if [ -d "$npm_root" ]; then
  tar --sort=name --numeric-owner --mtime='2024-01-01 00:00:00Z' --format=gnu -C / -czf "$work/global-node_modules.tar.gz" \
    "${npm_root#/}"
fi
rm -rf "$out"
mkdir -p "$out"
if [ -e "$work/global-node_modules.tar.gz" ]; then mv "$work/global-node_modules.tar.gz" "$out/"; fi
mv "$work/app" "$work/lock-v1.json" "$work/lock-v2.json" "$work/node_modules.tar.gz" "$out/"
for f in yarn.lock yarn-berry.lock pnpm-lock.yaml pnpm9-lock.yaml; do if [ -e "$work/$f" ]; then mv "$work/$f" "$out/"; fi; done
touch "$stamp"
