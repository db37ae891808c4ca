#!/usr/bin/env bash
# Install what cabos needs on a Debian machine; safe to run again (it skips what is there).
#   system: WeasyPrint's libraries and fonts, Debian's chromium (browser tests), poppler-utils
#   python: a .venv with cabos and its test extras
#   --tests (test.sh): also LibreOffice Calc without its GUI, which opens the CSV exports as a Spanish
#   spreadsheet does in a test (~90 MB, so ./run.sh does not fetch it)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-liberation2
          chromium poppler-utils)
TEST_PACKAGES=(libreoffice-calc-nogui)
PYTHON=${PYTHON:-python3}

install_missing() {  # install_missing [apt-get options] -- packages...
  local options=() missing=()
  while [ "$1" != "--" ]; do options+=("$1"); shift; done; shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing system packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${options[@]}" "${missing[@]}" >/dev/null
  fi
}
install_missing -- "${PACKAGES[@]}"
if [ "${1:-}" = "--tests" ]; then
  install_missing --no-install-recommends -- "${TEST_PACKAGES[@]}"
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: cabos needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version))" >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || { echo "setup: install python3-venv (apt-get install python3-venv)" >&2; exit 1; }
fi
stamp=.venv/.cabos-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing cabos and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import cabos.site, weasyprint" && touch "$stamp"
fi
