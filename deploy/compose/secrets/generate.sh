#!/usr/bin/env bash
# Generates the credentials compose.yaml mounts as secrets: random passwords and token (openssl rand), and
# the files that carry them to RabbitMQ, Redis and the fleet. Existing files are kept unless --force, so
# re-running never locks the fleet out of a RabbitMQ/Redis volume initialised with the old password.
set -euo pipefail
cd "$(dirname "$0")"
force=false
[[ ${1:-} == --force ]] && force=true
umask 022
chmod 700 .

rand() { openssl rand -hex 24; }
write() { # write FILE CONTENT: only when missing or forced
  if [[ -e $1 && $force == false ]]; then echo "keeping $1" >&2; return; fi
  printf '%s\n' "$2" > "$1"
  echo "wrote $1" >&2
}

amqp_pass=$(rand)
redis_pass=$(rand)
# The TOML and the server configs must agree, so they are written together or not at all.
if [[ $force == true || ! -e strata-fleet.toml ]]; then
  force_all=$force; force=true
  write rabbitmq-credentials.conf "default_user = strata
default_pass = ${amqp_pass}"
  # Scan state lives in Redis: a Redis that restarted empty would lose every scan of the night (measured,
  # docs/benchmarks.md), so it keeps an append-only file on its volume (fsync every second).
  write redis.conf "requirepass ${redis_pass}
save \"\"
appendonly yes
appendfsync everysec"
  fleet="amqp_url = \"amqp://strata:${amqp_pass}@rabbitmq:5672/%2f\"
redis_url = \"redis://:${redis_pass}@redis:6379\""
  if [[ -n ${REGISTRY_USERNAME:-} ]]; then
    fleet+="
registry_username = \"${REGISTRY_USERNAME}\"
registry_password = \"${REGISTRY_PASSWORD:-}\""
  fi
  write strata-fleet.toml "$fleet"
  force=$force_all
fi
write strata_token "$(rand)"
# The registry's config carries the secret the coordinator checks on its notifications: written together.
if [[ $force == true || ! -e registry-config.yml ]]; then
  force_all=$force; force=true
  notify_token=$(rand)
  write strata_notify_token "$notify_token"
  # log level warn: at info, distribution logs each endpoint's headers (the secret) when it starts.
  write registry-config.yml "version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
notifications:
  endpoints:
    - name: strata
      url: http://coordinator:8080/v1/registry/events
      headers:
        Authorization: [Bearer ${notify_token}]
      timeout: 2s
      threshold: 3
      backoff: 5s"
  force=$force_all
fi
