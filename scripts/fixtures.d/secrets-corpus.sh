#!/usr/bin/env bash
# Real third-party code for the secret scanner's false-positive test (scanner/src/secret/corpus_tests.rs),
# cached in $1/secrets-corpus-v1 as uncompressed layer tars, paths as an image holds them:
#   python.tar  `pip install --target` (wheels only) of the most downloaded PyPI packages (the registry's
#               download rank, top 70 less build tools, litellm and aiobotocore + s3fs, whose botocore pin sends pip backtracking through dozens of botocore wheels) plus the auth and web
#               stack around them, under usr/local/lib/python3.11/site-packages; and several major
#               versions of the big web frameworks and HTTP clients, each in its own
#               opt/<name>/lib/python3.11/site-packages (a virtualenv's layout)
#   npm.tar     `npm install` of the most downloaded npm packages and the common server stack, under
#               app/node_modules
#   ruby.tar    Debian bullseye's Ruby gems (rails, devise, omniauth, aws-sdk, …) as dpkg-deb unpacks them
#               (no RubyGems registry is reachable here: Debian's packaging of the gems stands in)
# The Debian base is bullseye-minbase.tar (scripts/fixtures.sh). A cold build takes about 5 minutes on
# 2 shared cores (downloads and pip's resolver dominate); built once (bump the -vN to rebuild).
set -euo pipefail
out="$1/secrets-corpus-v1"
[ -e "$out/.done" ] && exit 0
echo "fixtures: secret corpus (pip, npm, Debian ruby gems; about 5 minutes)" >&2
rm -rf "$out"
work=$(mktemp -d "$1/secrets-corpus.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out"
tar_of() { tar --sort=name --numeric-owner --owner=0 --group=0 --mtime='2024-01-01 00:00:00Z' --format=gnu \
  -C "$work/$1" -cf "$work/out/$1.tar.tmp" . && mv "$work/out/$1.tar.tmp" "$work/out/$1.tar"; }

pip_into() {
  local dir=$1; shift
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-compile \
    --only-binary=:all: --target "$dir" "$@" >&2
}
py=python/usr/local/lib/python3.11/site-packages
# Ranks 1-70 of PyPI's download ranking, less build tools (pip, setuptools, wheel) and litellm, aiobotocore, s3fs.
pip_into "$work/$py" \
  boto3 packaging urllib3 certifi idna requests typing-extensions charset-normalizer botocore cryptography \
  python-dateutil six pyyaml pydantic pygments cffi click numpy pluggy pycparser pydantic-core \
  grpcio-status anyio s3transfer attrs protobuf h11 pytest annotated-types iniconfig fsspec httpx httpcore \
  typing-inspection pandas markupsafe platformdirs python-dotenv pathspec pyjwt jinja2 rich jmespath \
  markdown-it-py aiohttp filelock importlib-metadata yarl starlette multidict jsonschema zipp uvicorn \
  propcache mdurl pyasn1 pytz google-auth googleapis-common-protos frozenlist fastapi rpds-py tqdm \
  flask werkzeug django gunicorn celery redis sqlalchemy psycopg2-binary paramiko oauthlib requests-oauthlib \
  authlib itsdangerous passlib bcrypt python-jose pymongo kombu django-environ djangorestframework
for venv in "django2 Django==2.2.28 djangorestframework==3.12.4" "django3 Django==3.2.25" "django4 Django==4.2.16" \
  "flask1 Flask==1.1.4 Werkzeug==1.0.1 Jinja2==2.11.3 itsdangerous==1.1.0 click==7.1.2" \
  "flask2 Flask==2.3.3 Werkzeug==2.3.8" "fastapi0 fastapi==0.68.2 starlette==0.14.2 pydantic==1.10.18" \
  "clients1 requests==2.25.1 urllib3==1.26.20 httpx==0.23.3 boto3==1.26.165 botocore==1.29.165"; do
  set -- $venv
  name=$1; shift
  pip_into "$work/python/opt/$name/lib/python3.11/site-packages" "$@"
done
tar_of python

export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
mkdir -p "$work/npm/app"
echo '{"name":"corpus","version":"1.0.0","private":true}' >"$work/npm/app/package.json"
# The top of the npm registry's monthly downloads (mostly small utilities, which npm pulls in anyway) and
# the server stack apps are built on.
(cd "$work/npm/app" && npm install --silent --ignore-scripts --no-package-lock \
  semver debug minimatch chalk commander glob uuid ajv ws js-yaml yargs iconv-lite \
  express axios lodash jsonwebtoken passport passport-jwt mongoose pg mysql2 redis dotenv nodemailer \
  @aws-sdk/client-s3 react webpack typescript googleapis stripe moment body-parser cors helmet bcryptjs \
  express-session cookie-parser socket.io >&2)
tar_of npm

mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/debs" "$work/ruby"
echo "deb ${STRATA_DEBIAN_MIRROR:-http://deb.debian.org/debian} bullseye main" >"$work/apt/sources.list"
apt=(apt-get -qq -o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache" -o Dir::State::status=/dev/null
  -o APT::Sandbox::User=root)
"${apt[@]}" update >&2
(cd "$work/debs" && "${apt[@]}" download ruby-rails ruby-actionpack ruby-activerecord ruby-activesupport \
  ruby-actionmailer ruby-activestorage ruby-railties ruby-devise ruby-omniauth ruby-oauth2 ruby-jwt \
  ruby-aws-sdk-core ruby-net-ssh ruby-faraday ruby-rack ruby-sinatra ruby-bcrypt ruby-mysql2 ruby-pg \
  ruby-redis ruby-sidekiq ruby-httparty rubygems-integration >&2)
for deb in "$work/debs"/*.deb; do dpkg-deb -x "$deb" "$work/ruby"; done
tar_of ruby

touch "$work/out/.done"
mv "$work/out" "$out"
