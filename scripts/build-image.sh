#!/usr/bin/env bash
# Builds the strata-worker image for real from deploy/docker/worker.Dockerfile with buildah (no Docker
# engine here: `buildah bud --isolation chroot --storage-driver vfs`), then scans the result with
# `strata image --input` (vulnerabilities, secrets, and the image-config and Dockerfile checks).
#
# Not part of CI: it takes minutes (a release build on this machine's 2 cores) and needs crates.io.
#
# The Dockerfile's pinned bases (rust:1.95-slim-bookworm, gcr.io/distroless/cc-debian12:nonroot) cannot be
# pulled here, so this assembles stand-ins with the same roles from Debian 12 packages and passes them as
# the Dockerfile's RUST_IMAGE / RUNTIME_IMAGE build arguments; everything else is the real Dockerfile:
#   - build stand-in: `debootstrap --variant=minbase bookworm` + gcc/libc6-dev (the linker rustc calls)
#     + this machine's Rust 1.95 toolchain at /usr/local/cargo (where the official rust image has it);
#   - runtime stand-in: what distroless cc is made of: libc6, libgcc-s1, ca-certificates, base-files,
#     netbase, tzdata unpacked with dpkg-deb (no maintainer scripts, so no shell and no dpkg/apt in it),
#     with distroless-style per-package records in /var/lib/dpkg/status.d/ so scanners see the packages.
#
# Usage: scripts/build-image.sh [extra `strata image` options, e.g. --format json]
# Env:   STRATA_IMAGE_WORK (default /var/tmp/strata-image): buildah storage, stand-in cache, OCI output.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${STRATA_IMAGE_WORK:-/var/tmp/strata-image}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
toolchain=${RUST_TOOLCHAIN_DIR:-$(rustc --print sysroot)}
mkdir -p "$work"

need=()
for pair in buildah:buildah debootstrap:debootstrap dpkg-deb:dpkg; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
if ((${#need[@]})); then
  echo "build-image: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# Private storage under $work: the machine's own container storage (if any) is left alone.
bh() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }

build_base=localhost/standin/rust:1.95-slim-bookworm
runtime_base=localhost/standin/distroless-cc:debian12-nonroot

# ---- build stand-in ----------------------------------------------------------------------------------
if ! bh inspect --type image "$build_base" >/dev/null 2>&1; then
  rootfs_tar=$work/bookworm-build-rootfs.tar
  if [[ ! -f $rootfs_tar ]]; then
    echo "build-image: debootstrap bookworm (minbase + gcc, libc6-dev), a few minutes" >&2
    tmp=$(mktemp -d "$work/debootstrap.XXXXXX")
    debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates bookworm "$tmp/root" "$mirror" \
      >"$tmp/log" 2>&1 || { tail -20 "$tmp/log" >&2; exit 1; }
    tar -C "$tmp/root" -cf "$rootfs_tar.part" . && mv "$rootfs_tar.part" "$rootfs_tar"
    rm -rf "$tmp"
  fi
  echo "build-image: assembling $build_base (toolchain from $toolchain)" >&2
  ctr=$(bh from scratch)
  bh add "$ctr" "$rootfs_tar" /
  bh copy "$ctr" "$toolchain" /usr/local/cargo
  # This machine's trust store, so the build reaches crates.io the way the host does (through whatever
  # TLS-inspecting egress the host trusts); the real rust image would use Debian's bundle.
  bh copy "$ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
  bh config --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label org.opencontainers.image.description="stand-in for rust:1.95-slim-bookworm (scripts/build-image.sh)" "$ctr"
  bh commit --rm "$ctr" "$build_base" >/dev/null
fi

# ---- runtime stand-in --------------------------------------------------------------------------------
if ! bh inspect --type image "$runtime_base" >/dev/null 2>&1; then
  echo "build-image: assembling $runtime_base from Debian 12 packages" >&2
  tmp=$(mktemp -d "$work/runtime.XXXXXX")
  (cd "$tmp" && apt-get download -q libc6 libgcc-s1 ca-certificates base-files netbase tzdata >/dev/null)
  mkdir -p "$tmp/root/var/lib/dpkg/status.d" "$tmp/root/tmp" "$tmp/root/etc/ssl/certs"
  for deb in "$tmp"/*.deb; do
    dpkg-deb -x "$deb" "$tmp/root"
    pkg=$(dpkg-deb -f "$deb" Package)
    # distroless writes one dpkg record per package (status.d/NAME), Status line included.
    dpkg-deb -f "$deb" Package Status Priority Section Installed-Size Maintainer Architecture Multi-Arch \
      Source Version Depends Pre-Depends Description Homepage 2>/dev/null \
      | sed '/^Package:/a Status: install ok installed' >"$tmp/root/var/lib/dpkg/status.d/$pkg"
  done
  # ca-certificates' bundle is made by its maintainer script, which a shell-less image cannot run; build
  # it the same way from the package's own certificates (Mozilla's set, nothing of this machine's).
  cat "$tmp"/root/usr/share/ca-certificates/mozilla/*.crt >"$tmp/root/etc/ssl/certs/ca-certificates.crt"
  chmod 1777 "$tmp/root/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$tmp/root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$tmp/root/etc/group"
  ctr=$(bh from scratch)
  bh copy "$ctr" "$tmp/root" /
  bh config --user 65532:65532 --env PATH=/usr/local/bin:/usr/bin:/bin \
    --label org.opencontainers.image.description="stand-in for gcr.io/distroless/cc-debian12:nonroot (scripts/build-image.sh)" "$ctr"
  bh commit --rm "$ctr" "$runtime_base" >/dev/null
  rm -rf "$tmp"
fi

# ---- the real Dockerfile -----------------------------------------------------------------------------
echo "build-image: buildah bud deploy/docker/worker.Dockerfile (release build: several minutes)" >&2
# --format docker keeps HEALTHCHECK (the OCI image config has no field for it).
bh bud --isolation chroot --pull=never --format docker \
  --build-arg RUST_IMAGE="$build_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
  --build-arg REVISION="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  -f "$root/deploy/docker/worker.Dockerfile" -t localhost/strata-worker:dev "$root"

# docker-archive, not an OCI layout: the OCI image config has no Healthcheck field, so converting would
# drop the HEALTHCHECK and the scan would report IMG004 for a problem the image does not have.
rm -f "$work/strata-worker.tar"
bh push localhost/strata-worker:dev "docker-archive:$work/strata-worker.tar:localhost/strata-worker:dev" >/dev/null
echo "build-image: image at $work/strata-worker.tar (docker-archive)" >&2

# ---- scan it -----------------------------------------------------------------------------------------
strata=${STRATA_BIN:-}
if [[ -z $strata ]]; then
  (cd "$root" && cargo build -q --release -p strata-cli)
  strata=${CARGO_TARGET_DIR:-$root/target}/release/strata
fi
db_args=()
if [[ -z ${STRATA_DB:-} && ! -f ${HOME}/.cache/strata/db/strata.db ]]; then
  # No DB downloaded: the committed OSV subset (tests use it too), so the scan still runs offline.
  db_args=(--osv "$root/testkit/fixtures/osv")
elif [[ -n ${STRATA_DB:-} ]]; then
  db_args=(--db "$STRATA_DB")
fi
# The Dockerfile is checked on its own: `strata image --dockerfile` takes the Dockerfile's directory as the
# build context (it has no --context), so it would miss the root .dockerignore this build really used.
"$strata" dockerfile --context "$root" "$root/deploy/docker/worker.Dockerfile"
"$strata" image --input "$work/strata-worker.tar" --scanners vuln,secret,misconfig "${db_args[@]}" --quiet "$@"
