#!/usr/bin/env bash
# The project's one entry point on a fresh clone:
#   bash deploy/dev.sh demo   the whole product live on four simulated weeks (Ctrl-C stops it)
#   bash deploy/dev.sh test   audit the lock (a known vulnerability fails; NOT AUDITED warns,
#                             or fails with DOSSIERFLOW_AUDIT=required), lint, type-check and run
#                             the whole test suite (installs Debian's prometheus, chromium,
#                             chromium-driver and nginx packages first if they are missing)
#   bash deploy/dev.sh install   only create .venv and install (then: source .venv/bin/activate)
#   bash deploy/dev.sh audit  the locked packages against a vulnerability database (pip-audit;
#                             deploy/audit.py: exit 1 on a known one, 2 when it could not ask)
# Each first creates .venv and installs the project (and, for Kafka, its jars) as needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "dossierflow needs Python >= 3.11 ($python is older)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "dev.sh: creating the virtual environment .venv ($("$python" --version)) …"
  "$python" -m venv .venv
fi
# Installs take the exact versions and files (sha256) of constraints.txt (regenerate it with
# deploy/lock.sh). Re-install only when the project's metadata or the lock changed since the
# last install: the stamp holds their digest (content, not file times, which a checkout resets).
stamp=.venv/.dossierflow-installed
wanted="$(cat pyproject.toml constraints.txt | "$python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "dev.sh: installing dossierflow into .venv (a first run, or pyproject.toml or" \
    "constraints.txt changed; a minute or two) …"
  bash deploy/install.sh .venv constraints.txt -e .
  echo "$wanted" > "$stamp"
fi

command="${1:-}"
shift || true
case "$command" in
  install)
    echo "installed in .venv (hash-pinned by constraints.txt); run: source .venv/bin/activate"
    ;;
  demo)
    exec .venv/bin/dossierflow demo "$@"
    ;;
  audit)
    exec .venv/bin/python deploy/audit.py "$@"
    ;;
  test)
    # The supply-chain audit first (a second or so): a known vulnerability fails the run. When
    # no vulnerability database answers (this sandbox reaches none), it says NOT AUDITED
    # loudly; that fails the run too where DOSSIERFLOW_AUDIT=required (a CI with a database
    # or a mirror: give its options in DOSSIERFLOW_AUDIT_OPTIONS), and is a warning elsewhere.
    audit=0
    # shellcheck disable=SC2086  # the options are words
    .venv/bin/python deploy/audit.py ${DOSSIERFLOW_AUDIT_OPTIONS:-} || audit=$?
    if [ "$audit" = 1 ] || { [ "$audit" != 0 ] && [ "${DOSSIERFLOW_AUDIT:-warn}" = required ]; }; then
      exit "$audit"
    elif [ "$audit" != 0 ]; then
      echo "dev.sh test: WARNING: the locked packages were NOT AUDITED for known vulnerabilities" \
        "(no database answered); set DOSSIERFLOW_AUDIT=required to make this fail" >&2
    fi
    bash deploy/install_prometheus.sh  # promtool and prometheus for the alert-rule tests
    bash deploy/install_chromium.sh    # Chromium and chromedriver for the dashboard's browser test
    bash deploy/install_nginx.sh       # nginx for the reverse-proxy test (deploy/nginx/)
    .venv/bin/ruff check .
    .venv/bin/python deploy/typecheck.py
    exec .venv/bin/pytest -q -p no:cacheprovider "$@"
    ;;
  *)
    echo "usage: bash deploy/dev.sh install|demo|test|audit [args...]" >&2
    exit 2
    ;;
esac
