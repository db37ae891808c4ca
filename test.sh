#!/usr/bin/env bash
# Set up everything and run the whole test suite: on SQLite, then on PostgreSQL.
# PostgreSQL: uses CABOS_TEST_DATABASE_URL if set, else the local server on its
# Unix socket (started if installed and stopped). The SQLite pass ignores that variable, so an
# exported CABOS_TEST_DATABASE_URL (as .ci/run sets it) does not turn it into a second PostgreSQL
# pass. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --tests
echo "== tests on SQLite"
env -u CABOS_TEST_DATABASE_URL .venv/bin/python -m pytest "$@"
url=${CABOS_TEST_DATABASE_URL:-$(scripts/postgres.sh)}
if [ -n "$url" ]; then
  echo "== tests on PostgreSQL"
  CABOS_TEST_DATABASE_URL=$url .venv/bin/python -m pytest "$@"
else
  echo "== PostgreSQL not available: skipped the PostgreSQL run (set CABOS_TEST_DATABASE_URL)"
fi
