"""Latency under load of the Kafka path: an open-loop load generator against one worker.

    bash bench/model/bench-env.sh     # the bench venv: confluent-kafka, matplotlib
    .venv-bench/bin/python bench/latency/run.py --binary .build-speed/release/duoguard
    .venv-bench/bin/python bench/latency/run.py --smoke      # a short run that checks the harness

What it does (docs/benchmarks.md, "Latency under load"):
1. starts the local broker (scripts/broker.sh, honouring DUOGUARD_BROKER_PORT/DUOGUARD_TANSU_PORT)
   unless --brokers is given, creates fresh input/output/dead-letter topics (--partitions), and
   starts ONE `duoguard worker` on --model (default the random 1B Q4_0) with the batcher settings
   given here (default: the worker's own defaults, read back from its /metrics-free flags);
   --fetch-wait-ms (default 10) is the worker's and our result consumer's fetch.wait.max.ms: the
   local broker holds a waiting fetch to its end instead of answering when records arrive
   (docs/kafka.md), which alone added ~100 ms to every request; pass 500 against Apache Kafka;
2. warms it up, then measures the maximum sustainable rate: --saturation requests produced at
   once; completed requests / (last result timestamp - first request timestamp);
3. for each fraction of that rate (25/50/75/90/100 %): Poisson arrivals at the rate for
   --duration seconds (default 45: the whole run ~6 min) from a real Kafka producer (confluent-kafka, ~50-token requests: --words
   words of a small vocabulary), open loop (a request is sent at its scheduled time whether or not
   earlier ones were answered); latency of a request = its result's Kafka timestamp (set by the
   worker's producer) - the request's Kafka timestamp (set by our producer at send), matched by
   key; p50/p90/p99/max; the worker's mean batch size and model time per batch from its /metrics
   (duoguard_batch_requests, duoguard_inference_seconds) over the same interval; and where the
   time went, per stage of the worker's timeline (duoguard_stream_stage_seconds: fetch, prepare,
   queue, dispatch, model, compose, deliver; p50/p99 estimated from the histogram buckets), plus
   the result's timestamp -> this bench's consumer ("result seen", not part of the latency);
4. prints the table, writes JSON (--json) and the chart (--chart, matplotlib; the one in docs/
   only from a quiet run).

A figure is a result only on a quiet machine: the 1-minute load average at the start and the CPU
time other processes took are recorded, and the run is marked LOADED otherwise (as bench/model).
"""
import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "model"))
from run import busy_seconds  # noqa: E402  (bench/model/run.py: CPU seconds of all processes)
VOCAB = ("the a moderation request text worker model kafka batch token safe unsafe category "
         "message topic partition offset result probability threshold window stream cluster "
         "queue latency throughput memory core thread kernel matrix vector attention layer").split()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def process_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics(port):
    """The worker's Prometheus text as {name{labels}: value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


STAGES = ("fetch", "prepare", "queue", "dispatch", "model", "compose", "deliver")


def stage_buckets(m):
    """{stage: [(le, cumulative count)]} of duoguard_stream_stage_seconds (the worker's timeline)."""
    import re
    out = {}
    for name, value in m.items():
        if not name.startswith("duoguard_stream_stage_seconds_bucket{"):
            continue
        stage, le = re.search(r'stage="([^"]+)"', name), re.search(r'le="([^"]+)"', name)
        if stage and le:
            out.setdefault(stage.group(1), []).append((float(le.group(1)), value))
    return {s: sorted(b) for s, b in out.items()}


def stage_quantiles(m0, m1):
    """Per stage over an interval: count, mean ms, p50/p99 ms estimated from the histogram buckets
    (linear within a bucket; a quantile in the +Inf bucket reads as the last finite bound)."""
    b0, b1 = stage_buckets(m0), stage_buckets(m1)
    rows = {}
    for stage in STAGES:
        before = dict(b0.get(stage, []))
        cum = [(le, c - before.get(le, 0)) for le, c in b1.get(stage, [])]
        count = m1.get(f'duoguard_stream_stage_seconds_count{{stage="{stage}"}}', 0) - m0.get(f'duoguard_stream_stage_seconds_count{{stage="{stage}"}}', 0)
        total = m1.get(f'duoguard_stream_stage_seconds_sum{{stage="{stage}"}}', 0) - m0.get(f'duoguard_stream_stage_seconds_sum{{stage="{stage}"}}', 0)
        if not cum or count <= 0:
            rows[stage] = {"count": 0, "mean_ms": float("nan"), "p50_ms": float("nan"), "p99_ms": float("nan")}
            continue
        row = {"count": count, "mean_ms": 1000 * total / count}
        for q in (0.5, 0.99):
            want, lo, below, value = q * count, 0.0, 0.0, None
            for le, c in cum:
                if c >= want:
                    if math.isinf(le):
                        value = lo
                    else:
                        value = lo + (le - lo) * ((want - below) / (c - below) if c > below else 1.0)
                    break
                lo, below = (lo if math.isinf(le) else le), c
            row[f"p{round(q * 100)}_ms"] = 1000 * (value if value is not None else lo)
        rows[stage] = row
    return rows


def percentile(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


class Results:
    """Consumes the output topic from the beginning: result key -> result Kafka timestamp (ms)."""

    def __init__(self, brokers, topic, fetch_wait_ms):
        from confluent_kafka import Consumer
        self.times = {}
        self.seen = {}
        self.lock = threading.Lock()
        self.stop = False
        # fetch.wait.max.ms: the local broker holds a waiting fetch to its end even when records
        # arrive (docs/kafka.md), which would only delay when we see results (their timestamps,
        # what latency is measured from, are set by the worker's producer).
        self.consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"latency-reader-{os.getpid()}-{time.time_ns()}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                  "fetch.wait.max.ms": fetch_wait_ms})
        self.consumer.subscribe([topic])
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            m = self.consumer.poll(0.2)
            if m is None or m.error():
                continue
            seen = int(time.time() * 1000)
            with self.lock:
                self.times[m.key().decode()] = m.timestamp()[1]
                self.seen[m.key().decode()] = seen

    def wait(self, keys, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                missing = [k for k in keys if k not in self.times]
            if not missing:
                return True
            time.sleep(0.2)
        return False

    def get(self, key):
        with self.lock:
            return self.times.get(key)

    def seen_after(self, key):
        """ms from the result's timestamp to this reader receiving it (not part of the latency)."""
        with self.lock:
            return self.seen[key] - self.times[key] if key in self.seen else None

    def close(self):
        self.stop = True
        self.thread.join()
        self.consumer.close()


class Load:
    """A real producer: sends requests and records each one's Kafka (CreateTime) timestamp."""

    def __init__(self, brokers, topic, words, seed):
        from confluent_kafka import Producer
        self.topic = topic
        self.words = words
        self.rng = random.Random(seed)
        self.sent = {}
        self.producer = Producer({"bootstrap.servers": brokers, "linger.ms": 0, "acks": "all"})
        self.n = 0

    def request(self, key):
        text = " ".join(self.rng.choice(VOCAB) for _ in range(self.words))
        return json.dumps({"id": key, "text": text}).encode()

    def send(self, prefix):
        key = f"{prefix}-{self.n}"
        self.n += 1
        stamp = int(time.time() * 1000)
        self.producer.produce(self.topic, key=key, value=self.request(key), timestamp=stamp,
                              headers={"content-type": b"application/json"})
        self.sent[key] = stamp
        self.producer.poll(0)
        return key

    def flush(self):
        self.producer.flush(30)


def start_worker(a, brokers, topics):
    cmd = [a.binary, "worker", "--brokers", brokers, "--group", topics["group"], "--input-topic", topics["in"],
           "--output-topic", topics["out"], "--dlq-topic", topics["dlq"], "--model", a.model,
           "--metrics-port", str(a.metrics_port), "--metrics-host", "127.0.0.1", "--log-level", "warning",
           "--threads", str(a.threads)]
    for flag, value in (("--max-batch", a.max_batch), ("--max-wait-ms", a.max_wait_ms), ("--batch-tokens", a.batch_tokens)):
        if value is not None:
            cmd += [flag, str(value)]
    if a.fetch_wait_ms >= 0:
        cmd += ["--fetch-wait-ms", str(a.fetch_wait_ms)]
    for arg in a.worker_arg:
        cmd += arg.split(" ", 1)
    log("$", " ".join(cmd))
    p = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"the worker exited with {p.returncode}")
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{a.metrics_port}/readyz", timeout=2).status == 200:
                return p, cmd
        except OSError:
            pass
        time.sleep(0.5)
    p.kill()
    raise RuntimeError("the worker did not become ready within 300 s")


def batcher_settings(a):
    """The batcher's settings of this run: the flags given here, else the worker's defaults as
    `duoguard worker --help` prints them."""
    import re
    text = subprocess.run([a.binary, "worker", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    text = " ".join(text.split())
    out = {}
    for flag, given in (("max-batch", a.max_batch), ("max-wait-ms", a.max_wait_ms), ("batch-tokens", a.batch_tokens)):
        m = re.search(r"--" + flag + r" <[^>]*> .*?\(default (\d+)", text)
        out[flag] = given if given is not None else (int(m.group(1)) if m else None)
    return out


def create_topics(brokers, run, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic
    topics = {"group": run, "in": f"{run}-in", "out": f"{run}-out", "dlq": f"{run}-dlq"}
    admin = AdminClient({"bootstrap.servers": brokers})
    futures = admin.create_topics([NewTopic(topics["in"], partitions, 1), NewTopic(topics["out"], partitions, 1),
                                   NewTopic(topics["dlq"], 1, 1)])
    for f in futures.values():
        f.result(30)
    return topics


def step(a, load, results, worker, rate, duration, label):
    """Poisson arrivals at `rate`/s for `duration` s; latencies of every request."""
    m0, cpu0, busy0 = metrics(a.metrics_port), process_cpu(worker.pid), busy_seconds()
    rng = random.Random(hash(label) & 0xFFFF)
    keys, behind = [], 0.0
    t0 = time.monotonic()
    at = t0
    while True:
        at += rng.expovariate(rate)
        if at - t0 > duration:
            break
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            behind = max(behind, -delay)
        keys.append(load.send(label))
    load.flush()
    done = results.wait(keys, timeout=max(60.0, 4 * duration))
    wall = time.monotonic() - t0
    m1, cpu1, busy1 = metrics(a.metrics_port), process_cpu(worker.pid), busy_seconds()
    lat = [results.get(k) - load.sent[k] for k in keys if results.get(k) is not None]
    seen = [s for s in (results.seen_after(k) for k in keys) if s is not None]
    stages = stage_quantiles(m0, m1)
    d = lambda name: m1.get(name, 0) - m0.get(name, 0)
    batches = d("duoguard_inference_seconds_count")
    row = {"label": label, "target_rate": rate, "requests": len(keys), "answered": len(lat), "complete": done,
           "offered_rate": len(keys) / duration, "p50_ms": percentile(lat, 0.5), "p90_ms": percentile(lat, 0.9),
           "p99_ms": percentile(lat, 0.99), "max_ms": max(lat) if lat else float("nan"),
           "mean_ms": sum(lat) / len(lat) if lat else float("nan"),
           "batches": batches, "mean_batch_requests": d("duoguard_batch_requests_sum") / batches if batches else float("nan"),
           "mean_batch_ms": 1000 * d("duoguard_inference_seconds_sum") / batches if batches else float("nan"),
           "producer_behind_ms": 1000 * behind, "stages": stages,
           "result_seen_p50_ms": percentile(seen, 0.5), "result_seen_p99_ms": percentile(seen, 0.99),
           "foreign_cores": max(0.0, (busy1 - busy0) - (cpu1 - cpu0)) / wall, "loadavg": os.getloadavg()[0]}
    log(f"  {label}: {row['answered']}/{row['requests']} answered, offered {row['offered_rate']:.2f}/s, "
        f"p50 {row['p50_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms, batch {row['mean_batch_requests']:.1f} req / "
        f"{row['mean_batch_ms']:.0f} ms, other processes {row['foreign_cores']:.2f} cores")
    log("    stages p50/p99 ms: " + ", ".join(f"{s} {stages[s]['p50_ms']:.0f}/{stages[s]['p99_ms']:.0f}" for s in STAGES))
    return row


def saturation(a, load, results, count):
    """Max sustainable rate: `count` requests at once; answered / (last result - first request)."""
    keys = [load.send("saturation") for _ in range(count)]
    load.flush()
    if not results.wait(keys, timeout=600):
        raise RuntimeError("saturation requests were not all answered within 600 s")
    first = min(load.sent[k] for k in keys)
    last = max(results.get(k) for k in keys)
    return count / ((last - first) / 1000)


def table(rows, max_rate):
    lines = [f"| load | offered req/s | answered | p50 ms | p90 ms | p99 ms | max ms | mean batch (requests) | model time per batch ms | p99 / batch time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r["p99_ms"] / r["mean_batch_ms"] if r["mean_batch_ms"] == r["mean_batch_ms"] and r["mean_batch_ms"] else float("nan")
        lines.append(f"| {r['label']} | {r['offered_rate']:.2f} | {r['answered']}/{r['requests']} | {r['p50_ms']:.0f} | "
                     f"{r['p90_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} | {r['mean_batch_requests']:.1f} | "
                     f"{r['mean_batch_ms']:.0f} | {ratio:.2f} |")
    lines += ["", "Where the time goes (the worker's `duoguard_stream_stage_seconds`, p50 / p99 ms estimated from its "
              "histogram buckets; the last column, the result's timestamp to this bench's consumer, is not part of the latency):", "",
              "| load | " + " | ".join(STAGES) + " | result seen |", "|---|" + "---:|" * (len(STAGES) + 1)]
    for r in rows:
        cells = [f"{r['stages'][s]['p50_ms']:.0f} / {r['stages'][s]['p99_ms']:.0f}" for s in STAGES]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + f" | {r['result_seen_p50_ms']:.0f} / {r['result_seen_p99_ms']:.0f} |")
    return "\n".join(lines)


def chart(rows, max_rate, settings, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = [r["offered_rate"] for r in rows]
    for key, style in (("p50_ms", "o-"), ("p90_ms", "s--"), ("p99_ms", "^-")):
        ax.plot(x, [r[key] for r in rows], style, label=key.split("_")[0])
    ax.plot(x, [2 * r["mean_batch_ms"] for r in rows], "k:", label="2 x model time per batch")
    ax.axvline(max_rate, color="grey", linewidth=0.8)
    ax.text(max_rate, ax.get_ylim()[1] * 0.95, f" max sustainable {max_rate:.1f}/s", fontsize=8, va="top")
    ax.set_xlabel("offered load, requests/s (Poisson)")
    ax.set_ylabel("request -> result, ms (Kafka timestamps)")
    ax.set_title(f"One worker, 1B Q4_0, ~50-token requests; {settings}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(ROOT, ".build-speed", "release", "duoguard"))
    p.add_argument("--model", default=os.path.join(ROOT, "models", "random-1b-q4_0.gguf"))
    p.add_argument("--brokers", help="default: start scripts/broker.sh")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--words", type=int, default=49, help="words per request (each word of this vocabulary is one Llama-3 token; 49 + begin-of-text = 50)")
    p.add_argument("--duration", type=float, default=45, help="seconds of arrivals per load level (45: the whole run ~6 min)")
    p.add_argument("--saturation", type=int, default=300, help="requests of the max-rate measurement")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75, 0.9, 1.0])
    p.add_argument("--max-batch", type=int, help="worker --max-batch (default: the worker's)")
    p.add_argument("--max-wait-ms", type=int, help="worker --max-wait-ms (default: the worker's)")
    p.add_argument("--batch-tokens", type=int, help="worker --batch-tokens (default: the worker's)")
    p.add_argument("--fetch-wait-ms", type=int, default=10,
                   help="the worker's --fetch-wait-ms and this bench's consumer's fetch.wait.max.ms (default 10: the local broker "
                        "holds a waiting fetch to its end, docs/kafka.md; against Apache Kafka pass 500, Kafka's default; "
                        "-1: leave the worker at its default and our consumer at 500, for binaries before round 4)")
    p.add_argument("--worker-arg", action="append", default=[], help="extra worker argument, repeatable ('--flag value' or '-Xkey=value')")
    p.add_argument("--metrics-port", type=int, default=19466)
    p.add_argument("--smoke", action="store_true", help="a short run (harness check, not a result)")
    p.add_argument("--max-load", type=float, default=1.5)
    p.add_argument("--max-foreign", type=float, default=0.25)
    p.add_argument("--json", default=os.path.join(ROOT, "bench", "latency", "results.json"))
    p.add_argument("--chart", default=os.path.join(ROOT, "docs", "benchmark-latency.png"))
    a = p.parse_args()
    if a.smoke:
        a.duration, a.saturation = min(a.duration, 6), min(a.saturation, 16)
        if a.json == p.get_default("json"):
            a.json = "/tmp/duoguard-latency-smoke.json"
        if a.chart == p.get_default("chart"):
            a.chart = "/tmp/duoguard-latency-smoke.png"
    brokers = a.brokers or subprocess.run(["bash", "scripts/broker.sh", "start"], cwd=ROOT, check=True,
                                          stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    loadavg_start = os.getloadavg()
    run = f"latency-{os.getpid()}-{int(time.time())}"
    topics = create_topics(brokers, run, a.partitions)
    worker, cmd = start_worker(a, brokers, topics)
    results = Results(brokers, topics["out"], a.fetch_wait_ms if a.fetch_wait_ms >= 0 else 500)
    load = Load(brokers, topics["in"], a.words, 7)
    try:
        warm = [load.send("warmup") for _ in range(8)]
        load.flush()
        if not results.wait(warm, timeout=300):
            raise RuntimeError("warm-up requests were not answered")
        max_rate = saturation(a, load, results, a.saturation)
        log(f"max sustainable rate: {max_rate:.2f} requests/s")
        rows = [step(a, load, results, worker, f * max_rate, a.duration, f"{round(100 * f)}%") for f in a.fractions]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
        results.close()
    foreign = max(r["foreign_cores"] for r in rows)
    quiet = not a.smoke and loadavg_start[0] <= a.max_load and foreign <= a.max_foreign
    batcher = batcher_settings(a)
    settings = (f"max-batch {batcher['max-batch']}, max-wait {batcher['max-wait-ms']} ms, batch-tokens {batcher['batch-tokens']}, "
                f"fetch-wait {a.fetch_wait_ms} ms")
    text = table(rows, max_rate)
    banner = "" if quiet else f"**{'SMOKE RUN' if a.smoke else 'LOADED MACHINE'}: not a benchmark result** " \
        f"(load {loadavg_start[0]:.2f} at the start, other processes up to {foreign:.2f} cores)\n\n"
    print(banner + f"max sustainable rate {max_rate:.2f} requests/s ({a.saturation} requests at once); batcher: {settings}\n")
    print(text)
    with open(a.json, "w") as f:
        json.dump({"quiet": quiet, "smoke": a.smoke, "loadavg_start": loadavg_start, "max_rate": max_rate, "worker": cmd, "batcher": batcher,
                   "settings": {k: v for k, v in vars(a).items()}, "rows": rows, "table": text}, f, indent=1)
    log("json:", a.json)
    if not quiet and a.chart == p.get_default("chart"):
        log("chart not written (loaded machine); pass --chart PATH to draw it anyway")
        return 3
    try:
        chart(rows, max_rate, settings, a.chart)
        log("chart:", a.chart)
    except ImportError as e:
        log("no chart (matplotlib is in the bench venv: bench/model/bench-env.sh):", e)
    return 0 if quiet or a.smoke else 3


if __name__ == "__main__":
    sys.exit(main())
