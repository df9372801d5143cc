#!/usr/bin/env bash
# Installs Debian's `chromium` and `chromium-driver` (built from the same source, so their
# versions always match) and the Noto fonts that draw Vietnamese diacritics, for the browser
# test of the built-in dashboard (tests/test_dashboard_browser.py, driven by Selenium through
# /usr/bin/chromedriver: no browser is ever downloaded). Idempotent: does nothing when all three
# are present. Runs `apt-get update` once, only when something is missing.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ -d /usr/share/fonts/truetype/noto ] || missing+=(fonts-noto-core)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing ${missing[*]} and this is not a Debian/Ubuntu machine:" \
       "install Chromium, its chromedriver and a font with Vietnamese glyphs yourself" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 \
    || { echo "installing ${missing[*]} needs root or sudo" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for binary in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$binary" ] || { echo "apt-get ran but $binary is missing" >&2; exit 1; }
done
