#!/usr/bin/env bash
# The project's one entry point on a fresh clone:
#   bash deploy/dev.sh demo   run the product on its embedded defaults
#   bash deploy/dev.sh test   lint, type-check and run the whole test suite (installs
#                             Debian's prometheus package first if promtool is missing)
# Each first creates .venv and installs the project (and, for Kafka, its jars) as needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "dossierflow needs Python >= 3.11 ($python is older)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Re-install only when the project's metadata changed since the last install.
stamp=.venv/.dossierflow-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  touch "$stamp"
fi

command="${1:-}"
shift || true
case "$command" in
  demo)
    exec .venv/bin/dossierflow demo "$@"
    ;;
  test)
    bash deploy/install_prometheus.sh  # promtool and prometheus for the alert-rule tests
    .venv/bin/ruff check .
    .venv/bin/python deploy/typecheck.py
    exec .venv/bin/pytest -q -p no:cacheprovider "$@"
    ;;
  *)
    echo "usage: bash deploy/dev.sh demo|test [args...]" >&2
    exit 2
    ;;
esac
