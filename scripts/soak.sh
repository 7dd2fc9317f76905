#!/usr/bin/env bash
# Soak: `arbiter serve` at a sustained rate for a long time, sampling what grows. A fresh
# nats-server (JetStream in a temporary directory, free loopback port) and arbiter, then
# `arbiter loadgen` with proposals that live `LIFETIME_S` (24 h by default, the contract's
# longest), and every `EVERY_S` seconds one line: elapsed seconds, arbiter RSS (MB), NATS
# store (MB), audit trail (MB).
# Usage: scripts/soak.sh [seconds] [rate]   e.g. scripts/soak.sh 1800 3000
# SERVE_BIN=path/to/arbiter serves with another build (the one before a change, say; the load
# generator is always this checkout's); SERVE_FLAGS
# passes extra `arbiter serve` flags. At the end the arbiter is restarted on the trail it
# wrote and the time until it is ready is printed, then one proposal's story is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
rate="${2:-3000}"
every="${EVERY_S:-30}"
lifetime="${LIFETIME_S:-86400}"
nats_server="$(scripts/ensure-nats-server.sh 2>/dev/null)"
cargo build --release --quiet
BIN=target/release/arbiter
SERVE_BIN="${SERVE_BIN:-$BIN}"
work="$(mktemp -d)"
cleanup() { kill "${arbiter_pid:-}" "${nats_pid:-}" "${loadgen_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mb() { du -sm "$1" 2>/dev/null | cut -f1; }
rss_mb() { awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
port="$(free_port)"
"$nats_server" -a 127.0.0.1 -p "$port" -js -sd "$work/js" >"$work/nats.log" 2>&1 &
nats_pid=$!
sleep 0.5
serve() {
  # shellcheck disable=SC2086
  ARBITER_LOG=warn "$SERVE_BIN" serve --nats "nats://127.0.0.1:$port" \
    --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml \
    --intents intents --audit "$work/audit.jsonl" --http 127.0.0.1:0 ${SERVE_FLAGS:-} >"$work/serve.log" 2>&1 &
  arbiter_pid=$!
}
serve
until grep -q '^ready' "$work/serve.log"; do sleep 0.1; done
"$BIN" loadgen --nats "nats://127.0.0.1:$port" --rate "$rate" --duration-s "$seconds" \
  --lifetime-s "$lifetime" --no-floor \
  --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml \
  --intents intents >"$work/loadgen.log" 2>&1 &
loadgen_pid=$!
start=$(date +%s)
echo "seconds rss_mb nats_store_mb trail_mb"
while kill -0 "$loadgen_pid" 2>/dev/null; do
  echo "$(( $(date +%s) - start )) $(rss_mb "$arbiter_pid") $(mb "$work/js") $(mb "$work/audit.jsonl")"
  sleep "$every"
done
wait "$loadgen_pid" || true
echo "$(( $(date +%s) - start )) $(rss_mb "$arbiter_pid") $(mb "$work/js") $(mb "$work/audit.jsonl")"
tail -n 4 "$work/loadgen.log"
kill "$arbiter_pid"; wait "$arbiter_pid" 2>/dev/null || true
t0=$(date +%s.%N)
serve
until grep -q '^ready' "$work/serve.log"; do sleep 0.05; done
echo "restart on the trail: ready in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')") s"
id="$(head -c 4000000 "$work/audit.jsonl" | grep -o '"proposal_id":"[^"]*"' | sed -n '1000p' | cut -d'"' -f4)"
t0=$(date +%s.%N)
"$BIN" audit show "$work/audit.jsonl" "$id" >/dev/null
echo "story of one proposal: $(python3 -c "print(f'{($(date +%s.%N) - $t0) * 1000:.0f}')") ms"
