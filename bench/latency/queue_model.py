#!/usr/bin/env python3
"""What the best batcher could reach at bench/latency's offered rates: an ideal queue, no Kafka.

Reads bench/latency/results.json (a run of bench/latency/run.py), fits the model's cost per batch
as `fixed + per_request × requests` from the measured batches (least squares over the load
levels), and simulates, for each level's offered rate, a server with exactly those costs and
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


def fit(rows):
    """Least squares of batch ms against requests per batch: (fixed ms, ms per request)."""
    xs = [r["mean_batch_requests"] for r in rows if r.get("mean_batch_requests")]
    ys = [r["mean_batch_ms"] for r in rows if r.get("mean_batch_requests")]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if n < 2 or sxx == 0:
        return 0.0, my / mx
    per = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    fixed = max(0.0, my - per * mx)
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
    fixed, per = fit(rows)
    print(f"batch cost fitted from {a.results}: {fixed:.0f} ms + {per:.0f} ms per request "
          f"(max rate measured {data.get('max_rate', float('nan')):.2f} req/s)")
    print()
    print("| load | offered req/s | utilisation | measured p50 / p99 ms | measured p99 / batch "
          "| ideal p50 / p99 ms | ideal p99 / batch | measured p99 / ideal p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        rate = r["offered_rate"]
        p50, p99, batch = simulate(rate, fixed / 1000, per / 1000, a.max_batch, a.requests, a.seed)
        util = rate * per / 1000
        measured_ratio = r["p99_ms"] / r["mean_batch_ms"] if r.get("mean_batch_ms") else float("nan")
        print(f"| {r['label']} | {rate:.2f} | {util:.2f} | {r['p50_ms']:.0f} / {r['p99_ms']:.0f} | {measured_ratio:.2f} "
              f"| {p50 * 1000:.0f} / {p99 * 1000:.0f} | {p99 / batch:.2f} | {r['p99_ms'] / (p99 * 1000):.2f} |")


if __name__ == "__main__":
    main()
