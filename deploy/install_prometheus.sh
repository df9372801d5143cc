#!/usr/bin/env bash
# Installs Debian's `prometheus` package (prometheus and promtool), which the tests of the
# alert rules and the ops dashboard run. Idempotent: does nothing when promtool is on PATH.
# The package's service is not wanted here: the tests start their own Prometheus.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool is missing and this is not a Debian/Ubuntu machine:" \
       "install Prometheus (prometheus and promtool) yourself" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 \
    || { echo "installing prometheus needs root or sudo" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null 2>&1 \
  || { echo "apt-get installed prometheus but promtool is not on PATH" >&2; exit 1; }
