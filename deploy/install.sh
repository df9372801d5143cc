#!/usr/bin/env bash
# Installs dossierflow into a venv from a hash-pinned lock (deploy/lock.sh writes them):
#   bash deploy/install.sh VENV LOCK [pip options for the project, e.g. -e] PROJECT
# used by deploy/dev.sh (constraints.txt, editable), deploy/Dockerfile and the systemd guide
# (requirements-runtime.txt). Every package comes from LOCK and must match one of its
# sha256 hashes, wheels only: building an sdist would fetch its build tools unchecked. The
# project itself has no file to hash, so it is installed after, with no dependencies of its
# own to fetch, built by the locked setuptools (no build isolation).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: bash deploy/install.sh VENV LOCK [-e] PROJECT" >&2; exit 2; }
venv="$1" lock="$2"
shift 2
"$venv/bin/python" -m pip install --quiet --require-hashes --only-binary :all: -r "$lock"
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation "$@"
"$venv/bin/python" -m pip check >/dev/null  # the lock held every dependency the project declares
