#!/usr/bin/env bash
# Real Python and Ruby packages for the language acceptance test (cli/tests/lang_python_ruby.rs), cached in $1:
#   python-site/   `pip install --target` of real old releases from PyPI (their *.dist-info as pip writes them)
#   ruby-gems/     Debian bullseye's ruby-rack/sinatra stack, unpacked with dpkg-deb (real generated gemspecs)
#   and the `ruby` interpreter: the test's RubyGems oracle is Ruby's own Gem::Requirement and Bundler
set -euo pipefail
dir=$1

site="$dir/python-site"
if [ ! -e "$site/.done" ]; then
  rm -rf "$site"
  echo "fixtures: pip install --target python-site (old releases from PyPI)" >&2
  # PyYAML 5.3.1 has no wheel for current Pythons: pip builds it from the sdist (pure-Python fallback).
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-compile --target "$site" \
    requests==2.19.1 urllib3==1.23 certifi==2018.4.16 Jinja2==2.10 PyYAML==5.3.1 >&2
  touch "$site/.done"
fi

gems="$dir/ruby-gems"
if [ ! -e "$gems/.done" ]; then
  rm -rf "$gems"
  work=$(mktemp -d "$dir/apt-bullseye.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "fixtures: apt-get download bullseye ruby-rack, ruby-sinatra, …" >&2
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$gems"
  echo "deb ${STRATA_DEBIAN_MIRROR:-http://deb.debian.org/debian} bullseye main" >"$work/sources.list"
  apt_opts=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Dir::State::status=/dev/null
    -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq >&2
  (cd "$work/debs" && apt-get "${apt_opts[@]}" download -qq \
    ruby-rack ruby-sinatra ruby-rack-protection ruby-tilt ruby-mustermann >&2)
  for deb in "$work/debs"/*.deb; do dpkg-deb -x "$deb" "$gems"; done
  touch "$gems/.done"
fi

if ! command -v ruby >/dev/null; then
  echo "fixtures: apt-get install ruby (the RubyGems oracle of the language acceptance test)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby >&2 || {
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby >&2; }
fi
