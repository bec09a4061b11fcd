# Source me: installs the system packages the tests need (when missing) and makes sure a
# PostgreSQL server answers, then exports DATABASE_URL. Idempotent and quiet when all is ready.
# Used by scripts/test.sh (the README's test command) and .ci/run.

# shellcheck source=scripts/setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

idb_need_packages() {
  # Build packages, plus the test peers: xmlsec1 (SAML fixtures), slapd and ldap-utils (LDAP tests),
  # chromium (the HTML report opened headless, tests/reports_html.rs).
  idb_install "${IDB_BUILD_PACKAGES[@]}" xmlsec1 slapd ldap-utils openssl chromium
}

idb_pg_ok() { pg_isready -q -h 127.0.0.1 -p "$1" 2>/dev/null && psql "postgres://postgres@127.0.0.1:$1/postgres" -qAtc 'select 1' >/dev/null 2>&1; }

idb_ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    return 0
  fi
  if ! idb_pg_ok 5432; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
    if [ -n "$version" ]; then
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
      for _ in $(seq 1 50); do idb_pg_ok 5432 && break; sleep 0.2; done
    fi
  fi
  if idb_pg_ok 5432; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    return 0
  fi
  # The machine's server is absent or refuses us: start a throwaway trust-auth cluster.
  local bin dir port=5433
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$bin" ]; then
    echo "env: no PostgreSQL installation found; PostgreSQL store tests will fail" >&2
    return 1
  fi
  dir=$(mktemp -d /tmp/idbridge-pg.XXXXXX)
  chown postgres "$dir"
  runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "env: started a throwaway PostgreSQL on port $port ($dir)" >&2
}

idb_need_packages
idb_ensure_postgres
