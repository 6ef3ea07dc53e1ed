#!/usr/bin/env bash
# Real Java archives and a real rpm database for the java/rpm analysers' tests, cached in $1/java-rpm-v1:
#   jars/            Debian bookworm's jars (`apt-get download` + `dpkg-deb -x`), an app.war holding two of
#                    them under WEB-INF/lib, an app.ear holding that war (nesting depth 2)
#   bad/             not-a-zip.jar (text) and bomb.jar (a nested jar that inflates to 300 MiB of zeros)
#   rpmroot/         a root whose var/lib/rpm/rpmdb.sqlite rpm 4.18 wrote while installing (`--justdb`)
#                    tiny packages built here with rpmbuild; Packages: the same headers in a Berkeley DB
#                    hash file written by libdb's own db_load (rpm ≥ 4.17 can no longer write one)
#   oracle-rpm.txt, oracle-rpm-bdb.txt, oracle-java.txt: what rpm -qa and unzip say, for the tests
set -euo pipefail
out="$1/java-rpm-v1"
[ -s "$out/oracle-java.txt" ] && exit 0
need=()
command -v rpmbuild >/dev/null || need+=(rpm)
command -v db5.3_load >/dev/null || need+=(db5.3-util)
command -v unzip >/dev/null || need+=(unzip)
command -v zip >/dev/null || need+=(zip)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
work=$(mktemp -d "$1/java-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out/jars" "$work/out/bad" "$work/debs"

echo "fixtures: java archives from Debian bookworm" >&2
debs=(liblog4j2-java libcommons-text-java libcommons-lang3-java libslf4j-java libxz-java libhamcrest-java libjsch-java)
# A machine whose apt lists are empty (fresh image) needs one `apt-get update` first.
(cd "$work/debs" && { apt-get download -q "${debs[@]}" >/dev/null 2>&1 ||
  { apt-get update -q >/dev/null && apt-get download -q "${debs[@]}" >/dev/null; }; })
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
for jar in log4j-core.jar log4j-api.jar commons-text.jar commons-lang3.jar slf4j-api.jar xz-1.9.jar \
           hamcrest-2.2.jar hamcrest-integration-1.3.1-SNAPSHOT.jar jsch-0.1.54.jar; do
  cp "$work/x/usr/share/java/$jar" "$work/out/jars/"
done
mkdir -p "$work/war/WEB-INF/lib" "$work/ear"
cp "$work/x/usr/share/java/log4j-core.jar" "$work/x/usr/share/java/commons-text.jar" "$work/war/WEB-INF/lib/"
(cd "$work/war" && TZ=UTC zip -q -X -r "$work/out/jars/app.war" WEB-INF)
cp "$work/out/jars/app.war" "$work/ear/"
(cd "$work/ear" && TZ=UTC zip -q -X -r "$work/out/jars/app.ear" app.war)

printf 'this is not a zip archive\n' >"$work/out/bad/not-a-zip.jar"
python3 - "$work/out/bad/bomb.jar" "$work/x/usr/share/java/slf4j-api.jar" <<'PY'
import sys, zipfile
bomb, real = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(real, "META-INF/lib/slf4j-api.jar")
    with z.open("META-INF/lib/zeros.jar", "w", force_zip64=True) as inner:
        block = bytes(1 << 20)
        for _ in range(300):
            inner.write(block)
PY

# The oracle: one line per pom.properties, the way unzip reads it, for every archive, nested ones too.
python3 - "$work/out/jars" >"$work/out/oracle-java.txt" <<'PY'
import io, os, sys, zipfile
def walk(name, data, depth):
    z = zipfile.ZipFile(io.BytesIO(data))
    for entry in z.namelist():
        if entry.startswith("META-INF/maven/") and entry.endswith("/pom.properties"):
            props = dict(l.split("=", 1) for l in z.read(entry).decode().splitlines() if "=" in l and not l.startswith("#"))
            print(f"{name} {props['groupId'].strip()}:{props['artifactId'].strip()} {props['version'].strip()}")
        elif entry.endswith((".jar", ".war", ".ear")) and depth < 3:
            walk(name, z.read(entry), depth + 1)
root = sys.argv[1]
for f in sorted(os.listdir(root)):
    walk(f, open(os.path.join(root, f), "rb").read(), 0)
PY

echo "fixtures: rpm database from rpmbuild-built packages" >&2
top="$work/rpmbuild"
mkdir -p "$top/SPECS"
cat >"$top/SPECS/strata-fixture.spec" <<'SPEC'
Name:           strata-fixture
Epoch:          2
Version:        1.4.0~rc2
Release:        3.el9
Summary:        Strata test package (main)
License:        Apache-2.0
BuildArch:      x86_64
%description
Built by Strata's fixtures script to exercise rpm database readers.
%package data
Summary:        Strata test package with a file list large enough to overflow a Berkeley DB page
BuildArch:      noarch
%description data
Many files, so that the header is several pages long.
%install
mkdir -p %{buildroot}/usr/share/strata-fixture
for i in $(seq 1 400); do echo $i >%{buildroot}/usr/share/strata-fixture/file-with-a-long-name-number-$i.txt; done
mkdir -p %{buildroot}/usr/bin && printf '#!/bin/sh\n' >%{buildroot}/usr/bin/strata-fixture
%files
/usr/bin/strata-fixture
%files data
/usr/share/strata-fixture
SPEC
cat >"$top/SPECS/strata-other.spec" <<'SPEC'
Name:           strata-other
Version:        0.9^20240101git1a2b3c
Release:        1
Summary:        Strata test package without an epoch
License:        Apache-2.0
BuildArch:      noarch
%description
Built by Strata's fixtures script.
%files
SPEC
for spec in "$top"/SPECS/*.spec; do
  rpmbuild -bb --quiet --define "_topdir $top" --define '_binary_payload w2.xzdio' "$spec" >/dev/null 2>&1 || {
    rpmbuild -bb --define "_topdir $top" "$spec" >&2; exit 1; }
done
mkdir -p "$work/out/rpmroot/var/lib/rpm"
rpm --root "$work/out/rpmroot" --dbpath /var/lib/rpm --initdb
rpm --root "$work/out/rpmroot" --dbpath /var/lib/rpm -i --nodeps --justdb --noscripts --ignorearch --ignoreos \
    $(find "$top/RPMS" -name '*.rpm' | sort)
rm -f "$work/out/rpmroot/var/lib/rpm/"*-{shm,wal} "$work/out/rpmroot/var/lib/rpm/.rpm.lock"
qf='%{NAME} %{EPOCH}:%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}\n'
rpm --root "$work/out/rpmroot" --dbpath /var/lib/rpm -qa --qf "$qf" | sort >"$work/out/oracle-rpm.txt"

# The same headers in a Berkeley DB hash file, keyed by rpm's header number (native-endian uint32), with
# rpm's key-0 record; db_load -T reads `\xx` hex escapes.
python3 - "$work/out/rpmroot/var/lib/rpm/rpmdb.sqlite" >"$work/packages.txt" <<'PY'
import sqlite3, struct, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
esc = lambda b: "".join(f"\\{x:02x}" for x in b)
print(esc(struct.pack("<I", 0))); print(esc(struct.pack("<I", max(h for h, _ in rows) + 1)))
for hnum, blob in rows:
    print(esc(struct.pack("<I", hnum))); print(esc(blob))
PY
mkdir -p "$work/out/bdb/var/lib/rpm"
db5.3_load -T -t hash -c db_pagesize=4096 -f "$work/packages.txt" "$work/out/bdb/var/lib/rpm/Packages"
rpm --dbpath "$work/out/bdb/var/lib/rpm" --define '_db_backend bdb_ro' -qa --qf "$qf" 2>/dev/null \
  | sort >"$work/out/oracle-rpm-bdb.txt"
cmp "$work/out/oracle-rpm.txt" "$work/out/oracle-rpm-bdb.txt" >&2
rm -rf "$out" && mv "$work/out" "$out"
