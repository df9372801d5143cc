#!/usr/bin/env bash
# Installs Debian's `nginx` for the reverse-proxy test (tests/test_nginx_proxy.py), which
# starts its own nginx on free ports with deploy/nginx/dossierflow.conf. The package's
# service is kept from starting (a policy-rc.d for the time of the install), since no test
# wants an nginx on port 80. Idempotent: does nothing when /usr/sbin/nginx is present.
set -euo pipefail

[ -x /usr/sbin/nginx ] && exit 0
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ] && [ "$(id -u)" -eq 0 ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
fi
trap '[ -n "$made_policy" ] && rm -f "$policy"' EXIT
bash "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh" nginx
[ -x /usr/sbin/nginx ] || { echo "apt-get ran but /usr/sbin/nginx is missing" >&2; exit 1; }
