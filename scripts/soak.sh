#!/usr/bin/env bash
# Soak: `arbiter serve` at a sustained rate for a long time, sampling what grows. A fresh
# nats-server (JetStream in a temporary directory, free loopback port) and arbiter, then
# `arbiter loadgen` with proposals that live `LIFETIME_S` (24 h by default, the contract's
# longest), and every `EVERY_S` seconds one line: elapsed seconds, arbiter RSS (MB), NATS
# store (MB), audit trail (MB), escalations waiting, writes the escalations bucket has not
# caught up with, the time to fetch a just-decided proposal's story through the API (ms), the
# answers the refusal memory holds and the resends it has answered.
# Usage: scripts/soak.sh [seconds] [rate]   e.g. scripts/soak.sh 1800 3000
# SERVE_BIN=path/to/arbiter serves with another build (the one before a change, say; the load
# generator is always this checkout's); SERVE_FLAGS
# passes extra `arbiter serve` flags. At the end the arbiter is restarted on the trail it
# wrote and the time until it is ready is printed, then the stories of proposals spread over
# the trail are timed, through the restarted service's API and with `arbiter audit show`.
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
cleanup() { kill "${arbiter_pid:-}" "${nats_pid:-}" "${loadgen_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mb() { du -scm "$@" 2>/dev/null | tail -n 1 | cut -f1; }
trail_mb() { mb "$work/audit.jsonl" "$work/audit.jsonl.segments"; }
rss_mb() { awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
# The intents as they are now: the restart at the end serves the same ones even if the
# checkout's are edited while the run goes on.
cp -r intents "$work/intents"
port="$(free_port)"
"$nats_server" -a 127.0.0.1 -p "$port" -js -sd "$work/js" >"$work/nats.log" 2>&1 &
nats_pid=$!
sleep 0.5
serve() {
  # shellcheck disable=SC2086
  ARBITER_LOG=warn "$SERVE_BIN" serve --nats "nats://127.0.0.1:$port" \
    --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml \
    --intents "$work/intents" --audit "$work/audit.jsonl" --http 127.0.0.1:0 ${SERVE_FLAGS:-} >"$work/serve.log" 2>&1 &
  arbiter_pid=$!
}
serve
until grep -q '^ready' "$work/serve.log"; do sleep 0.1; done
"$BIN" loadgen --nats "nats://127.0.0.1:$port" --rate "$rate" --duration-s "$seconds" \
  --lifetime-s "$lifetime" --no-floor \
  --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml \
  --intents "$work/intents" >"$work/loadgen.log" 2>&1 &
loadgen_pid=$!
start=$(date +%s)
http_addr="$(grep -o 'http://[^ ]*' "$work/serve.log" | head -n 1)"
metric() { curl -s "$http_addr/metrics" | awk -v m="$1" '$1 == m { printf "%d", $2; found = 1 } END { if (!found) printf "0" }'; }
# The story of a proposal decided a moment ago (its id read from the head of the trail), through
# the API while the load runs: what a person clicking in the dashboard waits.
story_now_ms() {
  local pair id agent
  pair="$(tail -c 200000 "$work/audit.jsonl" | grep -o '"proposal_id":"[^"]*","agent":"[^"]*"' | tail -n 1)"
  [ -z "$pair" ] && { printf -- "-"; return; }
  id="$(echo "$pair" | cut -d'"' -f4)" agent="$(echo "$pair" | cut -d'"' -f8)"
  curl -s -o /dev/null -w '%{time_total}' -H 'Authorization: Bearer sre-oncall-token' \
    "$http_addr/api/decisions/$agent/$id" | python3 -c 'import sys; print(round(float(sys.stdin.read()) * 1000), end="")'
}
sample() {
  echo "$(( $(date +%s) - start )) $(rss_mb "$arbiter_pid") $(mb "$work/js") $(trail_mb) $(metric arbiter_pending_approvals) $(metric arbiter_escalations_bucket_backlog) $(story_now_ms) $(metric arbiter_refusal_memory_entries) $(metric arbiter_answered_from_memory_total)"
}
echo "seconds rss_mb nats_store_mb trail_mb escalations_waiting bucket_backlog story_ms remembered answered_from_memory"
while kill -0 "$loadgen_pid" 2>/dev/null; do
  sample
  sleep "$every"
done
wait "$loadgen_pid" || true
sample
tail -n 4 "$work/loadgen.log"
ls "$work/audit.jsonl.segments" 2>/dev/null | awk -F. '{ n[$NF == "json" ? "checkpoints" : $NF]++ } END { for (k in n) printf "%s %d  ", k, n[k]; print "" }' || true
kill "$arbiter_pid"; wait "$arbiter_pid" 2>/dev/null || true
t0=$(date +%s.%N)
serve
until grep -q '^ready' "$work/serve.log"; do sleep 0.05; done
echo "restart on the trail: ready in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')") s"
# Proposals spread over the trail: the 1000th record of each file, newest segments included.
ids=()
for f in $(ls "$work"/audit.jsonl.segments/*.jsonl 2>/dev/null | awk 'NR % 20 == 1') "$work/audit.jsonl"; do
  pair="$(head -c 4000000 "$f" | grep -o '"proposal_id":"[^"]*","agent":"[^"]*"' | sed -n '1000p')"
  [ -n "$pair" ] && ids+=("$(echo "$pair" | cut -d'"' -f4)/$(echo "$pair" | cut -d'"' -f8)")
done
http_addr="$(grep -o 'http://[^ ]*' "$work/serve.log" | head -n 1)"
worst=0
for pair in "${ids[@]}"; do
  id="${pair%/*}" agent="${pair#*/}"
  ms="$(curl -s -o /dev/null -w '%{time_total}' -H 'Authorization: Bearer sre-oncall-token' "$http_addr/api/decisions/$agent/$id" | python3 -c 'import sys; print(round(float(sys.stdin.read()) * 1000))')"
  worst=$(( ms > worst ? ms : worst ))
done
echo "story of a proposal through the API: ${#ids[@]} proposals over the trail, slowest ${worst} ms"
t0=$(date +%s.%N)
"$BIN" audit show "$work/audit.jsonl" "${ids[0]%/*}" >/dev/null
echo "story of one proposal with audit show: $(python3 -c "print(f'{($(date +%s.%N) - $t0) * 1000:.0f}')") ms"
