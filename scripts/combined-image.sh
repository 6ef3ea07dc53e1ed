#!/usr/bin/env bash
# Assembles, from the cached real fixtures, one image with every kind of package Strata reads: the
# bullseye root filesystem, an npm app (lockfile + node_modules), Python packages in site-packages, a Go
# binary and a cargo-auditable Rust binary with its Cargo.lock. Writes an OCI layout and prints
# `oci:DIR:combined` for `strata image --input` and scripts/compare-inventory.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=$(scripts/fixtures.sh)
out=${1:-/var/tmp/strata-combined}
rm -rf "$out" && mkdir -p "$out/layers"
stage() { rm -rf "$out/stage" && mkdir -p "$out/stage/$1"; }
pack() { tar --sort=name --numeric-owner --mtime='2024-01-01 00:00:00Z' -C "$out/stage" -cf "$out/layers/$1.tar" .; }
stage app && cp -a "$fixtures/npm-app/app/." "$out/stage/app/" && pack npm
stage usr/local/lib/python3.9/site-packages && cp -a "$fixtures/python-site/." "$out/stage/usr/local/lib/python3.9/site-packages/" && pack python
stage usr/local/bin && cp "$fixtures/binaries/goapp" "$fixtures/binaries/rustapp" "$out/stage/usr/local/bin/" \
  && mkdir -p "$out/stage/src/rustapp" && cp "$fixtures/binaries/rustapp.lock" "$out/stage/src/rustapp/Cargo.lock" && pack binaries
umoci init --layout "$out/oci"
umoci new --image "$out/oci:combined"
umoci raw add-layer --image "$out/oci:combined" --history.created_by "debootstrap --variant=minbase bullseye" "$fixtures/bullseye-minbase.tar"
for l in npm python binaries; do
  umoci raw add-layer --image "$out/oci:combined" --history.created_by "COPY $l" "$out/layers/$l.tar"
done
rm -rf "$out/stage" "$out/layers"
echo "oci:$out/oci:combined"
