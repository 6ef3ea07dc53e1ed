#!/usr/bin/env bash
# Installs and starts what Strata's tests and demo need on a fresh Debian machine of this project.
# Idempotent: installs only what is missing, starts only what is down.
#   scripts/setup.sh [--demo]   --demo: only what scripts/demo.sh needs (no test-only tools)
set -euo pipefail
demo=false
[ "${1:-}" = --demo ] && demo=true

need_pkgs=()
for pair in docker-registry:docker-registry skopeo:skopeo debootstrap:debootstrap htpasswd:apache2-utils \
            zstd:zstd jq:jq strace:strace umoci:umoci dpkg-deb:dpkg openssl:openssl redis-cli:redis-tools \
            redis-server:redis-server rabbitmq-server:rabbitmq-server rsync:rsync faketime:faketime \
            go:golang-go govulncheck:govulncheck; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if ((${#need_pkgs[@]})); then
  echo "setup: installing ${need_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# RabbitMQ and Redis on 127.0.0.1, started the way this project's machines start them, if they are down.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "setup: starting Redis" >&2
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  echo "setup: starting RabbitMQ" >&2
  rabbitmq-server -detached
  for _ in $(seq 120); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 0.5; done
fi
for _ in $(seq 60); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done

# The Debian package enables a system registry on all interfaces with htpasswd; tests start their own
# on 127.0.0.1 with their own config, so the packaged service is not needed.

# Python tools of cli/tests/deploy.rs (kubernetes-validate, pinned): a venv outside the work tree,
# reinstalled only when deploy/tests/requirements.txt changes.
kv=/var/tmp/strata-tools/kv
req="$(dirname "$0")/../deploy/tests/requirements.txt"
if ! $demo && [[ -f $req ]] && ! cmp -s "$req" "$kv/.requirements.txt" 2>/dev/null; then
  echo "setup: installing deploy test tools into $kv" >&2
  mkdir -p "$(dirname "$kv")"
  python3 -m venv "$kv"
  "$kv/bin/pip" install -q -r "$req"
  cp "$req" "$kv/.requirements.txt"
fi

# cargo-fuzz drives the fuzz targets (scripts/fuzz.sh); pinned, so that CI runs what was tried.
if ! cargo fuzz --version 2>/dev/null | grep -q " 0.13.2$"; then
  echo "setup: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi

# cargo-machete finds dependencies no source names (scripts/test.sh fails on any); pinned like cargo-fuzz.
if ! $demo && ! cargo machete --version 2>/dev/null | grep -q "^0.9.2$"; then
  echo "setup: installing cargo-machete" >&2
  cargo install cargo-machete --version 0.9.2 --locked --quiet
fi

if ! command -v cargo-nextest >/dev/null 2>&1 && ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: cargo-nextest missing; tests will run with cargo test" >&2
fi
