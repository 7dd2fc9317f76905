#!/usr/bin/env bash
# Measures `arbiter serve` under load: for each rate, a fresh nats-server (JetStream in a
# temporary directory, free loopback port) and a fresh arbiter with an empty audit trail, then
# `arbiter loadgen` (raw NATS round trip first, then proposals through the arbiter).
# Usage: scripts/bench-loadgen.sh [seconds] [rate...]   e.g. scripts/bench-loadgen.sh 10 1000 10000 20000
# Extra `arbiter serve` flags may be passed in SERVE_FLAGS (e.g. SERVE_FLAGS="--window-ms 0");
# SERVE_BIN=path/to/arbiter serves with another build (the one before a change), beside this
# checkout's load generator.
# With CPU=1 the floors are skipped and the CPU time each process spent on the proposals is
# printed (user + system, from /proc), to see where the machine's cores go.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
shift || true
rates=("$@")
[ ${#rates[@]} -eq 0 ] && rates=(1000 10000 20000)
nats_server="$(scripts/ensure-nats-server.sh 2>/dev/null)"
cargo build --release --quiet
bin=target/release/arbiter
serve_bin="${SERVE_BIN:-$bin}"
work="$(mktemp -d)"
cleanup() { kill "${arbiter_pid:-}" "${nats_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cpu_seconds() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for rate in "${rates[@]}"; do
  port="$(free_port)"
  rm -rf "$work/js" "$work/audit.jsonl"
  "$nats_server" -a 127.0.0.1 -p "$port" -js -sd "$work/js" >"$work/nats.log" 2>&1 &
  nats_pid=$!
  sleep 0.5
  # shellcheck disable=SC2086
  ARBITER_LOG=warn "$serve_bin" serve --nats "nats://127.0.0.1:$port" \
    --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml \
    --intents intents --audit "$work/audit.jsonl" --http 127.0.0.1:0 ${SERVE_FLAGS:-} >"$work/serve.log" 2>&1 &
  arbiter_pid=$!
  until grep -q '^ready' "$work/serve.log"; do sleep 0.1; done
  echo "== $rate proposals/s for ${seconds}s"
  floors=()
  [ "${CPU:-0}" = 1 ] && floors=(--no-floor)
  nats_before="$(cpu_seconds "$nats_pid")"
  arbiter_before="$(cpu_seconds "$arbiter_pid")"
  "$bin" loadgen --nats "nats://127.0.0.1:$port" --rate "$rate" --duration-s "$seconds" \
    --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml --intents intents \
    "${floors[@]}" &
  loadgen_pid=$!
  # The load generator's own CPU is read just before it exits: a child that exited is gone
  # from /proc.
  loadgen_cpu=0
  while kill -0 "$loadgen_pid" 2>/dev/null; do
    loadgen_cpu="$(cpu_seconds "$loadgen_pid" 2>/dev/null || echo "$loadgen_cpu")"
    sleep 0.2
  done
  wait "$loadgen_pid"
  if [ "${CPU:-0}" = 1 ]; then
    python3 - "$rate" "$seconds" "$nats_before" "$(cpu_seconds "$nats_pid")" \
      "$arbiter_before" "$(cpu_seconds "$arbiter_pid")" "$loadgen_cpu" <<'PY'
import sys
rate, secs, n0, n1, a0, a1, g = (float(x) for x in sys.argv[1:])
sent = rate * secs
for name, used in (("nats-server", n1 - n0), ("arbiter", a1 - a0), ("loadgen", g)):
    print(f"CPU {name:<12} {used:6.2f} s   {used / sent * 1e6:6.1f} us per proposal")
PY
  fi
  kill "$arbiter_pid" "$nats_pid"; wait "$arbiter_pid" "$nats_pid" 2>/dev/null || true
done
