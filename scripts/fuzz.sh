#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (cargo-fuzz, libFuzzer): each for STRATA_FUZZ_SECONDS seconds (default an
# hour: this is the long run; scripts/test.sh runs it with a few seconds each). Usage:
#   scripts/fuzz.sh [TARGET...]        # all targets when none is named (`cargo fuzz list`)
# Each target starts from its committed seeds (fuzz/seeds/TARGET, fuzz/services/seeds/TARGET) plus the
# corpus earlier runs grew, kept outside the work tree under $CARGO_TARGET_DIR/fuzz-corpus. A crash, a timeout (-timeout: one input
# taking longer than STRATA_FUZZ_TIMEOUT s) or an input that takes the process over STRATA_FUZZ_RSS_MB
# fails the run; the input is left in $CARGO_TARGET_DIR/fuzz-artifacts/TARGET/ and its path printed. Every
# such input becomes a regression test in the crate it belongs to (see fuzz/README.md).
#
# cargo-fuzz needs nightly flags (-Zsanitizer, -Cpasses=sancov-module); RUSTC_BOOTSTRAP=1 lets the
# project's stable toolchain accept them. No sanitizer is used: the targets are safe Rust over safe
# parsers, the C parts (SQLite, zstd) are not instrumented by rustc's sanitizers anyway, and without
# ASan each target runs about twice the inputs per second.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
target_dir=${CARGO_TARGET_DIR:-/var/tmp/strata-target}/fuzz
seconds=${STRATA_FUZZ_SECONDS:-3600}
timeout=${STRATA_FUZZ_TIMEOUT:-10}
rss_mb=${STRATA_FUZZ_RSS_MB:-2048}
max_len=${STRATA_FUZZ_MAX_LEN:-1048576}
corpus_root=$target_dir/../fuzz-corpus
artifact_root=$target_dir/../fuzz-artifacts

command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo-fuzz is missing (scripts/setup.sh installs it)" >&2; exit 2; }
# Two fuzz crates: the engine's parsers (fuzz/) and the services' (fuzz/services/, whose network stack
# makes a much longer cold build). A target name picks its crate.
started=$SECONDS
failed=() ran=0
for dir in fuzz fuzz/services; do
  mapfile -t available < <(cargo fuzz list --fuzz-dir "$dir")
  targets=()
  for target in "${available[@]}"; do
    if (($# == 0)) || [[ " $* " == *" $target "* ]]; then targets+=("$target"); fi
  done
  ((${#targets[@]})) || continue
  # One named target builds alone; otherwise the whole crate (cargo fuzz build takes at most one name).
  only=(); ((${#targets[@]} == 1)) && only=("${targets[0]}")
  cargo fuzz build --fuzz-dir "$dir" --sanitizer none --target-dir "$target_dir" "${only[@]}"
  echo "fuzz: $dir built after $((SECONDS - started)) s; ${#targets[@]} targets, ${seconds} s each" >&2
  bin_dir=$target_dir/x86_64-unknown-linux-gnu/release
  for target in "${targets[@]}"; do
    corpus=$corpus_root/$target artifacts=$artifact_root/$target
    mkdir -p "$corpus" "$artifacts"
    log=$artifacts/last-run.log
    ran=$((ran + 1))
    # The grown corpus first: libFuzzer adds new inputs to the first directory, never to the seeds.
    if "$bin_dir/$target" "$corpus" "$dir/seeds/$target" -max_total_time="$seconds" -timeout="$timeout" \
        -rss_limit_mb="$rss_mb" -max_len="$max_len" -artifact_prefix="$artifacts/" -print_final_stats=1 \
        >"$log" 2>&1; then
      echo "fuzz: $target ok ($(grep -m1 -o 'number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs)" >&2
    else
      echo "fuzz: $target FAILED; input in $artifacts/, log $log:" >&2
      grep -E "^(==[0-9]+== ERROR|thread '.*' panicked|SUMMARY|Test unit written)" "$log" | head -20 >&2 \
        || tail -20 "$log" >&2
      failed+=("$target")
    fi
  done
done
echo "fuzz: $ran targets in $((SECONDS - started)) s" >&2
if ((${#failed[@]})); then
  echo "fuzz: failing targets: ${failed[*]}" >&2
  exit 1
fi
