#!/usr/bin/env bash
# Where `arbiter serve`'s memory is, and what of it grows: a build with the system allocator
# (`--features system-allocator`, in target/heap) runs under heaptrack twice on a fresh
# nats-server at the same rate, for SHORT and for LONG seconds of `arbiter loadgen`; the live
# heap at the end of each run is printed by call site, then what the long run holds beyond
# the short one. What grows with the load shows in the difference; what the service holds
# at any moment (the feed, the queues) in the first listing.
# Usage: scripts/heap-profile.sh [short] [long] [rate]   e.g. scripts/heap-profile.sh 200 420 1000
# SERVE_FLAGS passes extra `arbiter serve` flags (e.g. "--audit-keep-mb 150
# --audit-segment-mb 16" to have retention retire segments within the run); INTENTS another
# intents directory (a shorter `[escalation] timeout_s` fills the queue sooner).
# Needs heaptrack (Debian: apt-get install heaptrack).
set -euo pipefail
cd "$(dirname "$0")/.."
short="${1:-200}"
long="${2:-420}"
rate="${3:-1000}"
intents="${INTENTS:-intents}"
command -v heaptrack >/dev/null || { echo "heaptrack not found (Debian: apt-get install heaptrack)" >&2; exit 1; }
nats_server="$(scripts/ensure-nats-server.sh 2>/dev/null)"
cargo build --release --quiet --features system-allocator --target-dir target/heap
cargo build --release --quiet
PROFILED=target/heap/release/arbiter
BIN=target/release/arbiter
work="$(mktemp -d)"
pids=()
cleanup() { kill -9 "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# One run of `seconds`: the heaptrack file is $work/<seconds>.zst.
run() {
  local seconds="$1" dir="$work/run-$1" port
  mkdir -p "$dir"
  port="$(free_port)"
  "$nats_server" -a 127.0.0.1 -p "$port" -js -sd "$dir/js" >"$dir/nats.log" 2>&1 &
  local nats_pid=$!
  pids+=("$nats_pid")
  sleep 0.5
  # shellcheck disable=SC2086
  ARBITER_LOG=warn heaptrack -o "$work/$seconds" "$PROFILED" serve --nats "nats://127.0.0.1:$port" \
    --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml \
    --intents "$intents" --audit "$dir/audit.jsonl" --http 127.0.0.1:0 ${SERVE_FLAGS:-} >"$dir/serve.log" 2>&1 &
  pids+=("$!")
  until grep -q '^ready' "$dir/serve.log"; do sleep 0.2; done
  # heaptrack runs the service as its child: that is the process to stop.
  local served
  served="$(pgrep -f "^$PROFILED serve --nats nats://127.0.0.1:$port" | head -n 1)"
  "$BIN" loadgen --nats "nats://127.0.0.1:$port" --rate "$rate" --duration-s "$seconds" \
    --lifetime-s 86400 --no-floor --graph scenarios/online-boutique/graph.json \
    --overlay scenarios/online-boutique/overlay.toml --intents "$intents" | tail -n 1
  # Killed, not stopped: a graceful stop frees the state first, and the live heap at the
  # moment of the kill is what the profile is for.
  kill -9 "$served"
  while kill -0 "$served" 2>/dev/null; do sleep 0.2; done
  # heaptrack finishes writing its file once the service has gone.
  until [ -s "$work/$seconds.zst" ] && ! pgrep -f "heaptrack_interpret" >/dev/null; do sleep 0.5; done
  kill "$nats_pid" 2>/dev/null || true
}
print() { heaptrack_print --print-peaks 0 --print-allocators 0 --print-temporary 0 --print-leaks 1 \
  --peak-limit 15 --sub-peak-limit 0 "$@" 2>/dev/null | sed 's/::h[0-9a-f]\{16\}//' \
  | grep -v '^  *in /\|^reading \|^finished reading\|^Debuggee' ; }
echo "== $short s at $rate/s"
run "$short"
echo "== $long s at $rate/s"
run "$long"
echo "== live heap at the end of $long s, by call site"
print -f "$work/$long.zst"
echo "== held after $long s beyond what was held after $short s"
print -f "$work/$long.zst" -d "$work/$short.zst"
