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
import threading
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


def log_offset(log):
    log.flush()
    return os.path.getsize(log.name)


def log_lines(log, offset):
    """The worker's debug lines ("batch", "sync call") since `offset`, as {field: value, msg: message}."""
    with open(log.name, errors="replace") as text:
        text.seek(offset)
        lines = text.read().splitlines()
    parsed = []
    for line in lines:
        # swift-log's stream handler: "<time> <level> <label>: key=value key=value [module] message"
        if ": " not in line:
            continue
        body = line.split(": ", 1)[1]
        fields = {}
        words = body.split(" ")
        for index, word in enumerate(words):
            if "=" in word and not word.startswith("["):
                key, value = word.split("=", 1)
                fields[key] = value
            else:
                rest = [w for w in words[index:] if not w.startswith("[")]
                fields["msg"] = " ".join(rest)
                break
        parsed.append(fields)
    return parsed


class Worker:
    def __init__(self, run, budget, fill=None, log=None):
        self.http, self.metrics = free_port(), free_port()
        self.process = subprocess.Popen(
            [binary, "worker", "--brokers", brokers, "--group", run, "--input-topic", f"{run}-in", "--output-topic", f"{run}-out",
             "--dlq-topic", f"{run}-dlq", "--model", model, "--threads", "2", "--batch-tokens", str(budget),
             "--max-tokens", str(min(512, budget)),
             "--metrics-host", "127.0.0.1", "--metrics-port", str(self.metrics), "--http-host", "127.0.0.1",
             "--http-port", str(self.http), "--session-timeout-ms", "6000", "--log-level", "debug" if log else "warning"]
            + (["--sync-fill-tokens", str(fill)] if fill is not None else []), stderr=log)
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


def batch_end(worker, poll=0.1):
    """Waits for the next batch's results to show in /metrics; (sample, time)."""
    first = worker.sample()[0]
    while True:
        time.sleep(poll)
        now = worker.sample()
        if now[0] != first:
            return now, time.time()


def measure(worker, seconds, during=None):
    """Stream throughput (results/s) and mean batch duration over at least `seconds`, from one
    batch's end to another's (results come a batch at a time: a window cut mid-batch would be
    off by up to a batch); `during` runs meanwhile."""
    first, started = batch_end(worker)
    extra = during(seconds) if during else time.sleep(seconds)
    last, ended = batch_end(worker)
    batches = last[2] - first[2]
    return (last[0] - first[0]) / (ended - started), (last[1] - first[1]) / batches if batches else float("nan"), extra


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


backlog = int(600 * scale)  # per table row: the warm-up, up to 2 batches of alignment and one window at <= 8 results/s
print(f"model {model}, 2 threads, requests of ~64 tokens, windows of {window:.0f} s")
budgets = [int(b) for b in os.environ.get("FRONT_BENCH_BUDGETS", "256,512,1024,2048,4096").split(",") if b]
print("\n1. Stream throughput and batch duration against the batch token budget (worker alone, backlog)")
print(f"{'--batch-tokens':>14}{'results/s':>11}{'batch ms':>10}")
for budget in budgets:
    run = f"front-{budget}-{random.randrange(10**9)}"
    topics(run)
    worker = Worker(run, budget)
    produce(run, backlog)
    worker.warm()
    throughput, batch, _ = measure(worker, window)
    print(f"{budget:>14}{throughput:>11.2f}{batch * 1000:>10.0f}")
    worker.stop()

sync_budget = int(os.environ.get("FRONT_BENCH_SYNC_BUDGET", "2048"))
print(f"\n2. A short synchronous request (HTTP /v1/classify) at --batch-tokens {sync_budget} (FRONT_BENCH_SYNC_BUDGET)")
run = f"front-sync-{random.randrange(10**9)}"
topics(run)
fill = int(os.environ.get("FRONT_BENCH_SYNC_FILL", "0"))
rate = float(os.environ.get("FRONT_BENCH_CALL_RATE", "0.8"))
print(f"--sync-fill-tokens {fill} (FRONT_BENCH_SYNC_FILL); callers arrive at random, {rate}/s on average (FRONT_BENCH_CALL_RATE)")
log = tempfile.NamedTemporaryFile("w+", prefix=f"{run}-", suffix=".log", delete=False)  # kept: the worker's debug log
print(f"worker log (debug: each batch, each call's stages): {log.name}")
worker = Worker(run, sync_budget, fill, log=log)
for _ in range(3):
    worker.sync()
idle = [worker.sync() for _ in range(int(50 * scale))]
busy_window = 2 * window
# Enough backlog for the warm-up and both windows at ~7 results/s, with room to spare.
produce(run, int(10 * (window + busy_window + 30)))
worker.warm()
alone_from = log_offset(log)
alone, batch, _ = measure(worker, window)
alone_lines = log_lines(log, alone_from)


def callers(seconds):
    """Calls arriving at random (exponential gaps), each on its own thread: arrivals are not
    paced by answers, so they land anywhere in a running batch."""
    latencies, threads, lock = [], [], threading.Lock()

    def call():
        took = worker.sync()
        with lock:
            latencies.append(took)

    end = time.time() + seconds
    while True:
        time.sleep(rng.expovariate(rate))
        if time.time() >= end:
            break
        thread = threading.Thread(target=call)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return latencies


busy_from = log_offset(log)
busy_throughput, busy_batch, busy = measure(worker, busy_window, callers)
busy_lines = log_lines(log, busy_from)
worker.stop()
idle_p99, busy_p99 = percentile(idle, 99), percentile(busy, 99)
print(f"{'':28}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'n':>5}")
print(f"{'idle worker':28}{statistics.median(idle) * 1000:>8.0f}{idle_p99 * 1000:>8.0f}{max(idle) * 1000:>8.0f}{len(idle):>5}")
print(f"{'saturated by a backlog':28}{statistics.median(busy) * 1000:>8.0f}{busy_p99 * 1000:>8.0f}{max(busy) * 1000:>8.0f}{len(busy):>5}")


def batch_seconds(lines, kind):
    return [float(fields["model_ms"]) / 1000 for fields in lines if fields.get("msg") == "batch" and fields.get("kind") == kind]


# Stream-only batches are alike in both windows (callers get batches of their own): pooled,
# they are what a caller may wait behind.
alone_batches, busy_stream = batch_seconds(alone_lines, "stream"), batch_seconds(busy_lines, "stream")
busy_calls = batch_seconds(busy_lines, "calls")
stream_batches = alone_batches + busy_stream
if not stream_batches:
    raise SystemExit("no stream batch in the windows: raise FRONT_BENCH_SCALE")
batch_mean, batch_p99 = statistics.mean(stream_batches), percentile(stream_batches, 99)
print(f"stream batch (model time, worker's debug log, {len(stream_batches)} stream-only batches): mean {batch_mean * 1000:.0f} ms, "
      f"p99 {batch_p99 * 1000:.0f} ms; in the window alone {statistics.mean(alone_batches) * 1000 if alone_batches else float('nan'):.0f} ms "
      f"mean ({len(alone_batches)})")
print(f"with callers: {len(busy_stream)} stream batches, {len(busy_calls)} callers' batches "
      f"(mean {statistics.mean(busy_calls) * 1000 if busy_calls else float('nan'):.0f} ms, "
      f"max {max(busy_calls) * 1000 if busy_calls else float('nan'):.0f} ms)")
stages = {}
for fields in busy_lines:
    if fields.get("msg") == "sync call":
        for stage in ("prepare", "queue", "dispatch", "model", "resume", "total"):
            stages.setdefault(stage, []).append(float(fields[f"{stage}_ms"]))
if stages:
    print("where a call's time went inside the worker (ms, from admission to its task resuming):")
    print("  " + "".join(f"{stage:>10}" for stage in stages))
    print("  " + "".join(f"{statistics.median(values):>10.0f}" for values in stages.values()) + "   p50")
    print("  " + "".join(f"{percentile(values, 99):>10.0f}" for values in stages.values()) + "   p99")
# The bound's meaning, call by call: a waiting caller waits for at most the batch already
# running. In the log a call's line follows its own batch, which follows the stream batch it
# waited behind (stream batches vary, so the p99 of waits follows the longest ones, not the mean).
# Calls queued under 200 ms waited behind no stream batch to speak of.
behind, running = [], None
for fields in busy_lines:
    if fields.get("msg") == "batch" and fields.get("kind") == "stream":
        running = float(fields["model_ms"])
    elif fields.get("msg") == "sync call" and running and float(fields["queue_ms"]) > 200:
        behind.append((float(fields["queue_ms"]), running))
if behind:
    within = sum(1 for queue, batch in behind if queue <= batch)
    print(f"calls that waited behind a stream batch: {len(behind)}; queue <= that running batch's model time: "
          f"{within} of {len(behind)} (largest queue / batch {max(q / b for q, b in behind):.2f})")
share = f"{busy_throughput / alone:.1%}" if alone else "n/a: no result in the window, raise FRONT_BENCH_SCALE"
print(f"backlog throughput: {alone:.2f} results/s alone, {busy_throughput:.2f} with callers ({share})")
ok_latency = busy_p99 <= idle_p99 + batch_mean
ok_throughput = busy_throughput >= 0.9 * alone
print(f"target sync p99 <= idle p99 + one stream batch (mean {(idle_p99 + batch_mean) * 1000:.0f} ms; "
      f"with the batch p99 {(idle_p99 + batch_p99) * 1000:.0f} ms): {'met' if ok_latency else 'MISSED'}")
print(f"target backlog throughput >= 90% of alone: {'met' if ok_throughput else 'MISSED'}")
