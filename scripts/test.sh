#!/usr/bin/env bash
# The one command that runs every test: installs what is missing, builds the cached fixtures, checks
# formatting, then runs the whole workspace's tests against real services on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/strata-target}

scripts/setup.sh
scripts/fixtures.sh >/dev/null
# Real DefectDojo instances for the contract tests (cached under /var/tmp; see the script). When they cannot
# start, the other tests still run and the real-DefectDojo ones fail, saying why.
scripts/defectdojo.sh start || echo "test.sh: no real DefectDojo (see above); its tests will fail" >&2
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# No unused dependency in any crate (a false positive is listed in that crate's [package.metadata.cargo-machete]).
cargo machete
# Acceptance tests run the real binaries of every crate (strata, strata-coordinator, strata-worker).
cargo build --workspace --bins
# The README's first command as a new user meets it: scripts/demo.sh in a temporary clone with no ../shared
# (committed data only), locally and with --fleet, on the binaries just built; its report must have findings.
scripts/demo.d/check-clone.sh
# Every fuzz target for a few seconds (about 4 min on 2 cores with a warm build); a crash, hang or memory
# blow-up fails the run. STRATA_FUZZ_SECONDS=0 skips it; scripts/fuzz.sh alone runs them for hours.
if [[ ${STRATA_FUZZ_SECONDS:-8} != 0 ]]; then
  STRATA_FUZZ_SECONDS=${STRATA_FUZZ_SECONDS:-8} scripts/fuzz.sh
fi
# The tests that use ../shared run a second time as in a user's clone without it, on the committed data
# they fall back to (testkit::fixtures::WITHOUT_SHARED_ENV): that fallback must be seen to pass too.
without_shared=(strata-cli::bullseye strata-cli::lang_npm strata-cli::lang_python_ruby strata-cli::lang_binaries
                strata-scanner::vulndb strata-loadtest::smoke)
rc=0
if cargo nextest --version >/dev/null 2>&1; then
  filter=$(printf 'binary_id(%s) | ' "${without_shared[@]}")
  STRATA_TEST_WITHOUT_SHARED=1 cargo nextest run --workspace --no-fail-fast -E "${filter% | }" || rc=$?
  # Doc examples are not tests here (none are marked runnable); nextest's summary is the closing line.
  cargo nextest run --workspace --no-fail-fast "$@" || rc=$?
else
  STRATA_TEST_WITHOUT_SHARED=1 cargo test --no-fail-fast -p strata-cli --test bullseye --test lang_npm \
    --test lang_python_ruby --test lang_binaries -p strata-scanner --test vulndb -p strata-loadtest --test smoke || rc=$?
  cargo test --workspace --no-fail-fast "$@" || rc=$?
fi
exit $rc
