#!/usr/bin/env bash
# Regenerates the two hash-pinned locks from pyproject.toml with pip-compile (pip-tools):
#   constraints.txt            every package `.[test]` installs, the build backend (setuptools)
#                              and pip itself: deploy/dev.sh, and so CI, install exactly these
#   requirements-runtime.txt   the same versions, only what the product needs at run time:
#                              the image (deploy/Dockerfile) and the systemd guide install these
# Each pin carries the sha256 of every file PyPI holds for that version (all platforms), so
# `pip install --require-hashes` refuses any file that differs from the one locked here.
#   bash deploy/lock.sh            keeps the current pins, adds what pyproject.toml added
#   bash deploy/lock.sh --upgrade  the newest versions pyproject.toml's ranges allow
# Then review `git diff constraints.txt`, run `bash deploy/dev.sh test`, commit both files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
pip_tools="pip-tools==7.7.0"  # the locking tool only; nothing it installs is shipped
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
"$python" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet "$pip_tools"
export CUSTOM_COMPILE_COMMAND="bash deploy/lock.sh"  # the header pip-compile writes
compile=(
  "$scratch/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras
  --no-emit-index-url --no-emit-find-links "$@"
)
# deploy/bootstrap.in adds pip and the build backend (setuptools), hash-checked like the rest.
"${compile[@]}" --extra test --output-file constraints.txt pyproject.toml deploy/bootstrap.in
"${compile[@]}" --constraint constraints.txt --output-file requirements-runtime.txt \
  pyproject.toml deploy/bootstrap.in
echo "constraints.txt: $(grep -c '==' constraints.txt) packages," \
  "requirements-runtime.txt: $(grep -c '==' requirements-runtime.txt), all with hashes"
