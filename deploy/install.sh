#!/usr/bin/env bash
# Installs dossierflow into a venv from a hash-pinned lock (deploy/lock.sh writes them):
#   bash deploy/install.sh VENV LOCK [pip options for the project, e.g. -e] PROJECT
# used by deploy/dev.sh (constraints.txt, editable), deploy/Dockerfile and the systemd guide
# (requirements-runtime.txt). Every package comes from LOCK and must match one of its
# sha256 hashes, wheels only: building an sdist would fetch its build tools unchecked. The
# project itself has no file to hash, so it is installed after, with no dependencies of its
# own to fetch, built by the locked setuptools (no build isolation).
# It says each step on one line. On a terminal, the first step (the long one: a minute or two
# on a first install) shows pip's own progress too, its downloads and a bar of the packages
# installed; elsewhere (CI, docker build, a log) pip is quiet and the step lines are the
# progress.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: bash deploy/install.sh VENV LOCK [-e] PROJECT" >&2; exit 2; }
venv="$1" lock="$2"
shift 2
quiet=--quiet
[ -t 1 ] && quiet=
step() { echo "install.sh: [$1/3] $2" ; }
started=$SECONDS
packages=$(grep -c '^[A-Za-z0-9]' "$lock" || true)
step 1 "the packages pinned by $lock ($packages, wheels checked against its sha256) …"
# --no-deps: the lock lists every package (step 3 checks it held them all), so pip need not
# resolve the packages' own requirements; resolving them, pip took pip-audit's
# `CacheControl[filecache]>=0.13.0` for a requirement of its own once the index served a newer
# CacheControl than the pin, and refused it as unpinned (pip-compile's --strip-extras).
# shellcheck disable=SC2086  # $quiet is a word or nothing
"$venv/bin/python" -m pip install $quiet --require-hashes --no-deps --only-binary :all: -r "$lock"
step 2 "the project ($*), no dependencies of its own, built by the locked setuptools …"
# setuptools prints a "BuildBackendWarning: Editable installation" for every editable install,
# saying a folder named like the package in the working directory would shadow it; the
# project has no top-level folder named `dossierflow` (pyproject.toml maps its folders into the
# package), so the warning is noise and filtered by its message.
PYTHONWARNINGS="ignore:Editable installation" \
  "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation "$@"
step 3 "pip check: the lock held every dependency the project declares …"
"$venv/bin/python" -m pip check >/dev/null
echo "install.sh: done in $((SECONDS - started)) s"
