#!/usr/bin/env bash
# Set up everything and serve the demo site on SQLite at http://127.0.0.1:5000/
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
.venv/bin/cabos db upgrade
# First run: six months of simulated history, so the staff pages and the dashboard have
# something to show (prints the admin password once). Later runs keep the data as it is.
.venv/bin/cabos demo --if-empty
echo "Staff pages: http://${HOST:-127.0.0.1}:${PORT:-5000}/staff/ — sign in as admin@example.com with the password"
echo "the demo printed on the first run. Lost it? .venv/bin/cabos users reset-password admin@example.com (asks for a new one)."
exec .venv/bin/cabos serve --dev --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
