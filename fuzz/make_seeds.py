#!/usr/bin/env python3
"""Regenerates fuzz/seeds/<target>/ from real files: the repository's test fixtures and the cached ones
that scripts/fixtures.sh builds under /var/tmp/strata-fixtures (a debootstrapped Debian root, real rpm
databases, real Go and cargo-auditable binaries). Seeds are kept small (a few KiB to ~90 KiB each):
libFuzzer only needs the shapes. Run from the repository root: python3 fuzz/make_seeds.py"""
import io, json, os, shutil, sqlite3, struct, sys, tarfile, tempfile, zlib, gzip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "scanner/tests/fixtures")
CACHE = os.environ.get("STRATA_FIXTURES", "/var/tmp/strata-fixtures")
OUT = os.path.join(ROOT, "fuzz/seeds")
SERVICES = os.path.join(ROOT, "fuzz/services/seeds")

def seed(target, name, data):
    services = target in ("www_authenticate", "coordinator_requests")
    d = os.path.join(SERVICES if services else OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def read(*p):
    with open(os.path.join(*p), "rb") as f:
        return f.read()

def stanzas(data, limit):
    out = b""
    for s in data.split(b"\n\n"):
        if len(out) + len(s) > limit:
            break
        out += s + b"\n\n"
    return out

shutil.rmtree(OUT, ignore_errors=True)
shutil.rmtree(SERVICES, ignore_errors=True)

status = read(FIX, "dpkg/bullseye-minbase.status")
seed("dpkg", "bullseye-minbase-head", stanzas(status, 12000))
seed("dpkg", "libssl", b"Package: libssl1.1\nStatus: install ok installed\nSource: openssl\nVersion: 1.1.1k-1+deb11u1\n\n")

seed("apk", "installed", b"C:Q1Ns2dzbDvBUfVfVqzKQsdNvzTwU0=\nP:musl\nV:1.2.3-r4\nA:x86_64\nS:383152\nI:622592\n"
     b"T:the musl c library (libc) implementation\nU:https://musl.libc.org/\nL:MIT\no:musl\n"
     b"m:Timo Ter\xc3\xa4s <timo.teras@iki.fi>\nt:1681228881\nc:f93af038c3de7146121c2ea8124ba5ce29b4b058\n\n"
     b"C:Q1C4ZvqMd7kSKqBIYt6wc3l9ymtiQ=\nP:libcrypto3\nV:3.0.8-r0\nA:x86_64\nS:1710145\nI:4206592\n"
     b"T:Crypto library from openssl\nU:https://www.openssl.org/\nL:Apache-2.0\no:openssl\n"
     b"D:so:libc.musl-x86_64.so.1\np:so:libcrypto.so.3=3\n\n")

# rpm: a real rpmdb.sqlite cut to three packages, its header blobs, and the real Berkeley DB file.
sqlite_src = os.path.join(CACHE, "java-rpm-v1/rpmroot/var/lib/rpm/rpmdb.sqlite")
with tempfile.TemporaryDirectory() as tmp:
    db = os.path.join(tmp, "rpmdb.sqlite")
    shutil.copy(sqlite_src, db)
    conn = sqlite3.connect(db)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for t in tables:
        if t not in ("Packages", "sqlite_sequence"):
            conn.execute(f'DROP TABLE "{t}"')
    conn.execute("DELETE FROM Packages WHERE hnum NOT IN (SELECT hnum FROM Packages ORDER BY length(blob) LIMIT 3)")
    conn.commit()
    blobs = [r[0] for r in conn.execute("SELECT blob FROM Packages ORDER BY hnum")]
    conn.execute("VACUUM")
    conn.close()
    seed("rpm_sqlite", "three-packages", read(db))
for i, b in enumerate(blobs):
    seed("rpm_header", f"header-{i}", b)
seed("rpm_bdb", "Packages", read(CACHE, "java-rpm-v1/bdb/var/lib/rpm/Packages"))

for name in ["package-lock-v1.json", "package-lock-v2.json", "package-lock-v3.json"]:
    seed("npm_lock", name, read(FIX, "npm", name))
for name in ["yarn-v1.lock", "yarn-berry.lock"]:
    seed("yarn_lock", name, read(FIX, "npm", name))
for name in ["pnpm-lock-v6.yaml", "pnpm-lock-v9.yaml"]:
    seed("pnpm_lock", name, read(FIX, "npm", name))
seed("npm_package_json", "package.json", read(FIX, "npm/package.json"))
for name in ["Jinja2-2.10.METADATA", "MarkupSafe-3.0.4.METADATA", "six-1.16.0.PKG-INFO", "PyYAML-5.3.1.METADATA"]:
    seed("python_metadata", name, read(FIX, "python", name))
seed("poetry_lock", "poetry.lock", read(FIX, "python/poetry.lock"))
seed("uv_lock", "uv.lock", read(FIX, "python/uv.lock"))
seed("pipfile_lock", "Pipfile.lock", read(FIX, "python/Pipfile.lock"))
seed("requirements", "requirements.txt", read(FIX, "python/requirements.txt"))
for name in ["cgi-0.3.5.gemspec", "rack-2.1.4.gemspec", "sinatra-2.0.8.1.gemspec"]:
    seed("gemspec", name, read(FIX, "ruby", name))
seed("gemfile_lock", "Gemfile.lock", read(FIX, "ruby/Gemfile.lock"))
seed("cargo_lock", "rustapp", read(FIX, "binary/rustapp/Cargo.lock"))
for name in ["hamcrest-integration-1.3.1-SNAPSHOT.jar", "slf4j-api.jar", "not-a-zip.jar"]:
    seed("jar", name, read(FIX, "java", name))

def elf(sections):
    """A minimal ELF64 executable with these (name, type, data) sections and the tables at the end."""
    names = b"\0" + b"".join(n + b"\0" for n, _, _ in sections) + b".shstrtab\0"
    body, heads, off, name_at = b"", [], 64, 1
    for n, kind, data in sections:
        heads.append((name_at, kind, off, len(data)))
        body += data
        off += len(data)
        name_at += len(n) + 1
    heads.append((name_at, 3, off, len(names)))
    body += names
    shoff = (64 + len(body) + 7) // 8 * 8
    out = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    out += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64, len(heads) + 1, len(heads))
    out += body
    out += b"\0" * (shoff - len(out))
    out += b"\0" * 64
    for name, kind, o, size in heads:
        out += struct.pack("<IIQQQQIIQQ", name, kind, 0, 0, o, size, 0, 0, 1, 0)
    return out

auditable = zlib.compress(read(CACHE, "binaries/rustapp.json"))
seed("binary", "auditable-elf", elf([(b".dep-v0", 1, auditable)]))
seed("binary", "goapp-head", read(CACHE, "binaries/goapp")[:48 * 1024])
modinfo = read(CACHE, "binaries/goapp.modinfo")
def varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out
blob = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16
blob += varint(8) + b"go1.22.1" + varint(len(modinfo)) + modinfo
seed("binary", "go-buildinfo-elf", elf([(b".go.buildinfo", 1, blob)]))

seed("secrets", "env", b"# service settings\nDATABASE_URL=postgres://app:hunter2@db:5432/app\n"
     b"aws_access_key_id=AKIAIOSFODNN7EXAMPLF\naws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ\n"
     b"github_token=ghp_R7b2Xk9LmQ4sT1vW8yZ3aC6dF0gH5jK2nP4q\n"
     b"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c2V0dGluZ3MgZm9yIGEgZnV6eiBzZWVk\n-----END RSA PRIVATE KEY-----\n"
     b"slack=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx\n")

seed("graph", "diamond", bytes([5, 0, 1, 0, 2, 1, 3, 2, 3, 3, 4, 4, 1]))
seed("graph", "cycle", bytes([3, 0, 1, 1, 2, 2, 0, 0x80, 0x80]))

config = {"created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
          "config": {"User": "app", "Env": ["PATH=/usr/bin"], "Cmd": ["/app"]},
          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]},
          "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD rootfs /"}]}
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "b" * 64, "size": 321},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "c" * 64, "size": 1234}]}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "d" * 64, "size": 500,
                        "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                       {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "e" * 64, "size": 500,
                        "platform": {"os": "unknown", "architecture": "unknown"}}]}
for name, doc in [("config", config), ("manifest", manifest), ("index", index)]:
    seed("image_json", name, json.dumps(doc).encode())

for i, h in enumerate([
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
        'Basic realm="Registry Realm"',
        'Negotiate, Bearer realm="http://127.0.0.1:5001/token", service=registry , error="invalid_token"']):
    seed("www_authenticate", f"challenge-{i}", h.encode())

envelope = {"events": [{"id": "3a1b", "timestamp": "2024-01-01T00:00:00Z", "action": "push",
                        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1234,
                                   "digest": "sha256:" + "f" * 64, "repository": "library/app", "tag": "1.0"},
                        "request": {"id": "r1", "host": "registry.example:5000", "method": "PUT"}}]}
scan = {"registry": {"url": "https://harbor.example", "authorization": "Basic cm9ib3Q6c2VjcmV0"},
        "artifact": {"repository": "library/app", "digest": "sha256:" + "f" * 64, "tag": "1.0",
                     "mime_type": "application/vnd.oci.image.manifest.v1+json"}}
accept = b"application/vnd.security.vulnerability.report; version=1.1"
seed("coordinator_requests", "envelope", accept + b"\xff" + json.dumps(envelope).encode())
seed("coordinator_requests", "harbor-scan", b"Bearer s3cret-token\xff" + json.dumps(scan).encode())

# layer: small real layers, tar and gzip, with one file of each kind the walk hands to an analyser.
def layer(files, compress):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.startswith("usr/local/bin") else 0o644
            t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("var/lib/dpkg/status.link")
        link.type = tarfile.LNKTYPE
        link.linkname = "var/lib/dpkg/status"
        t.addfile(link)
        wh = tarfile.TarInfo("opt/.wh.old")
        t.addfile(wh)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw
os_release = b'ID=debian\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\n'
seed("layer", "debian.tar", layer([("etc/os-release", os_release), ("var/lib/dpkg/status", stanzas(status, 3000))], False))
seed("layer", "apps.tar.gz", layer([("etc/os-release", os_release), ("app/package-lock.json", read(FIX, "npm/package-lock-v1.json")[:4000]),
                                     ("app/Gemfile.lock", read(FIX, "ruby/Gemfile.lock")),
                                     ("app/.env", b"github_token=ghp_R7b2Xk9LmQ4sT1vW8yZ3aC6dF0gH5jK2nP4q\n")], True))

total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
print(f"seeds: {total // 1024} KiB in {OUT}", file=sys.stderr)
