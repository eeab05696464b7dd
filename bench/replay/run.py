"""Replay beside live traffic, and the score cache (issue 19; docs/benchmarks.md).

    bash bench/replay/run.sh            # the issue's size: 20,000-request backlog, about 15 minutes quiet
    bash bench/replay/run.sh --quick    # smoke: 2,000, about 6 minutes

What it does, against the local broker (scripts/broker.sh, honouring DUOGUARD_BROKER_PORT):
1. topics: a live request topic (4 partitions) with its result and dead-letter topics, and a
   backlog topic holding --backlog requests of --words words (default 2: short requests, so
   that the 1B model, the size the issue is about, replays 20,000 in minutes on 2 cores; the
   tiny test model would make the model's share of the CPU, the thing being shared, negligible);
2. starts ONE live `duoguard worker` (group G, --commit-interval-ms 1000 so its committed lag
   follows its progress closely) and measures its capacity: --saturation requests at once;
3. the live stream: Poisson arrivals at --live-fraction (0.5) of that capacity for --windows (3)
   windows of --duration (30) seconds each, back to back, open loop; live latency = result Kafka
   timestamp - request Kafka timestamp; each window's p50/p99, and the case's figure is the
   median of its windows (one lucky or unlucky window does not decide). During each case a
   timeline is sampled (bench/replay/timeline.py) and every stall (live requests > --stall-ms)
   is attributed to what it shows (the replay's resume, its threads above --cpu-nice, the local
   broker's relay, the live worker short of CPU and who took it, ...); all of it goes to --json,
   in these cases (--cases):
     a    live alone;
     b    beside `duoguard replay` of the backlog, not yielding;
     lag  beside a replay with --yield-to-group G --max-live-lag N --live-lag-interval-ms 250 only;
     nice beside a replay with --cpu-nice 19 only (same host);
     c    beside a replay with both; after the stream ends this replay must finish the whole
          backlog on its own (--finish-case; its exit status and time are reported);
     c0   (not in the defaults) both, with the resume pacing off (--min-pause-ms 0
          --resume-ramp-ms 0): what the pacing changes;
   the other replays are stopped when their stream ends (each case replays from the start in
   its own group); a replay's throughput = its results timestamped within the stream's window /
   window; the replays run with --max-batch --replay-batch (8) and twice that as queue capacity
   (a paused replay finishes the batch in the model, no more);
4. the score cache: --cache-requests requests where --repeat (30%) of the texts repeat an earlier
   one, replayed with --score-cache-bytes 0 and with --score-cache-bytes 64 MiB: throughput
   (results / (last result - first result)) and hit ratio (the replay prints its cache counters,
   hits at intake plus repeats coalesced at batch time), with --cache-batch (32) as batch size.

Figures are results only from a quiet machine: the 1-minute load average at start and the CPU of
other processes are printed, and the run is marked LOADED otherwise (as bench/latency).
"""
import argparse
import importlib.util
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("latency_run", os.path.join(ROOT, "bench", "latency", "run.py"))
latency = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(latency)  # Results, Load, percentile, metrics, start_worker, busy_seconds
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timeline  # noqa: E402  (bench/replay/timeline.py: the sampled timeline and the stalls' attribution)
log, percentile, busy_seconds = latency.log, latency.percentile, latency.busy_seconds


def create_topics(brokers, run, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic
    names = {"group": f"{run}-live", "in": f"{run}-live-in", "out": f"{run}-live-out", "dlq": f"{run}-live-dlq",
             "backlog": f"{run}-backlog", "cache": f"{run}-cache-in"}
    admin = AdminClient({"bootstrap.servers": brokers})
    wanted = [NewTopic(names["in"], partitions, 1), NewTopic(names["out"], partitions, 1), NewTopic(names["dlq"], 1, 1),
              NewTopic(names["backlog"], partitions, 1), NewTopic(names["cache"], partitions, 1)]
    for suffix in ("b", "lag", "nice", "c", "c0", "nocache", "cache"):
        wanted += [NewTopic(f"{run}-out-{suffix}", partitions, 1), NewTopic(f"{run}-dlq-{suffix}", 1, 1)]
    for f in admin.create_topics(wanted).values():
        f.result(30)
    return names


def produce_texts(brokers, topic, texts, prefix):
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "acks": "all"})
    for i, text in enumerate(texts):
        key = f"{prefix}-{i}"
        producer.produce(topic, key=key, value=json.dumps({"id": key, "text": text}).encode(),
                         headers={"content-type": b"application/json"})
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)


def texts(rng, count, words):
    return [" ".join(rng.choice(latency.VOCAB) for _ in range(words)) for _ in range(count)]


def repeating(rng, count, words, repeat):
    """`count` texts, `repeat` of them copies of an earlier one (uniformly chosen)."""
    out = []
    for i in range(count):
        if out and rng.random() < repeat:
            out.append(rng.choice(out))
        else:
            out.append(" ".join(rng.choice(latency.VOCAB) for _ in range(words)))
    return out


def reader_fetch_wait(a):
    """The bench's own result readers' fetch.wait.max.ms (500, Kafka's default, when the workers keep theirs)."""
    return a.fetch_wait_ms if a.fetch_wait_ms >= 0 else 500


def start_replay(a, brokers, topic, run, suffix, extra, batch):
    """Starts a replay; its stderr (the gate's pause/resume lines, the progress) is read and stamped."""
    cmd = [a.binary, "replay", "--brokers", brokers, "--topic", topic, "--from-beginning", "--to-end",
           "--output-topic", f"{run}-out-{suffix}", "--dlq-topic", f"{run}-dlq-{suffix}", "--group", f"{run}-replay-{suffix}",
           "--model", a.model, "--threads", str(a.threads), "--log-level", "notice",
           "--queue-capacity", str(2 * batch), "--max-batch", str(batch),
           # tansu's first group join takes half the session timeout (docs/kafka.md): 3 s, not 22
           "--session-timeout-ms", "6000"] + extra
    if a.fetch_wait_ms >= 0:
        cmd += ["--fetch-wait-ms", str(a.fetch_wait_ms)]
    log("$", " ".join(cmd))
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stderr_log = timeline.StderrLog(process.stderr)
    return process, time.monotonic()


def stop(process, timeout=120, sig=signal.SIGINT):
    """Stops gracefully (a replay: SIGINT, it finishes what it took), killed after `timeout`."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        out = communicate(process, timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out = communicate(process, None)
    return out or ""


def communicate(process, timeout):
    """stdout of `process` once it exits (its stderr, if piped, is read by its StderrLog)."""
    if getattr(process, "stderr_log", None) is None:
        return process.communicate(timeout=timeout)[0]
    process.wait(timeout=timeout)
    out = process.stdout.read()
    process.stderr_log.thread.join(5)
    return out


def first_result(results, timeout, process):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with results.lock:
            if results.times:
                return True
        time.sleep(0.2)
    return False


def in_window(results, start_ms, end_ms):
    with results.lock:
        return sum(1 for t in results.times.values() if start_ms <= t <= end_ms)


def window_row(lat, label, window, count):
    return {"case": label, "window": window, "requests": count, "answered": len(lat),
            "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99), "max_ms": max(lat) if lat else float("nan")}


def median(values):
    values = sorted(v for v in values if v == v)
    if not values:
        return float("nan")
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def live_step(a, load, live_results, rate, label, sampler, replay=None, baseline_model_ms=None):
    """Poisson arrivals at `rate` for --windows windows of --duration s each, back to back; each
    window's p50/p99 and their medians (one lucky or unlucky window does not decide), the stalls
    and what the timeline shows about each. Returns the row and the whole stream's span (ms)."""
    rng = random.Random(hash(label) & 0xFFFF)
    keys, t0 = [], time.monotonic()
    start_ms, at = int(time.time() * 1000), t0
    span = a.windows * a.duration
    while True:
        at += rng.expovariate(rate)
        if at - t0 > span:
            break
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        keys.append((min(a.windows - 1, int((at - t0) // a.duration)), load.send(label)))
    load.flush()
    end_ms = int(time.time() * 1000)
    complete = live_results.wait([k for _, k in keys], timeout=max(120.0, 4 * a.duration))
    samples = sampler.stop()
    requests = [(w, load.sent[k], live_results.get(k) - load.sent[k]) for w, k in keys if live_results.get(k) is not None]
    windows = [window_row([lat for rw, _, lat in requests if rw == w], label, w + 1, sum(1 for kw, _ in keys if kw == w))
               for w in range(a.windows)]
    lat = [x for _, _, x in requests]
    row = {"case": label, "rate": rate, "requests": len(keys), "answered": len(lat), "complete": complete,
           "p50_ms": median([w["p50_ms"] for w in windows]), "p99_ms": median([w["p99_ms"] for w in windows]),
           "pooled_p50_ms": percentile(lat, 0.5), "pooled_p99_ms": percentile(lat, 0.99),
           "max_ms": max(lat) if lat else float("nan"), "windows": windows}
    busy = [s["model_ms_per_batch"] for s in samples if s["model_ms_per_batch"] is not None]
    row["model_ms_per_batch"] = sum(busy) / len(busy) if busy else None
    events = replay.stderr_log.events() if replay is not None else []
    stall_rows = []
    for stall in timeline.stalls([(sent, x) for _, sent, x in requests], a.stall_ms):
        summary = timeline.summarize(stall, samples, events, baseline_model_ms, a.threads)
        summary["offset_s"] = (stall["start"] - start_ms) / 1000
        stall_rows.append(summary)
    row["stalls"] = stall_rows
    row["stall_causes"] = {}
    for s in stall_rows:
        row["stall_causes"][s["cause"]] = row["stall_causes"].get(s["cause"], 0) + 1
    row["replay_unniced_cpu_s"] = dict(sampler.unniced)
    row["gate_events"] = [(t - start_ms, kind) for t, kind, _ in events]
    row["timeline"] = {"start_ms": start_ms, "requests": [(sent - start_ms, x) for _, sent, x in requests], "samples": samples}
    log(f"  {label}: {len(lat)}/{len(keys)} live answered; median of {a.windows} windows: p50 {row['p50_ms']:.0f} ms, "
        f"p99 {row['p99_ms']:.0f} ms; {len(stall_rows)} stalls > {a.stall_ms} ms " + json.dumps(row["stall_causes"]))
    timeline.report(label, windows, stall_rows, sampler.unniced, log)
    return row, start_ms, end_ms


def cache_run(a, brokers, run, topic, count, cached):
    suffix = "cache" if cached else "nocache"
    results = latency.Results(brokers, f"{run}-out-{suffix}", reader_fetch_wait(a))
    replay, _ = start_replay(a, brokers, topic, run, suffix, ["--score-cache-bytes", str(64 << 20 if cached else 0)], a.cache_batch)
    out = ""
    try:
        out = communicate(replay, a.cache_timeout)
    except subprocess.TimeoutExpired:
        out = stop(replay)
    results.wait([f"cache-{i}" for i in range(count)], timeout=60)
    with results.lock:
        stamps = sorted(results.times.values())
    results.close()
    rate = (len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1000) if len(stamps) > 1 and stamps[-1] > stamps[0] else float("nan")
    m = re.search(r"hit ratio ([0-9.]+) without the model, ([0-9.]+) at intake", out)
    row = {"cache": cached, "results": len(stamps), "requests_per_s": rate, "hit_ratio": float(m.group(1)) if m else 0.0,
           "intake_hit_ratio": float(m.group(2)) if m else 0.0,
           "exit": replay.returncode, "summary": out.strip().splitlines()}
    log(f"  cache {'on ' if cached else 'off'}: {len(stamps)}/{count} results, {rate:.2f} req/s, hit ratio {row['hit_ratio']:.3f}")
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.environ.get("DUOGUARD_BIN", os.path.join(ROOT, ".build", "release", "duoguard")))
    p.add_argument("--model", default=os.path.join(ROOT, "models", "random-1b-q4_0.gguf"))
    p.add_argument("--brokers", help="default: start scripts/broker.sh")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--threads", type=int, default=2, help="model threads of each process (live worker and replay)")
    p.add_argument("--quick", action="store_true",
                   help="smoke size (about 6 minutes quiet): --backlog 2000 --windows 2 --duration 15 --cache-requests 600 --saturation 300")
    p.add_argument("--words", type=int, default=2,
                   help="words per request text (2: short requests, so the 1B model replays 20,000 in minutes on 2 cores)")
    p.add_argument("--windows", type=int, default=3,
                   help="measurement windows per case, back to back; each window's p50/p99 is reported and the case's "
                        "figure is the median of its windows (one lucky or unlucky window does not decide)")
    p.add_argument("--duration", type=float, default=30, help="seconds of the live stream per window")
    p.add_argument("--stall-ms", type=int, default=1000,
                   help="a live request slower than this is part of a stall; each stall is attributed from the timeline")
    p.add_argument("--sample-ms", type=int, default=250, help="the timeline's sampling interval (bench/replay/timeline.py)")
    p.add_argument("--backlog", type=int, default=20000, help="backlog requests replayed (the issue's size)")
    p.add_argument("--saturation", type=int, default=1000, help="requests of the live capacity measurement")
    p.add_argument("--cases", default="a,b,lag,nice,c",
                   help="a: live alone; b: replay not yielding; lag: --yield-to-group only; nice: --cpu-nice only; c: both; "
                        "c0: both without the resume pacing")
    p.add_argument("--finish-case", default="c", help="the case whose replay must finish the backlog after the live stream")
    p.add_argument("--cpu-nice", type=int, default=19, help="the replays' --cpu-nice in cases nice and c")
    p.add_argument("--lag-interval-ms", type=int, default=250, help="the replays' --live-lag-interval-ms")
    p.add_argument("--live-fraction", type=float, default=0.5)
    p.add_argument("--max-live-lag", type=int,
                   help="default: the live rate x 2 s (its committed lag normally spans rate x (latency .. latency + 1 s commit interval))")
    p.add_argument("--replay-batch", type=int, default=8,
                   help="replays' --max-batch (and half their --queue-capacity): what a pausing replay finishes first is one batch")
    p.add_argument("--cache-requests", type=int, default=2000)
    p.add_argument("--cache-batch", type=int, default=32,
                   help="the cache replays' --max-batch and --queue-capacity (a repeat of a text still queued or in the model misses)")
    p.add_argument("--repeat", type=float, default=0.3)
    p.add_argument("--cache-words", type=int, default=8,
                   help="words per text of the cache stream (long enough that texts other than the repeats almost never coincide)")
    p.add_argument("--cache-timeout", type=float, default=300)
    p.add_argument("--fetch-wait-ms", type=int, default=10,
                   help="--fetch-wait-ms of the live worker and the replays, and this bench's readers' fetch.wait.max.ms "
                        "(default 10: the local broker holds a waiting fetch to its end, docs/kafka.md; against Apache Kafka "
                        "pass 500, Kafka's default; -1 leaves the workers at their default, for binaries before round 4)")
    p.add_argument("--metrics-port", type=int, default=19467)
    p.add_argument("--max-load", type=float, default=1.5)
    p.add_argument("--json", default=os.path.join(ROOT, "bench", "replay", "results.json"))
    a = p.parse_args()
    if a.quick:
        a.backlog, a.windows, a.duration, a.cache_requests, a.saturation = 2000, 2, 15, 600, 300
    a.max_batch = a.max_wait_ms = a.batch_tokens = None  # the live worker runs with its defaults
    a.worker_arg = []
    for path in (a.binary, a.model):
        if not os.path.exists(path):
            sys.exit(f"{path} not found (see bench/replay/run.sh)")
    load_start = os.getloadavg()[0]
    busy0, t_start = busy_seconds(), time.monotonic()
    brokers = a.brokers or subprocess.run(["bash", "scripts/broker.sh", "start"], cwd=ROOT, check=True,
                                           stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    run = f"replaybench-{os.getpid()}-{int(time.time())}"
    names = create_topics(brokers, run, a.partitions)
    rng = random.Random(19)
    produce_texts(brokers, names["backlog"], texts(rng, a.backlog, a.words), "backlog")
    produce_texts(brokers, names["cache"], repeating(rng, a.cache_requests, a.cache_words, a.repeat), "cache")

    live_results = latency.Results(brokers, names["out"], reader_fetch_wait(a))
    load = latency.Load(brokers, names["in"], a.words, seed=5)
    topics = {"group": names["group"], "in": names["in"], "out": names["out"], "dlq": names["dlq"]}
    # The live worker commits every second (its flags are bench/latency's; the interval goes by
    # environment), so the lag a yielding replay reads follows the live progress closely.
    os.environ["DUOGUARD_COMMIT_INTERVAL_MS"] = "1000"
    worker, _ = latency.start_worker(a, brokers, topics)
    del os.environ["DUOGUARD_COMMIT_INTERVAL_MS"]
    worker_extra_note = f"live worker: 1 process, duoguard worker defaults but --commit-interval-ms 1000 and --fetch-wait-ms {a.fetch_wait_ms}"
    rows, replays = [], {}
    try:
        # Warm up, then capacity (the live worker alone).
        latency.saturation(a, load, live_results, 8)
        capacity = latency.saturation(a, load, live_results, a.saturation)
        rate = capacity * a.live_fraction
        max_lag = a.max_live_lag or max(4, int(rate * 2))
        log(f"live capacity {capacity:.2f} req/s; live stream at {rate:.2f} req/s; --max-live-lag {max_lag}")

        yielding = ["--yield-to-group", names["group"], "--live-topic", names["in"], "--max-live-lag", str(max_lag),
                    "--live-lag-interval-ms", str(a.lag_interval_ms)]
        nice = ["--cpu-nice", str(a.cpu_nice)]
        # Each mechanism alone, then together; only the last case must finish its backlog.
        cases = {"b": ("b-replay-not-yielding", []), "lag": ("c1-yield-to-group-only", yielding),
                 "nice": ("c2-cpu-nice-only", nice), "c": ("c-yield-to-group-and-cpu-nice", yielding + nice),
                 # (c) with the resume pacing off: the A/B of --min-pause-ms/--resume-ramp-ms (not in the defaults)
                 "c0": ("c0-both-without-resume-pacing", yielding + nice + ["--min-pause-ms", "0", "--resume-ramp-ms", "0"])}
        wanted = [c.strip() for c in a.cases.split(",") if c.strip()]
        for case in wanted:
            if case != "a" and case not in cases:
                sys.exit(f"--cases: unknown case {case!r} (a, b, lag, nice, c, c0)")
        broker = timeline.broker_pids(ROOT, brokers)
        sampler = lambda replay=None, nice=0: timeline.Sampler(latency.metrics, a.metrics_port, worker.pid, broker,
                                                               replay.pid if replay else None, nice, a.sample_ms / 1000)
        baseline_model_ms = None
        if "a" in wanted:
            row, _, _ = live_step(a, load, live_results, rate, "a-live-alone", sampler())
            baseline_model_ms = row["model_ms_per_batch"]
            rows.append(row)
        for case in [c for c in wanted if c != "a"]:
            label, extra = cases[case]
            results = latency.Results(brokers, f"{run}-out-{case}", reader_fetch_wait(a))
            replay, started = start_replay(a, brokers, names["backlog"], run, case, extra, a.replay_batch)
            if not first_result(results, 120, replay):
                out = stop(replay)
                raise RuntimeError(f"case {case}: the replay produced nothing within 120 s (exit {replay.returncode}): {out.strip()}")
            niced = a.cpu_nice if "--cpu-nice" in extra else 0
            row, start_ms, end_ms = live_step(a, load, live_results, rate, label, sampler(replay, niced), replay, baseline_model_ms)
            row["replay_results_in_window"] = in_window(results, start_ms, end_ms)
            row["replay_per_s_in_window"] = row["replay_results_in_window"] / ((end_ms - start_ms) / 1000)
            if case != a.finish_case:
                out = stop(replay)
            else:
                try:  # the live stream is over: the replay must finish the backlog by itself
                    out = communicate(replay, max(120.0, 3 * a.backlog / max(capacity, 0.1)))
                except subprocess.TimeoutExpired:
                    out = stop(replay)
                    row["replay_finished"] = False
                else:
                    row["replay_finished"] = replay.returncode == 0 and "replay done" in out
                row["replay_seconds"] = time.monotonic() - started
                results.wait([f"backlog-{i}" for i in range(a.backlog)], timeout=30)  # results still on their way
                with results.lock:
                    row["replay_answered"] = len(results.times)
            row["replay_summary"] = out.strip().splitlines()
            results.close()
            rows.append(row)
            log(f"  case {case}: replay {row['replay_per_s_in_window']:.2f} req/s beside the live stream; " + "; ".join(row["replay_summary"]))
    finally:
        stop(worker, timeout=60, sig=signal.SIGTERM)
        live_results.close()

    cache_rows = [cache_run(a, brokers, run, names["cache"], a.cache_requests, cached) for cached in (False, True)]
    wall = time.monotonic() - t_start
    foreign = max(0.0, busy_seconds() - busy0) / wall
    loaded = load_start > a.max_load
    print()
    print(f"replay beside live traffic ({os.path.basename(a.model)}, {a.threads} threads per process, backlog {a.backlog}, "
          f"live {rows[0]['rate']:.2f} req/s = {a.live_fraction:.0%} of {capacity:.2f}, --max-live-lag {max_lag})"
          + ("  ** LOADED: not a result **" if loaded else ""))
    print(f"(live p50/p99: the median of {a.windows} windows of {a.duration:.0f} s; each window's p99 in brackets; "
          f"stalls: live requests > {a.stall_ms} ms, by the cause the timeline points to)")
    print("| case | live answered | live p50 ms | live p99 ms (windows) | p99 / (a) | replay req/s beside live | stalls | replay finished after live |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        finished = "" if "replay_finished" not in r else f"{'yes' if r['replay_finished'] else 'NO'} ({r['replay_answered']}/{a.backlog}, {r['replay_seconds']:.0f} s)"
        per_window = "/".join(f"{w['p99_ms']:.0f}" for w in r["windows"])
        causes = "; ".join(f"{n}x {c}" for c, n in r["stall_causes"].items()) or "none"
        print(f"| {r['case']} | {r['answered']}/{r['requests']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} ({per_window}) | "
              f"{r['p99_ms'] / rows[0]['p99_ms']:.2f} | {r.get('replay_per_s_in_window', float('nan')):.2f} | {causes} | {finished} |")
    print()
    print(f"score cache ({a.cache_requests} requests, {a.repeat:.0%} repeat an earlier text)")
    print("| cache | results | requests/s | hit ratio (no model run) | of which at intake |")
    print("|---|---:|---:|---:|---:|")
    for r in cache_rows:
        print(f"| {'on (64 MiB)' if r['cache'] else 'off'} | {r['results']} | {r['requests_per_s']:.2f} | {r['hit_ratio']:.3f} | {r['intake_hit_ratio']:.3f} |")
    print(f"\nload average at start {load_start:.2f}, CPU of all processes {foreign:.2f} cores over {wall:.0f} s; {worker_extra_note}")
    with open(a.json, "w") as f:
        json.dump({"live": rows, "cache": cache_rows, "capacity": capacity, "max_live_lag": max_lag, "loadavg": load_start,
                   "loaded": loaded, "wall_s": wall, "args": vars(a)}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
