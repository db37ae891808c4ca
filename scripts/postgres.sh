#!/usr/bin/env bash
# Print a URL for a local PostgreSQL the tests may use, starting the Debian cluster
# if it is installed and stopped. Prints nothing when there is none.
set -uo pipefail
command -v pg_lsclusters >/dev/null || exit 0
read -r version cluster _ status _ < <(pg_lsclusters -h | head -1) || exit 0
[ -n "${version:-}" ] || exit 0
if [ "$status" != "online" ]; then
  pg_ctlcluster "$version" "$cluster" start >&2 || exit 0
fi
me=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$me'\"" | grep -q 1 \
    || su postgres -c "createuser --superuser $me" >&2
fi
psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='cabos_test'" | grep -q 1 \
  || createdb cabos_test >&2 || exit 0
echo "postgresql+psycopg:///cabos_test?host=/var/run/postgresql"
