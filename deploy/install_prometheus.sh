#!/usr/bin/env bash
# Installs Debian's `prometheus` package (prometheus and promtool), which the tests of the
# alert rules and the ops dashboard run. Idempotent: does nothing when promtool is on PATH.
# The package's service is not wanted here: the tests start their own Prometheus.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
bash "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh" prometheus
command -v promtool >/dev/null 2>&1 \
  || { echo "apt-get installed prometheus but promtool is not on PATH" >&2; exit 1; }
