#!/usr/bin/env bash
# Set up everything and serve the demo site on SQLite at http://127.0.0.1:5000/
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
.venv/bin/cabos db upgrade
exec .venv/bin/cabos serve --dev --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
