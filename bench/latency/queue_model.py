#!/usr/bin/env python3
"""What the best batcher could reach at bench/latency's offered rates: an ideal queue, no Kafka.

Reads bench/latency/results.json (a run of bench/latency/run.py), takes the model's cost per batch
as `fixed + per_request × requests`: per_request from the measured max sustainable rate (full
batches, so the fixed part is spread thin there), fixed as the median over the load levels of
what their mean batch took beyond that; and simulates, for each level's offered rate, a server with exactly those costs and
nothing else: Poisson arrivals, first come first served, and a batcher that never waits and never
idles (whenever the model is free it takes everything queued, up to `--max-batch`). No fetch, no
delivery, no scheduling noise. Its p99 is a floor for any batcher that, like ours, cannot
interrupt a running batch and whose batch costs what its tokens cost (the forward pass is
padding-free, so batching saves only the fixed part).

Why it exists: issue 23 asks for p99 <= 2x one batch at 75% of the max sustainable rate. This
model shows what that asks of the queue itself, apart from our code: print it beside a run, and
compare the measured p99 with the ideal one at the same offered rate.

    python3 bench/latency/queue_model.py [--results bench/latency/results.json] [--requests 400000]
"""

import argparse
import json
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fit(rows, max_rate):
    """(fixed ms per batch, ms per request): per request from the max rate, fixed from the levels."""
    per = 1000 / max_rate
    extra = sorted(r["mean_batch_ms"] - per * r["mean_batch_requests"] for r in rows if r.get("mean_batch_requests"))
    fixed = max(0.0, extra[len(extra) // 2]) if extra else 0.0
    return fixed, per


def simulate(rate, fixed_s, per_s, max_batch, requests, seed):
    """p50, p99 of time in system and the mean batch duration (seconds) of the ideal server."""
    rng = random.Random(seed)
    t, arrivals = 0.0, []
    for _ in range(requests):
        t += rng.expovariate(rate)
        arrivals.append(t)
    free, i, times, batch_total, batches = 0.0, 0, [], 0.0, 0
    while i < requests:
        start = max(free, arrivals[i])
        j = i + 1
        while j < requests and j - i < max_batch and arrivals[j] <= start:
            j += 1
        end = start + fixed_s + per_s * (j - i)
        times.extend(end - arrivals[k] for k in range(i, j))
        batch_total += end - start
        batches += 1
        free, i = end, j
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)], batch_total / batches


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=os.path.join(ROOT, "bench", "latency", "results.json"))
    p.add_argument("--requests", type=int, default=400000, help="simulated requests per level")
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    with open(a.results) as f:
        data = json.load(f)
    rows = data["rows"]
    fixed, per = fit(rows, data["max_rate"])
    print(f"batch cost fitted from {a.results}: {fixed:.0f} ms + {per:.0f} ms per request "
          f"(max rate measured {data.get('max_rate', float('nan')):.2f} req/s)")
    print()
    print("| load | offered req/s | utilisation | measured p50 / p99 ms | measured p99 / batch "
          "| ideal p50 / p99 ms | ideal p99 / batch | measured p99 / ideal p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        rate = r["offered_rate"]
        if rate * per / 1000 >= 1:
            print(f"| {r['label']} | {rate:.2f} | {rate * per / 1000:.2f} | {r['p50_ms']:.0f} / {r['p99_ms']:.0f} | "
                  f"{r['p99_ms'] / r['mean_batch_ms']:.2f} | unstable (offered >= capacity) | | |")
            continue
        p50, p99, batch = simulate(rate, fixed / 1000, per / 1000, a.max_batch, a.requests, a.seed)
        util = rate * per / 1000
        measured_ratio = r["p99_ms"] / r["mean_batch_ms"] if r.get("mean_batch_ms") else float("nan")
        print(f"| {r['label']} | {rate:.2f} | {util:.2f} | {r['p50_ms']:.0f} / {r['p99_ms']:.0f} | {measured_ratio:.2f} "
              f"| {p50 * 1000:.0f} / {p99 * 1000:.0f} | {p99 / batch:.2f} | {r['p99_ms'] / (p99 * 1000):.2f} |")
    print()
    print("the ideal server at exact fractions of the max rate (Poisson arrivals are seldom exact in 45 s):")
    for fraction in (0.25, 0.5, 0.75, 0.9):
        p50, p99, batch = simulate(fraction * data["max_rate"], fixed / 1000, per / 1000, a.max_batch, a.requests, a.seed)
        print(f"  {fraction:.0%}: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, mean batch {batch * 1000:.0f} ms, "
              f"p99 / batch {p99 / batch:.2f}")


if __name__ == "__main__":
    main()
