#!/usr/bin/env bash
# Installs and starts what Strata's tests and demo need on a fresh Debian machine of this project.
# Idempotent: installs only what is missing, starts only what is down.
set -euo pipefail

need_pkgs=()
for pair in docker-registry:docker-registry skopeo:skopeo debootstrap:debootstrap htpasswd:apache2-utils \
            zstd:zstd jq:jq umoci:umoci dpkg-deb:dpkg; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if ((${#need_pkgs[@]})); then
  echo "setup: installing ${need_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# The Debian package enables a system registry on all interfaces with htpasswd; tests start their own
# on 127.0.0.1 with their own config, so the packaged service is not needed.

if ! command -v cargo-nextest >/dev/null 2>&1 && ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: cargo-nextest missing; tests will run with cargo test" >&2
fi
