"""What happened while a live request stalled (issue 19): a timeline sampled during each case of
bench/replay/run.py, and the attribution of each stall to what the timeline shows.

Every --sample-ms (250) the sampler records, with the wall clock (ms, the clock of the requests'
Kafka timestamps):
  - the live worker's /metrics: stream batches and their model seconds (so: batches and model ms
    in the interval), queue depth, results produced;
  - CPU seconds of the live worker, the replay, tansu and the Python relay (the local broker, shared
    by both streams and at nice 0: a local artifact, a real cluster runs elsewhere);
  - the replay's threads (/proc/PID/task): every thread whose nice is below the replay's
    --cpu-nice (librdkafka's threads included) and the CPU it used in the interval, so "the replay
    at nice 19 still holds a core" can be read, not guessed.
The replay's stderr is read line by line and stamped on arrival: its "replay paused"/"replay
resumed" lines are the gate's events.

A stall is a run of live requests whose latency exceeds --stall-ms; requests sent within 1 s of
each other belong to one stall. For each stall the timeline over [first send, last answer] is
summed up, with the tentative cause the numbers point to (see `cause`).
"""
import os
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def now_ms():
    return int(time.time() * 1000)


def task_stats(pid):
    """{tid: (comm, nice, cpu seconds)} of every thread of `pid` ({} once it is gone)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        # fields[0] is the state (field 3); utime 14, stime 15, nice 19 (1-based, man 5 proc)
        out[int(tid)] = (comm, int(fields[16]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def cpu(pid):
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def busy_seconds():
    """CPU seconds of every process on the machine since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def broker_pids(root, brokers):
    """tansu's and the relay's pids from scripts/broker.sh's state (None when not found there)."""
    port = brokers.split(",")[0].rsplit(":", 1)[-1]
    pids = {}
    for name in ("tansu", "relay"):
        try:
            with open(os.path.join(root, ".run", f"broker-{port}", f"{name}.pid")) as f:
                pids[name] = int(f.read().strip())
        except (OSError, ValueError):
            pids[name] = None
    return pids


class StderrLog:
    """Reads a child's stderr, stamping each line with the wall clock on arrival."""

    def __init__(self, stream):
        self.lines = []
        self.thread = threading.Thread(target=self.run, args=(stream,), daemon=True)
        self.thread.start()

    def run(self, stream):
        for line in stream:
            self.lines.append((now_ms(), line.rstrip("\n")))

    def events(self):
        """The gate's pause/resume lines: [(ms, 'pause'|'resume', line)]."""
        out = []
        for t, line in list(self.lines):
            if "replay paused" in line:
                out.append((t, "pause", line))
            elif "replay resumed" in line:
                out.append((t, "resume", line))
        return out


class Sampler:
    """Samples the timeline every `interval` s in a thread until `stop()`."""

    def __init__(self, metrics, metrics_port, worker_pid, broker, replay_pid=None, replay_nice=0, interval=0.25):
        self.metrics, self.port = metrics, metrics_port
        self.worker_pid, self.broker, self.replay_pid, self.replay_nice = worker_pid, broker, replay_pid, replay_nice
        self.interval = interval
        self.samples = []
        self.unniced = {}  # "comm" -> CPU seconds used while below the replay's nice
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def read(self):
        try:
            m = self.metrics(self.port)
        except OSError:
            m = {}
        tasks = task_stats(self.replay_pid) if self.replay_pid else {}
        return {"t": now_ms(), "batches": m.get('duoguard_batch_seconds_count{kind="stream"}', 0.0),
                "model_s": m.get('duoguard_batch_seconds_sum{kind="stream"}', 0.0),
                "queue": m.get("duoguard_queue_depth", 0.0), "produced": m.get("duoguard_results_produced_total", 0.0),
                "worker_cpu": cpu(self.worker_pid), "replay_cpu": cpu(self.replay_pid),
                "tansu_cpu": cpu(self.broker.get("tansu")), "relay_cpu": cpu(self.broker.get("relay")), "tasks": tasks,
                "all_cpu": busy_seconds()}

    def run(self):
        previous = self.read()
        while not self._stop.wait(self.interval):
            current = self.read()
            self.samples.append(self.delta(previous, current))
            previous = current

    def delta(self, a, b):
        dt = max(1e-3, (b["t"] - a["t"]) / 1000)

        def cores(key):
            return None if a[key] is None or b[key] is None else max(0.0, b[key] - a[key]) / dt

        batches = b["batches"] - a["batches"]
        unniced_cpu, unniced_names = 0.0, set()
        for tid, (comm, nice, seconds) in b["tasks"].items():
            if self.replay_nice > 0 and nice < self.replay_nice:
                used = seconds - a["tasks"].get(tid, (comm, nice, seconds))[2]
                unniced_cpu += used
                unniced_names.add(comm)
                self.unniced[comm] = self.unniced.get(comm, 0.0) + used
        return {"t0": a["t"], "t1": b["t"], "batches": batches,
                "model_ms_per_batch": 1000 * (b["model_s"] - a["model_s"]) / batches if batches else None,
                "model_busy": (b["model_s"] - a["model_s"]) / dt, "queue": b["queue"], "produced": b["produced"] - a["produced"],
                "worker_cores": cores("worker_cpu"), "replay_cores": cores("replay_cpu"),
                "broker_cores": (cores("tansu_cpu") or 0.0) + (cores("relay_cpu") or 0.0),
                "relay_cores": cores("relay_cpu"), "replay_threads": len(b["tasks"]),
                "other_cores": max(0.0, cores("all_cpu") - sum(cores(k) or 0.0 for k in
                                                               ("worker_cpu", "replay_cpu", "tansu_cpu", "relay_cpu"))),
                "replay_unniced_threads": sorted(unniced_names), "replay_unniced_cores": unniced_cpu / dt}

    def stop(self):
        self._stop.set()
        self.thread.join()
        return self.samples


def stalls(requests, stall_ms, gap_ms=1000):
    """Runs of requests slower than `stall_ms`: [(first send, last answer, [latencies])]."""
    slow = sorted((sent, lat) for sent, lat in requests if lat > stall_ms)
    out = []
    for sent, lat in slow:
        if out and sent - out[-1]["last_sent"] <= gap_ms:
            s = out[-1]
            s["last_sent"], s["end"], s["latencies"] = sent, max(s["end"], sent + lat), s["latencies"] + [lat]
        else:
            out.append({"start": sent, "last_sent": sent, "end": sent + lat, "latencies": [lat]})
    return out


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarize(stall, samples, events, baseline_model_ms, threads):
    """The timeline over one stall, and the cause it points to."""
    inside = [s for s in samples if s["t1"] > stall["start"] and s["t0"] < stall["end"]]
    during = [e for e in events if stall["start"] - 2000 <= e[0] <= stall["end"]]
    # A resume can cause a stall only if it came first: within 2 s before its first slow request.
    leading = [e for e in events if stall["start"] - 2000 <= e[0] <= stall["start"] + 250]
    row = {"start_ms": stall["start"], "seconds": (stall["end"] - stall["start"]) / 1000, "requests": len(stall["latencies"]),
           "worst_ms": max(stall["latencies"]), "samples": len(inside),
           "model_busy": mean([s["model_busy"] for s in inside]), "worker_cores": mean([s["worker_cores"] for s in inside]),
           "replay_cores": mean([s["replay_cores"] for s in inside]), "broker_cores": mean([s["broker_cores"] for s in inside]),
           "other_cores": mean([s["other_cores"] for s in inside]),
           "relay_cores_max": max([s["relay_cores"] or 0.0 for s in inside], default=None),
           "queue_max": max([s["queue"] for s in inside], default=None),
           "model_ms_per_batch": mean([s["model_ms_per_batch"] for s in inside]),
           "idle_intervals": sum(1 for s in inside if s["batches"] == 0),
           "replay_unniced_cores": mean([s["replay_unniced_cores"] for s in inside]),
           "gate_events": [kind for _, kind, _ in during], "leading_gate_events": [kind for _, kind, _ in leading]}
    row["cause"] = cause(row, baseline_model_ms, threads)
    return row


def cause(r, baseline_model_ms, threads):
    """The tentative cause, in order of how directly the timeline shows it."""
    if r["samples"] == 0:
        return "no samples"
    if "resume" in r["leading_gate_events"]:
        return "replay resumed within 2 s before it"
    if (r["replay_unniced_cores"] or 0) > 0.2:
        return "replay threads above --cpu-nice used CPU"
    if (r["relay_cores_max"] or 0) > 0.85:
        return "broker relay saturated (one core)"
    # While its model runs the live worker keeps `threads` cores busy (its pool spins between
    # jobs); far less than model busy x threads means its threads waited for a core.
    expected = (r["model_busy"] or 0) * threads
    if expected > 0.3 and (r["worker_cores"] or 0) < 0.6 * expected:
        takers = {"replay": r["replay_cores"] or 0.0, "broker": r["broker_cores"] or 0.0, "other processes": r["other_cores"] or 0.0}
        return f"live worker short of CPU while its model ran (most CPU elsewhere: {max(takers, key=takers.get)})"
    if (r["queue_max"] or 0) == 0 and r["idle_intervals"] * 2 >= r["samples"]:
        return "worker idle, nothing queued: requests not delivered (broker/fetch)"
    if baseline_model_ms and (r["model_ms_per_batch"] or 0) > 2 * baseline_model_ms:
        return "live batches slow in the model (CPU or memory shared)"
    if (r["replay_cores"] or 0) > 0.5 and (r["worker_cores"] or 0) < 1.5:
        return "replay holds CPU while live is short of it"
    return "unclear"


def report(label, window_rows, stall_rows, unniced, log):
    for w in window_rows:
        log(f"    {label} window {w['window']}: {w['answered']}/{w['requests']}, p50 {w['p50_ms']:.0f} ms, p99 {w['p99_ms']:.0f} ms, "
            f"max {w['max_ms']:.0f} ms")
    for s in stall_rows[:10]:
        fmt = lambda v, f="{:.2f}": "-" if v is None else f.format(v)
        log(f"    stall at +{s['offset_s']:.1f} s: {s['requests']} requests, worst {s['worst_ms']:.0f} ms, over {s['seconds']:.1f} s; "
            f"model busy {fmt(s['model_busy'])}, live worker {fmt(s['worker_cores'])} cores, replay {fmt(s['replay_cores'])}, "
            f"broker {fmt(s['broker_cores'])} (relay max {fmt(s['relay_cores_max'])}), others {fmt(s['other_cores'])}, queue max {fmt(s['queue_max'], '{:.0f}')}, "
            f"model {fmt(s['model_ms_per_batch'], '{:.0f}')} ms/batch, gate {s['gate_events'] or '-'} -> {s['cause']}")
    if len(stall_rows) > 10:
        log(f"    ... {len(stall_rows) - 10} more stalls (results.json)")
    if unniced:
        log("    replay threads below --cpu-nice: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(unniced.items())))
