#!/usr/bin/env bash
# Makes sure a Python with the stock NATS client (nats-py, from PyPI) is available for the
# example agent's test, in a project-local virtual environment, and prints its path.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests run in parallel: one installer at a time.
mkdir -p .tools
exec 9>.tools/install.lock
flock 9
venv=".tools/python"
py="$venv/bin/python"
if [ ! -x "$py" ] || ! "$py" -c "import nats" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "nats-py==2.*" >&2
fi
echo "$PWD/$py"
