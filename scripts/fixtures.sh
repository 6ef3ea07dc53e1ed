#!/usr/bin/env bash
# Builds the real content that integration tests and the demo scan, once per machine, and caches it:
#   $STRATA_FIXTURES/bullseye-minbase.tar   a Debian 11 root filesystem from `debootstrap --variant=minbase`
#   and whatever scripts/fixtures.d/*.sh build (each idempotent, each given the directory as $1): the
#   tests' fixtures (Go, Rust, Ruby, rpm, Java, npm/yarn/pnpm, pip), which the demo does not need.
# Rebuilt only when missing. Prints the fixtures directory.
#   scripts/fixtures.sh [--base]   --base: only the root filesystem (what scripts/demo.sh needs)
set -euo pipefail
base_only=false
[ "${1:-}" = --base ] && base_only=true

dir=${STRATA_FIXTURES:-/var/tmp/strata-fixtures}
mirror=${STRATA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$dir"

rootfs_tar="$dir/bullseye-minbase.tar"
if [ ! -s "$rootfs_tar" ]; then
  work=$(mktemp -d "$dir/debootstrap.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "fixtures: debootstrap --variant=minbase bullseye (about a minute)" >&2
  debootstrap --variant=minbase bullseye "$work/root" "$mirror" >"$work/log" 2>&1 || {
    tail -20 "$work/log" >&2; exit 1; }
  # apt's downloaded archives are not part of an image; drop them as image builders do.
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_Packages
  # Deterministic tar: sorted names, numeric owners, fixed mtime, so the layer digest is stable.
  tar --sort=name --numeric-owner --mtime='2024-01-01 00:00:00Z' --format=gnu \
      -C "$work/root" -cf "$rootfs_tar.tmp" .
  mv "$rootfs_tar.tmp" "$rootfs_tar"
fi
$base_only && { echo "$dir"; exit 0; }
for part in "$(dirname "$0")"/fixtures.d/*.sh; do
  [ -e "$part" ] || continue
  bash "$part" "$dir" >&2
done
echo "$dir"
