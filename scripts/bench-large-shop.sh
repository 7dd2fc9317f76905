#!/usr/bin/env bash
# Measures `arbiter serve` on a large shop with live telemetry: the retail shop plus SERVICES
# services its frontend calls, each reporting its observations every 10 s (SERVICES / 10
# messages a second, spread evenly), while `arbiter loadgen` drives proposals at RATE for
# SECONDS. Prints the load generator's figures, then how much audit trail the run wrote and
# how much of it was observations.
# Usage: scripts/bench-large-shop.sh [services] [seconds] [rate]   e.g. scripts/bench-large-shop.sh 8000 20 500
# SERVE_BIN=path/to/arbiter serves with another build (the one before a change).
set -euo pipefail
cd "$(dirname "$0")/.."
services="${1:-8000}"
seconds="${2:-20}"
rate="${3:-500}"
nats_server="$(scripts/ensure-nats-server.sh 2>/dev/null)"
py="$(scripts/ensure-nats-py.sh)"
cargo build --release --quiet
bin=target/release/arbiter
serve_bin="${SERVE_BIN:-$bin}"
work="$(mktemp -d)"
cleanup() { kill "${publisher_pid:-}" "${arbiter_pid:-}" "${nats_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
python3 - "$services" "$work/graph.json" <<'PY'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
links = json.load(open("scenarios/online-boutique/graph.json"))
links += [{"parent": "frontend", "child": f"catalogue-shard-{i:05}-eu-west-1-production", "callCount": 10}
          for i in range(n)]
json.dump(links, open(out, "w"))
PY
port="$(free_port)"
"$nats_server" -a 127.0.0.1 -p "$port" -js -sd "$work/js" >"$work/nats.log" 2>&1 &
nats_pid=$!
sleep 0.5
ARBITER_LOG=warn "$serve_bin" serve --nats "nats://127.0.0.1:$port" \
  --graph "$work/graph.json" --overlay scenarios/online-boutique/overlay.toml \
  --intents intents --audit "$work/audit.jsonl" --http 127.0.0.1:0 >"$work/serve.log" 2>&1 &
arbiter_pid=$!
until grep -q '^ready' "$work/serve.log"; do sleep 0.1; done
"$py" - "nats://127.0.0.1:$port" "$services" <<'PY' &
import asyncio, json, random, sys
import nats

async def main(url, n):
    nc = await nats.connect(url)
    rng = random.Random(1)
    per_tick = max(1, n // 100)  # every 0.1 s, a hundredth of the services: each every 10 s
    i = 0
    while True:
        for _ in range(per_tick):
            name = f"catalogue-shard-{i % n:05}-eu-west-1-production"
            seen = {"replicas": 3, "load_rps": round(rng.uniform(5, 20), 1),
                    "p99_ms": round(rng.uniform(20, 60), 1), "error_rate": 0.001, "healthy": True}
            await nc.publish(f"arbiter.telemetry.{name}", json.dumps(seen).encode())
            i += 1
        await nc.flush()
        await asyncio.sleep(0.1)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
PY
publisher_pid=$!
# Every service observed once before the load starts.
sleep 11
# The last record before the load (its seq), as `audit verify` reports it ("N records" or
# "records M to N").
before="$("$bin" audit verify "$work/audit.jsonl" | python3 -c '
import re, sys
m = re.search(r"(\d+) records|records \d+ to (\d+)", sys.stdin.read())
print(m.group(1) or m.group(2))')"
echo "== $services services reporting every 10 s; $rate proposals/s for ${seconds}s"
"$bin" loadgen --nats "nats://127.0.0.1:$port" --rate "$rate" --duration-s "$seconds" --no-floor \
  --graph scenarios/online-boutique/graph.json --overlay scenarios/online-boutique/overlay.toml --intents intents
kill "$publisher_pid"
python3 - "$work/audit.jsonl" "$before" "$seconds" <<'PY'
import collections, glob, json, sys
path, before, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
size = collections.Counter()
count = collections.Counter()
verdicts = collections.Counter()
# The head and the segments sealed from it.
for name in glob.glob(path + ".segments/*.jsonl") + [path]:
    for line in open(name, "rb"):
        record = json.loads(line)
        if record["seq"] <= before:
            continue
        event = record["event"]
        kind = event["kind"]
        if kind == "decision":
            verdicts[event["decision"]["verdict"]] += 1
        size[kind] += len(line)
        count[kind] += 1
total = sum(size.values())
print(f"trail written during the load: {total / 1e6:.1f} MB ({total / 1e6 / secs:.2f} MB/s)")
for kind, n in count.most_common():
    print(f"  {kind:<12} {n:7} records {size[kind] / 1e6:8.1f} MB")
print("  verdicts:", dict(verdicts.most_common()))
PY
kill "$arbiter_pid" "$nats_pid"; wait "$arbiter_pid" "$nats_pid" 2>/dev/null || true
