#!/usr/bin/env bash
# Real DefectDojo 3.2.0 instances for the contract tests (docs/defectdojo.md, "Tests against the real
# DefectDojo"), built from ../shared/defectdojo with its run-defectdojo.sh and cached under /var/tmp: the
# first start takes minutes (pip, migrations), later ones seconds.
#
#   scripts/defectdojo.sh start   # start both instances if needed, write the env file the tests read
#   scripts/defectdojo.sh stop    # stop them (kept for the next start)
#   scripts/defectdojo.sh reset   # stop them and drop their databases, broker keys and directories
#
# Two instances, because DefectDojo reads its hash settings at start: `default` (DefectDojo's own
# Trivy hash) and `recommended` (the DD_HASHCODE_FIELDS_PER_SCANNER docs/defectdojo.md recommends).
# Their Celery brokers use Redis DBs 11 and 12, away from the fleet tests' keys in DB 0.
#
# When ../shared/defectdojo (or $STRATA_SHARED_DIR/defectdojo) is missing, `start` says so, removes the
# env file and exits 0: the real-DefectDojo tests then fail with that explanation, unless
# STRATA_TEST_DEFECTDOJO=skip says to skip them on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."

shared=${STRATA_SHARED_DIR:-$(pwd)/../shared}
runner="$shared/defectdojo/run-defectdojo.sh"
base=${STRATA_DEFECTDOJO_DIR:-/var/tmp/strata-defectdojo}
env_file=${STRATA_TEST_DEFECTDOJO_ENV:-/var/tmp/strata-defectdojo.env}
# The hash fields docs/defectdojo.md recommends (and why); keep both in step.
recommended='{"Trivy Scan": ["title", "vulnerability_ids", "component_name", "component_version", "file_path", "line"]}'

instances=("default:$base:18090:11" "recommended:$base-recommended:18091:12")

start() {
  if [[ ! -x $runner ]]; then
    rm -f "$env_file"
    echo "defectdojo.sh: $runner is missing, so no real DefectDojo is started; the real-DefectDojo" \
      "tests will fail saying so (STRATA_TEST_DEFECTDOJO=skip skips them on purpose)" >&2
    return 0
  fi
  local out tmp
  tmp=$(mktemp)
  # A failed start leaves no env file behind: the tests then fail saying there is no DefectDojo.
  rm -f "$env_file"
  for spec in "${instances[@]}"; do
    IFS=: read -r name dir port db <<<"$spec"
    out=$(DD_REDIS_DB=$db "$runner" start "$dir" "$port")
    if [[ $name == recommended ]]; then
      local want="DD_HASHCODE_FIELDS_PER_SCANNER='$recommended'"
      if [[ $(cat "$dir/dd-extra.env" 2>/dev/null) != "$want" ]]; then
        printf '%s\n' "$want" >"$dir/dd-extra.env"
        out=$(DD_REDIS_DB=$db "$runner" start "$dir" "$port")
      fi
    fi
    local upper=${name^^}
    sed -n "s/^DD_URL=/STRATA_TEST_DD_${upper}_URL=/p; s/^DD_API_TOKEN_FILE=/STRATA_TEST_DD_${upper}_TOKEN_FILE=/p" \
      <<<"$out" >>"$tmp"
    echo "STRATA_TEST_DD_${upper}_DIR=$dir" >>"$tmp"
  done
  echo "STRATA_TEST_DD_RUNNER=$runner" >>"$tmp"
  mv "$tmp" "$env_file"
  echo "defectdojo.sh: instances ready, see $env_file" >&2
}

each() {
  [[ -x $runner ]] || { echo "defectdojo.sh: $runner is missing" >&2; exit 1; }
  for spec in "${instances[@]}"; do
    IFS=: read -r _ dir _ _ <<<"$spec"
    [[ -d $dir ]] && "$runner" "$1" "$dir"
  done
  rm -f "$env_file"
}

# One caller at a time (parallel CI jobs on one machine share the instances).
exec 9>"$base.lock"
flock 9
case ${1:-start} in
  start) start ;;
  stop) each stop ;;
  reset) each reset ;;
  *) echo "usage: $0 [start|stop|reset]" >&2; exit 2 ;;
esac
