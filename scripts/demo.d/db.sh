# Sourced by scripts/demo.sh: picks the demo's vulnerability data and builds its DB into $db.
# Order: STRATA_DEMO_DB as given; osv.dev (unless --offline; a download younger than a day is reused);
# ../shared/vulndb beside the checkout; the OSV subset this repository ships, testkit/fixtures/osv (real
# Debian, npm and PyPI advisories for exactly what the demo image holds; see its README.md).
# Each place looked at is said, with why it was not used.

pick_db() {
  mkdir -p "$work/db"
  local looked=() shared="$root/../shared/vulndb" subset="$root/testkit/fixtures/osv"
  if [ -n "${STRATA_DEMO_DB:-}" ]; then
    db=$STRATA_DEMO_DB
    say "vulnerability DB: $db (STRATA_DEMO_DB)"
    return
  fi
  if $offline; then
    looked+=("osv.dev: not tried (--offline)")
  else
    db="$work/db/osv.dev.db"
    if [ -n "$(find "$db" -mmin -1440 2>/dev/null)" ]; then
      say "vulnerability DB: $db, downloaded from osv.dev less than a day ago (Debian, npm, PyPI)"
      return
    fi
    say "downloading Debian, npm and PyPI advisories from osv.dev …"
    if "$strata" db update --ecosystems Debian,npm,PyPI --out "$db" 2>"$work/db/update.log"; then
      say "vulnerability DB: $db, built from osv.dev's current data (Debian, npm, PyPI)"
      return
    fi
    looked+=("osv.dev: not reachable from here (why: $work/db/update.log)")
  fi
  if [ -d "$shared" ]; then
    shared=$(cd "$shared" && pwd)
    db="$work/db/shared-vulndb.db"
    if [ ! -s "$db" ] || [ -n "$(find "$shared" -newer "$db" -type f | head -1)" ]; then
      "$strata" db build --osv "$shared" --out "$db" >/dev/null
    fi
    say "looked at: ${looked[*]}"
    say "vulnerability DB: $db, built from $shared (the project's full OSV files beside this checkout)"
    return
  fi
  looked+=("$(cd "$root/.." && pwd)/shared/vulndb: not there")
  db="$work/db/repo-subset.db"
  "$strata" db build --osv "$subset" --out "$db" >/dev/null
  say "looked at: $(IFS=';'; echo "${looked[*]}" | sed 's/;/; /g')"
  say "vulnerability DB: $db, built from the OSV subset this repository ships ($subset: real advisories" \
      "for the demo image's packages only; a real scan wants \`strata db update\`)"
}
