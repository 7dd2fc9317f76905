#!/usr/bin/env python3
"""A minimal arbiter agent with the stock NATS client (nats-py), written from PROTOCOL.md.

    agent.py NATS_URL [AGENT] [DOMAIN]

It proposes removing one replica of emailservice, waits for the arbiter's decision on its
decisions subject and prints it (one JSON line). If the decision is `approved` it "executes"
the action (this example changes nothing) and reports the outcome. Exit status: 0 when a
decision arrived, 1 otherwise.
"""
import asyncio
import datetime
import json
import sys

import nats


def rfc3339(t):
    return t.isoformat().replace("+00:00", "Z")


async def main():
    url = sys.argv[1]
    agent = sys.argv[2] if len(sys.argv) > 2 else "cost-optimizer-1"
    domain = sys.argv[3] if len(sys.argv) > 3 else "cost"
    # Its own inbox prefix: the sample server configuration lets each agent read replies
    # (JetStream's publish acknowledgements) only under _INBOX_<agent>.
    nc = await nats.connect(url, inbox_prefix=f"_INBOX_{agent}".encode())
    js = nc.jetstream()
    decisions = await nc.subscribe(f"arbiter.decisions.{domain}.{agent}")

    now = datetime.datetime.now(datetime.timezone.utc)
    proposal_id = f"py-{int(now.timestamp() * 1000)}"
    proposal = {
        "v": 1,
        "id": proposal_id,
        "agent": agent,
        "domain": domain,
        "action": {"kind": "scale", "service": "emailservice", "replicas": -1},
        "expected": {"cost_per_hour": -0.12, "capacity_rps": -50.0},
        "confidence": 0.9,
        "reversible": True,
        "rationale": "emailservice utilisation is low",
        "evidence": [{"metric": "cpu_utilisation", "value": 0.12, "window_s": 3600}],
        "created_at": rfc3339(now),
        "expires_at": rfc3339(now + datetime.timedelta(minutes=5)),
    }
    # JetStream publish: the arbiter's stream holds it until it is decided.
    await js.publish(f"arbiter.proposals.{domain}.{agent}", json.dumps(proposal).encode())

    try:
        while True:
            msg = await decisions.next_msg(timeout=15)
            decision = json.loads(msg.data)
            if decision.get("proposal_id") == proposal_id:
                break
    except nats.errors.TimeoutError:
        print("no decision within 15 s", file=sys.stderr)
        await nc.close()
        return 1
    print(json.dumps(decision))

    if decision["verdict"] == "approved":
        outcome = {
            "v": 1,
            "proposal_id": proposal_id,
            "agent": agent,
            "status": "succeeded",
            "observed": {"replicas": 3},
            "at": rfc3339(datetime.datetime.now(datetime.timezone.utc)),
        }
        await nc.publish(f"arbiter.outcomes.{domain}.{agent}", json.dumps(outcome).encode())
        await nc.flush()
    await nc.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
