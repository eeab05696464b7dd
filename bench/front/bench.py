#!/usr/bin/env python3
"""Driver of bench/front/run.sh (see there): starts workers, produces backlogs with kcat, calls
the HTTP API, reads the worker's own metrics (results produced, model time per batch)."""
import json
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import os
import urllib.request

binary, model, brokers, scale = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
window = 30 * scale
rng = random.Random(7)
vocab = ("the a moderation request text worker model kafka batch token safe unsafe category message topic partition "
         "offset result probability threshold window stream cluster queue latency throughput memory core thread").split()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def topics(run):
    for topic in (f"{run}-in", f"{run}-out", f"{run}-dlq"):
        subprocess.run(["kcat", "-b", brokers, "-L", "-t", topic], capture_output=True, check=True)


def produce(run, count, words=48):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as requests:
        for i in range(count):
            requests.write(json.dumps({"id": f"{run}-{i}", "text": " ".join(rng.choice(vocab) for _ in range(words))}) + "\n")
        requests.flush()
        subprocess.run(["kcat", "-b", brokers, "-P", "-t", f"{run}-in", "-H", "content-type=application/json", "-l", requests.name],
                       check=True)


class Worker:
    def __init__(self, run, budget, fill=None):
        self.http, self.metrics = free_port(), free_port()
        self.process = subprocess.Popen(
            [binary, "worker", "--brokers", brokers, "--group", run, "--input-topic", f"{run}-in", "--output-topic", f"{run}-out",
             "--dlq-topic", f"{run}-dlq", "--model", model, "--threads", "2", "--batch-tokens", str(budget),
             "--max-tokens", str(min(512, budget)),
             "--metrics-host", "127.0.0.1", "--metrics-port", str(self.metrics), "--http-host", "127.0.0.1",
             "--http-port", str(self.http), "--session-timeout-ms", "6000", "--log-level", "warning"]
            + (["--sync-fill-tokens", str(fill)] if fill is not None else []))
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"worker exited with status {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("worker did not become ready")

    def sample(self):
        """(results produced, model seconds, batches) from /metrics."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        values = {}
        for line in text.splitlines():
            for name in ("duoguard_results_produced_total", "duoguard_inference_seconds_sum", "duoguard_inference_seconds_count"):
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    values[name] = float(line.split()[-1])
        return (values.get("duoguard_results_produced_total", 0), values.get("duoguard_inference_seconds_sum", 0),
                values.get("duoguard_inference_seconds_count", 0))

    def warm(self):
        """Waits until the backlog is being answered (group joined, first batches out), at most 180 s."""
        deadline = time.time() + 180
        while self.sample()[0] < 2:
            if time.time() > deadline:
                raise SystemExit("no results after 180 s")
            time.sleep(0.5)

    def sync(self, text="is this fine?"):
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}/v1/classify", data=json.dumps({"text": text}).encode(),
                                         headers={"content-type": "application/json"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
        return time.perf_counter() - started

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def measure(worker, seconds, during=None):
    """Stream throughput (results/s) and mean batch duration over `seconds`; `during` runs meanwhile."""
    first = worker.sample()
    started = time.time()
    extra = during(seconds) if during else time.sleep(seconds)
    last = worker.sample()
    elapsed = time.time() - started
    batches = last[2] - first[2]
    return (last[0] - first[0]) / elapsed, (last[1] - first[1]) / batches if batches else float("nan"), extra


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


backlog = int(400 * scale)
print(f"model {model}, 2 threads, requests of ~64 tokens, windows of {window:.0f} s")
print("\n1. Stream throughput and batch duration against the batch token budget (worker alone, backlog)")
print(f"{'--batch-tokens':>14}{'results/s':>11}{'batch ms':>10}")
for budget in (256, 512, 1024, 2048, 4096):
    run = f"front-{budget}-{rng.randrange(10**9)}"
    topics(run)
    worker = Worker(run, budget)
    produce(run, backlog)
    worker.warm()
    throughput, batch, _ = measure(worker, window)
    print(f"{budget:>14}{throughput:>11.2f}{batch * 1000:>10.0f}")
    worker.stop()

print("\n2. A short synchronous request (HTTP /v1/classify) at --batch-tokens 2048")
run = f"front-sync-{rng.randrange(10**9)}"
topics(run)
fill = int(os.environ.get("FRONT_BENCH_SYNC_FILL", "256"))
print(f"--sync-fill-tokens {fill} (FRONT_BENCH_SYNC_FILL)")
worker = Worker(run, 2048, fill)
for _ in range(3):
    worker.sync()
idle = [worker.sync() for _ in range(int(50 * scale))]
produce(run, backlog * 2)
worker.warm()
alone, batch, _ = measure(worker, window)


def callers(seconds):
    latencies = []
    end = time.time() + seconds
    while time.time() < end:
        latencies.append(worker.sync())
        time.sleep(0.2)
    return latencies


busy_throughput, busy_batch, busy = measure(worker, window, callers)
worker.stop()
idle_p99, busy_p99 = percentile(idle, 99), percentile(busy, 99)
print(f"{'':28}{'p50 ms':>8}{'p99 ms':>8}{'n':>5}")
print(f"{'idle worker':28}{statistics.median(idle) * 1000:>8.0f}{idle_p99 * 1000:>8.0f}{len(idle):>5}")
print(f"{'saturated by a backlog':28}{statistics.median(busy) * 1000:>8.0f}{busy_p99 * 1000:>8.0f}{len(busy):>5}")
print(f"stream batch: {batch * 1000:.0f} ms alone, {busy_batch * 1000:.0f} ms with callers")
share = f"{busy_throughput / alone:.1%}" if alone else "n/a: no result in the window, raise FRONT_BENCH_SCALE"
print(f"backlog throughput: {alone:.2f} results/s alone, {busy_throughput:.2f} with callers ({share})")
one_batch = batch if batch == batch else busy_batch  # nan when no batch ended in the window alone
ok_latency = busy_p99 <= idle_p99 + one_batch
ok_throughput = busy_throughput >= 0.9 * alone
print(f"target sync p99 <= idle p99 + one batch ({(idle_p99 + one_batch) * 1000:.0f} ms): {'met' if ok_latency else 'MISSED'}")
print(f"target backlog throughput >= 90% of alone: {'met' if ok_throughput else 'MISSED'}")
