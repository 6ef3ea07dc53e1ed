#!/usr/bin/env bash
# Real binaries for the binary analyser's tests (scanner/tests/fixtures/binary/ has their sources), built once
# into $1/binaries and rebuilt only when their sources change:
#   goapp            go build (Debian's golang-go) of a module with two real modules vendored from Debian's
#                    golang-golang-x-{net,text}-dev (the Go module proxy is out of reach) and a replace
#   goapp.modinfo    its oracle: `go version -m goapp`
#   rustapp          cargo auditable build --release of a crate on old real crates from crates.io
#   rustapp.json     its oracle: the .dep-v0 section (objcopy) inflated (python3 zlib)
#   rustapp.lock     the Cargo.lock it was built with (committed beside its sources)
#   reach/calls, reach/imports   stdlib-only programs (Debian's Go) that call, resp. only import, packages
#                    Go advisories name; each also as reach/*-stripped (-ldflags='-s -w'), for the
#                    reachability oracle test (cli/tests/go_reachability.rs, govulncheck)
#   reach/goapp      goapp's unstripped twin (its modules' symbols, for govulncheck)
#   reach/go, reach/gofmt        Debian's own Go programs rebuilt, unstripped, from golang-1.19-src with
#                    Debian's toolchain: the twins govulncheck can read of the stripped /usr/lib/go-1.19/bin ones
set -euo pipefail

out="$1/binaries"
src="$(cd "$(dirname "$0")/../.." && pwd)/scanner/tests/fixtures/binary"
mkdir -p "$out"
stamp=$( (cat "$0"; find "$src/goapp" "$src/rustapp" "$src/reach" -type f | sort | xargs cat) | sha256sum | cut -c1-16)
if [ -s "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -s "$out/goapp" ] && [ -s "$out/rustapp" ] \
  && [ -s "$out/reach/gofmt" ] && [ -s "$out/reach/goapp" ]; then
  exit 0
fi
echo "fixtures: building Go and cargo-auditable binaries" >&2

need=()
command -v go >/dev/null || need+=(golang-go)
[ -d /usr/share/gocode/src/golang.org/x/net/html ] || need+=(golang-golang-x-net-dev)
[ -d /usr/share/gocode/src/golang.org/x/text/cases ] || need+=(golang-golang-x-text-dev)
command -v objcopy >/dev/null || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Go: vendor the Debian sources with the module versions Debian packaged (golang-golang-x-net-dev
# 1:0.7.0+dfsg-1, golang-golang-x-text-dev 0.7.0-1); x/text is required at v0.3.7 and replaced by v0.7.0
# so the build info carries a real `=>` line.
cp -r "$src/goapp" "$work/goapp"
gocode=/usr/share/gocode/src
mkdir -p "$work/goapp/vendor"
{
  for m in "golang.org/x/net v0.7.0" "golang.org/x/text v0.3.7 => golang.org/x/text v0.7.0"; do
    path=${m%% *}
    echo "# $m"
    echo "## explicit"
    mkdir -p "$work/goapp/vendor/$(dirname "$path")"
    cp -r "$gocode/$path" "$work/goapp/vendor/$path"
    (cd "$work/goapp/vendor" && find "$path" -name '*.go' -not -name '*_test.go' -printf '%h\n' | sort -u)
  done
} >"$work/goapp/vendor/modules.txt"
(cd "$work/goapp" && GOFLAGS=-mod=vendor GOPROXY=off GO111MODULE=on GOCACHE="$out/gocache" \
  go build -trimpath -ldflags='-s -w' -o "$out/goapp.tmp" .)
mv "$out/goapp.tmp" "$out/goapp"
mkdir -p "$out/reach"
(cd "$work/goapp" && GOFLAGS=-mod=vendor GOPROXY=off GO111MODULE=on GOCACHE="$out/gocache" \
  go build -trimpath -o "$out/reach/goapp.tmp" .)
mv "$out/reach/goapp.tmp" "$out/reach/goapp"
go version -m "$out/goapp" >"$out/goapp.modinfo"

# Go reachability: the same program with its symbol table and without (the function table stays).
for prog in calls imports; do
  cp -r "$src/reach/$prog" "$work/$prog"
  for flavour in "" -stripped; do
    ldflags=""
    [ -n "$flavour" ] && ldflags="-s -w"
    (cd "$work/$prog" && GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on GOCACHE="$out/gocache" \
      go build -trimpath -ldflags="$ldflags" -o "$out/reach/$prog$flavour.tmp" .)
    mv "$out/reach/$prog$flavour.tmp" "$out/reach/$prog$flavour"
  done
done
for prog in go gofmt; do
  GOCACHE="$out/gocache" go build -trimpath -o "$out/reach/$prog.tmp" "cmd/$prog"
  mv "$out/reach/$prog.tmp" "$out/reach/$prog"
done

# Rust: cargo-auditable itself is built once and kept.
auditable="$out/cargo-auditable/bin/cargo-auditable"
[ -x "$auditable" ] || cargo install --quiet --locked cargo-auditable --version 0.7.7 --root "$out/cargo-auditable"
cp -r "$src/rustapp" "$work/rustapp"
(cd "$work/rustapp" && CARGO_TARGET_DIR="$out/rust-target" PATH="$(dirname "$auditable"):$PATH" \
  cargo auditable build --quiet --locked --release)
cp "$out/rust-target/release/rustapp" "$out/rustapp.tmp"
objcopy --dump-section .dep-v0="$work/dep-v0" "$out/rustapp.tmp"
python3 -c 'import sys, zlib; sys.stdout.write(zlib.decompress(open(sys.argv[1], "rb").read()).decode())' \
  "$work/dep-v0" >"$out/rustapp.json"
cp "$work/rustapp/Cargo.lock" "$out/rustapp.lock"
mv "$out/rustapp.tmp" "$out/rustapp"
echo "$stamp" >"$out/stamp"
