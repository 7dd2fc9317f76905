#!/usr/bin/env bash
# Measures replicated `arbiter serve` under load: for each rate, a fresh three-node NATS
# cluster (JetStream, each node its own store in a temporary directory, free loopback ports)
# and two fresh replicas (`--replica a`, `--replica b`, each its own empty trail), then
# `arbiter loadgen` against node 1: the raw NATS round trip, the JetStream round trip on
# streams replicated like the arbiter's, then proposals through the leader.
# Usage: scripts/bench-cluster.sh [seconds] [rate...]   e.g. scripts/bench-cluster.sh 10 1000 5000
# With CPU=1 the floors are skipped and the CPU each process spent is printed; with METRICS=1
# the leader's own timings (window, decision, trail) are printed after each rate; with JOIN=1
# a third replica is then started on an empty disk and the time until it follows is printed,
# with what it fetched from the copies of the sealed trail. SERVE_BIN=path/to/arbiter runs the
# replicas with another build (the one before a change).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
shift || true
rates=("$@")
[ ${#rates[@]} -eq 0 ] && rates=(1000 5000)
nats_server="$(scripts/ensure-nats-server.sh 2>/dev/null)"
cargo build --release --quiet
bin=target/release/arbiter
serve_bin="${SERVE_BIN:-$bin}"
work="$(mktemp -d)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cpu_seconds() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
# Ends the run with the logs of any process that is no longer running.
all_alive() {
  local dead=0
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      dead=1
      echo "process ${pids[$i]} ($i of: nats-1 nats-2 nats-3 replica-a replica-b) is not running" >&2
    fi
  done
  if ((dead)); then
    for f in "$work"/*.log; do echo "--- $f" >&2; tail -15 "$f" >&2; done
    exit 1
  fi
}
# Waits up to $3 seconds for a line matching $2 in file $1; a process that died or hangs ends
# the run with its log rather than a wait without end.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -qE "$2" "$1"; do
    if ((SECONDS > deadline)); then
      echo "no '$2' in $1 after $3 s:" >&2
      tail -20 "$1" >&2
      exit 1
    fi
    sleep 0.1
  done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for rate in "${rates[@]}"; do
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  pids=()
  rm -rf "$work"/*
  ports=("$(free_port)" "$(free_port)" "$(free_port)")
  routes=("$(free_port)" "$(free_port)" "$(free_port)")
  all_routes="nats://127.0.0.1:${routes[0]}, nats://127.0.0.1:${routes[1]}, nats://127.0.0.1:${routes[2]}"
  for i in 0 1 2; do
    mkdir -p "$work/js$i"
    cat >"$work/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${ports[$i]}
jetstream { store_dir: "$work/js$i" }
cluster { name: bench, listen: 127.0.0.1:${routes[$i]}, routes: [$all_routes] }
CONF
    "$nats_server" -c "$work/n$i.conf" >"$work/n$i.log" 2>&1 &
    pids+=($!)
  done
  url="nats://127.0.0.1:${ports[0]},nats://127.0.0.1:${ports[1]},nats://127.0.0.1:${ports[2]}"
  sleep 3
  for r in a b; do
    mkdir -p "$work/$r"
    ARBITER_LOG=warn "$serve_bin" serve --replica "$r" --nats "$url" \
      --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml \
      --intents intents --audit "$work/$r/audit.jsonl" --http 127.0.0.1:0 >"$work/$r.log" 2>&1 &
    pids+=($!)
    wait_for "$work/$r.log" '^(ready|standby)' 60
  done
  echo "== $rate proposals/s for ${seconds}s on three nodes, two replicas"
  floors=()
  [ "${CPU:-0}" = 1 ] && floors=(--no-floor)
  before=()
  all_alive
  for p in "${pids[@]}"; do before+=("$(cpu_seconds "$p")"); done
  timeout $((3 * seconds + 120)) "$bin" loadgen --nats "nats://127.0.0.1:${ports[0]}" --rate "$rate" --duration-s "$seconds" \
    --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml --intents intents \
    "${floors[@]}"
  if [ "${METRICS:-0}" = 1 ]; then
    # Where the leader's time went: its own histograms, quantiles in seconds.
    api="$(grep -oE 'http://[0-9.:]+' "$work/a.log" | head -1)"
    curl -s "$api/metrics" | grep -E '^arbiter_(window|decision|trail_[a-z]+)_seconds\{quantile="0\.(5|99|999)"\}' || true
  fi
  if [ "${JOIN:-0}" = 1 ]; then
    sleep 3 # the last sealed segment copied
    mkdir -p "$work/c"
    began=$(date +%s.%N)
    ARBITER_LOG=info "$bin" serve --replica c --nats "$url" \
      --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml \
      --intents intents --audit "$work/c/audit.jsonl" --http 127.0.0.1:0 >"$work/c.log" 2>&1 &
    pids+=($!)
    wait_for "$work/c.log" '^standby' 600
    python3 -c "import sys,time; print(f'an empty replica follows after {time.time()-float(sys.argv[1]):.2f} s')" "$began"
    grep -h 'fetched the trail' "$work/c.log" | sed 's/^.*INFO //' || echo "nothing fetched"
    du -sh "$work/a" "$work/c" | sed 's/^/  trail on disk: /'
  fi
  if [ "${CPU:-0}" = 1 ]; then
    names=(nats-1 nats-2 nats-3 "replica a (leader)" "replica b (standby)")
    sent=$((rate * seconds))
    for i in 0 1 2 3 4; do
      after="$(cpu_seconds "${pids[$i]}")"
      python3 -c "import sys; b,a,n=float(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); print(f'{sys.argv[4]:>22}: {a-b:6.2f} s CPU, {(a-b)/n*1e6:6.1f} µs per proposal')" \
        "${before[$i]}" "$after" "$sent" "${names[$i]}"
    done
  fi
done
