#!/usr/bin/env bash
# Installs Debian's `chromium` and `chromium-driver` (built from the same source, so their
# versions always match) and the Noto fonts that draw Vietnamese diacritics, for the browser
# test of the built-in dashboard (tests/test_dashboard_browser.py, driven by Selenium through
# /usr/bin/chromedriver: no browser is ever downloaded). Idempotent: does nothing when all
# three are present.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ -d /usr/share/fonts/truetype/noto ] || missing+=(fonts-noto-core)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
bash "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh" "${missing[@]}"
for binary in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$binary" ] || { echo "apt-get ran but $binary is missing" >&2; exit 1; }
done
