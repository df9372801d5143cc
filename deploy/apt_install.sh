#!/usr/bin/env bash
# Installs Debian packages for the test run: `bash deploy/apt_install.sh PACKAGE...`.
# As root, or through sudo; runs `apt-get update` once before installing; no recommends.
# The install_*.sh scripts call it only when what they need is missing.
set -euo pipefail

if ! command -v apt-get >/dev/null 2>&1; then
  echo "$* missing and this is not a Debian/Ubuntu machine: install them yourself" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 \
    || { echo "installing $* needs root or sudo" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
