"""Memory per host and start-to-ready time: N processes holding the 1B model, packed weights in
private memory vs mapped from one shared packed-weights file (docs/benchmarks.md, "Memory per host").

    python3 bench/memory/run.py --binary .build-speed/release/duoguard            # 4 processes, 1B Q4_0
    python3 bench/memory/run.py --binary .build/debug/duoguard --model M --smoke  # harness check

Each process is `duoguard bench --lengths 16 --tokens 16 --hold S`: it loads the model, runs a
warm-up and one 16-token batch (every packed weight page is read once, as in a serving worker),
prints {"ready":...} and holds the model. Start-to-ready is the wall time from spawn to that line
(process start, model load, packing or mapping, one forward pass). PSS is read from
/proc/<pid>/smaps_rollup while all N hold the model: a page shared by k processes counts 1/k in
each, so the sum over processes is what the host really spends.

Modes: `private` (--packed-weights private: every process packs its own copy), `shared`
(--packed-weights DIR: the first process builds DIR/<model>.packed, the others map it).
Start-to-ready, one process at a time: private; shared cold (no packed file yet: it is built);
shared warm (the file exists and is in the page cache); with --drop-caches (root), also shared
with a cold page cache. PSS figures do not depend on the machine being quiet; times do.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def rollup(pid):
    """smaps_rollup fields in MiB (Rss, Pss, Pss_Anon, Pss_File, ...)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return out


def start(a, storage, hold):
    cmd = [a.binary, "bench", "--model", a.model, "--lengths", "16", "--tokens", "16", "--threads", str(a.threads),
           "--packed-weights", storage, "--hold", str(hold)]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return p, t0


def ready(p, t0, timeout=900):
    """Reads the process's lines up to {"ready":...}; returns (seconds from spawn, the line)."""
    while True:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"process {p.pid} exited with {p.wait()} before it was ready")
        if line.startswith('{"'):
            o = json.loads(line)
            if o.get("ready"):
                return time.monotonic() - t0, o
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("not ready in time")


def stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def group(a, storage, n):
    """N processes started together; their PSS once all hold the model."""
    procs = [start(a, storage, 3600) for _ in range(n)]
    try:
        times = [ready(p, t0) for p, t0 in procs]
        time.sleep(1)
        mem = [rollup(p.pid) for p, _ in procs]
    finally:
        stop([p for p, _ in procs])
    return {"processes": n, "storage": storage, "ready_s": [t for t, _ in times], "packed_weights": [o["packed_weights"] for _, o in times],
            "pss_mib": [m.get("Pss", 0) for m in mem], "rss_mib": [m.get("Rss", 0) for m in mem],
            "pss_anon_mib": [m.get("Pss_Anon", 0) for m in mem], "pss_file_mib": [m.get("Pss_File", 0) for m in mem],
            "total_pss_mib": sum(m.get("Pss", 0) for m in mem)}


def single(a, storage, label):
    p, t0 = start(a, storage, 0)
    t, o = ready(p, t0)
    p.wait()
    log(f"  start-to-ready {label}: {t:.2f} s (load {o['load_s']:.2f} s): {o['packed_weights']}")
    return {"label": label, "ready_s": t, "load_s": o["load_s"], "packed_weights": o["packed_weights"]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(ROOT, ".build-speed", "release", "duoguard"))
    p.add_argument("--model", default=os.path.join(ROOT, "models", "random-1b-q4_0.gguf"))
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache-dir", help="packed-weights directory (default: a fresh temporary one, removed after)")
    p.add_argument("--drop-caches", action="store_true", help="also time a cold page cache (root; disturbs other work)")
    p.add_argument("--smoke", action="store_true", help="harness check: 2 processes")
    p.add_argument("--json", default=os.path.join(ROOT, "bench", "memory", "results.json"))
    a = p.parse_args()
    if a.smoke:
        a.workers = min(a.workers, 2)
        if a.json == p.get_default("json"):
            a.json = "/tmp/duoguard-memory-smoke.json"
    cache = a.cache_dir or tempfile.mkdtemp(prefix="duoguard-packed-", dir=os.path.dirname(os.path.abspath(a.model)))
    packed = os.path.join(cache, os.path.basename(a.model) + ".packed")
    out = {"model": a.model, "model_mib": os.path.getsize(a.model) / 2**20, "workers": a.workers,
           "loadavg_start": os.getloadavg(), "start_to_ready": [], "groups": []}
    try:
        if os.path.exists(packed):
            os.unlink(packed)
        out["start_to_ready"].append(single(a, "private", "private memory (packs at load)"))
        out["start_to_ready"].append(single(a, cache, "shared, cold (no packed file: builds it)"))
        out["start_to_ready"].append(single(a, cache, "shared, warm (file in the page cache)"))
        if a.drop_caches:
            drop_caches()
            out["start_to_ready"].append(single(a, cache, "shared, cold page cache"))
            drop_caches()
            out["start_to_ready"].append(single(a, "private", "private, cold page cache"))
        out["packed_file_mib"] = os.path.getsize(packed) / 2**20
        for storage in ("private", cache):
            one = group(a, storage, 1)
            many = group(a, storage, a.workers)
            ratio = many["total_pss_mib"] / one["total_pss_mib"]
            log(f"  {'private' if storage == 'private' else 'shared'}: one process PSS {one['total_pss_mib']:.0f} MiB, "
                f"{a.workers} processes total PSS {many['total_pss_mib']:.0f} MiB = {ratio:.2f}x one")
            out["groups"].append({"storage": "private" if storage == "private" else "shared", "one": one, "many": many, "ratio": ratio})
    finally:
        if not a.cache_dir:
            shutil.rmtree(cache, ignore_errors=True)
    out["loadavg_end"] = os.getloadavg()
    lines = [f"| packed weights | 1 process PSS MiB | {a.workers} processes total PSS MiB | total / one | per process PSS MiB |",
             "|---|---:|---:|---:|---|"]
    for g in out["groups"]:
        lines.append(f"| {g['storage']} | {g['one']['total_pss_mib']:.0f} | {g['many']['total_pss_mib']:.0f} | **{g['ratio']:.2f}** | "
                     + ", ".join("%.0f" % x for x in g["many"]["pss_mib"]) + " |")
    lines += ["", "| start to ready (spawn -> model loaded, one forward pass done) | s | model load s |", "|---|---:|---:|"]
    for s in out["start_to_ready"]:
        lines.append(f"| {s['label']} | {s['ready_s']:.2f} | {s['load_s']:.2f} |")
    out["table"] = "\n".join(lines)
    print(f"model {a.model} ({out['model_mib']:.0f} MiB), packed file {out['packed_file_mib']:.0f} MiB; "
          f"load average {out['loadavg_start'][0]:.2f} at the start (times are results only on a quiet machine)\n")
    print(out["table"])
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
    log("json:", a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
