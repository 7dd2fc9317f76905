#!/usr/bin/env bash
# Makes sure Debian's Chromium and ChromeDriver are installed for the dashboard's browser test,
# and prints their paths (browser, then driver), one per line. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools
# Tests run in parallel: one installer at a time.
exec 9>.tools/chromium.lock
flock 9
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if ! command -v apt-get >/dev/null; then
    echo "the dashboard test needs chromium and chromedriver on PATH, and this is not a Debian" \
         "system the script can install them on: install both and run the tests again" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
fi
chromium --version >&2
command -v chromium
command -v chromedriver
