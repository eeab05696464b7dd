"""End-to-end benchmark of the DuoGuard classifier against llama.cpp and PyTorch, in one run.

    .venv/bin/python bench/model/run.py                   # everything, defaults below
    .venv/bin/python bench/model/run.py --engines duoguard torch --types q8_0

What it does (see docs/benchmarks.md for the reading):
1. builds `duoguard` (release, --scratch-path .build-speed) unless --binary is given;
2. makes the full-size random models if missing (scripts/model-fixtures.py --full-size, then
   `duoguard convert` to q8_0 / q4_0) and llama.cpp-only copies without the classifier head;
3. measures this CPU's int8 and fp32 peak with /work/shared/tools/cpu-peak.c;
4. per quantization type, runs `duoguard bench` and llama.cpp (llama-cpp-python, embedding mode,
   pooling LAST) on the same weights, threads, token ids and batch budget; PyTorch fp32 once;
   each engine in its own process (peak RSS is its own);
5. prints a table (absolute figures, ratios, % of the int8 peak), writes JSON, draws a PNG;
6. optionally (--accuracy N) compares Q8_0/Q4_0 logits with PyTorch fp32 on N texts of the
   tokenizer corpus (their Llama-3.2 token ids).

The machine is shared: engines run one after the other, interleaved per quantization type,
and the JSON keeps both wall-clock and process CPU time for every point. The table uses
wall-clock (what a user gets) unless --cpu-basis.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = os.path.join(ROOT, ".venv", "bin", "python")
HERE = os.path.dirname(os.path.abspath(__file__))
MACS_PER_TOKEN = 0.973e9  # body of Llama-3.2-1B per token (cpu-peak.c's figure)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loadavg():
    return os.getloadavg()[0]


def run_json_lines(cmd, env=None):
    log("$", " ".join(cmd))
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        log(p.stderr[-3000:])
        raise RuntimeError(f"{cmd[0]} failed with {p.returncode}")
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    log(f"  {len(rows)} rows in {time.monotonic() - t0:.0f} s, load {loadavg():.1f}")
    return rows


def cpu_peak(threads):
    """Runs cpu-peak.c; also derives a CPU-time peak from the child's rusage, since the
    wall-clock figure drops when other processes share the cores."""
    src = "/work/shared/tools/cpu-peak.c"
    exe = "/tmp/duoguard-cpu-peak"
    if not os.path.exists(exe):
        subprocess.run(["cc", "-O3", "-funroll-loops", "-mavx2", "-mfma", "-pthread", src, "-o", exe], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run([exe, str(threads)], capture_output=True, text=True, check=True).stdout
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    int8 = float(out.split("int8 maddubs+madd:")[1].split()[0])
    fp32 = float(out.split("fp32 FMA:")[1].split()[0])
    # The run is int8 loop then fp32 loop; if both were slowed alike, the busy fraction of
    # the cores is cpu / (threads * wall), and the CPU-time peak is the wall peak over it.
    busy = min(1.0, cpu / (threads * wall))
    return {"threads": threads, "int8_gmac_wall": int8, "fp32_gmac_wall": fp32,
            "busy_fraction": busy, "int8_gmac_cpu": int8 / busy, "fp32_gmac_cpu": fp32 / busy,
            "raw": out.strip()}


def ensure_models(binary, types):
    models = os.path.join(ROOT, "models")
    hf = os.path.join(models, "duoguard-random-1b")
    if not os.path.exists(os.path.join(hf, "config.json")):
        subprocess.run([PY, "scripts/model-fixtures.py", "--full-size"], cwd=ROOT, check=True)
    paths = {}
    for t in types:
        ours = os.path.join(models, f"random-1b-{t}.gguf")
        if not os.path.exists(ours):
            subprocess.run([binary, "convert", hf, "--output", ours, "--type", t], cwd=ROOT, check=True)
        peer = os.path.join(models, f"random-1b-{t}.llama.gguf")
        if not os.path.exists(peer) or os.path.getmtime(peer) < os.path.getmtime(ours):
            log(f"writing {peer} (no cls.output.weight, for llama.cpp)")
            subprocess.run([PY, os.path.join(HERE, "strip_head.py"), ours, peer], check=True)
        paths[t] = (ours, peer)
    return hf, paths


def common_args(a):
    return ["--lengths", *map(str, a.lengths), "--tokens", str(a.tokens), "--batch-tokens", str(a.batch_tokens),
            "--repeats", str(a.repeats), "--threads", str(a.threads), "--seed", str(a.seed)]


def accuracy(binary, hf, paths, n, batch_tokens):
    """max |Δprob| and unsafe-verdict agreement of each quantized model vs PyTorch fp32."""
    corpus = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures", "parity.jsonl")
    lists = []
    with open(corpus) as f:
        for line in f:
            ids = json.loads(line)["l32"]
            if len(ids) > 1:
                lists.append(ids[:128])
    # An even spread over the corpus (it is grouped by kind of text).
    step = max(1, len(lists) // n)
    lists = lists[::step][:n]
    path = "/tmp/duoguard-accuracy-ids.jsonl"
    with open(path, "w") as f:
        for ids in lists:
            f.write(json.dumps(ids) + "\n")
    ref = run_json_lines([PY, os.path.join(HERE, "peers.py"), "torch", "--model", hf, "--score-ids", path,
                          "--threads", "2", "--batch-tokens", str(batch_tokens)])
    import math

    def probs(row):
        return [1 / (1 + math.exp(-x)) for x in row["logits"]]

    out = {"texts": len(lists), "max_tokens": 128}
    for t, (ours, _) in paths.items():
        rows = run_json_lines([binary, "bench", "--model", ours, "--score-ids", path, "--batch-tokens", str(batch_tokens)])
        dp = [max(abs(a - b) for a, b in zip(probs(r), probs(q))) for r, q in zip(rows, ref)]
        dl = [max(abs(a - b) for a, b in zip(r["logits"], q["logits"])) for r, q in zip(rows, ref)]
        agree = sum((max(probs(r)) > 0.5) == (max(probs(q)) > 0.5) for r, q in zip(rows, ref))
        unsafe_ref = sum(max(probs(q)) > 0.5 for q in ref)
        # A random-weight model calls nearly every text unsafe (12 sigmoids around 0.5), so the
        # per-category verdicts (12 per text) are the informative agreement figure.
        cat = sum((a > 0.5) == (b > 0.5) for r, q in zip(rows, ref) for a, b in zip(probs(r), probs(q)))
        out[t] = {"max_abs_dprob": max(dp), "mean_abs_dprob": sum(dp) / len(dp), "max_abs_dlogit": max(dl),
                  "verdict_agreement": agree / len(rows), "unsafe_in_reference": unsafe_ref,
                  "category_verdict_agreement": cat / (12 * len(rows))}
        log(f"  accuracy {t}: {out[t]}")
    return out


def table(results, peak, use_wall):
    key = "tokens_per_s" if use_wall else "cpu_tokens_per_s"
    rkey = "requests_per_s" if use_wall else "cpu_requests_per_s"
    by = {(r["engine"], r["type"], r["length"]): r for r in results}
    peak_tok = (peak["int8_gmac_wall"] if use_wall else peak["int8_gmac_cpu"]) * 1e9 / MACS_PER_TOKEN
    lines = [f"figures: {'wall-clock' if use_wall else 'CPU time (tokens / (CPU s / threads))'}; "
             f"int8 peak {peak_tok:.0f} tok/s",
             "| type | len | duoguard tok/s | req/s | % int8 peak | llama.cpp tok/s | req/s | x llama.cpp | PyTorch f32 tok/s | x PyTorch | RSS ours / llama.cpp / torch MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    types = sorted({r["type"] for r in results if r["engine"] == "duoguard"})
    lengths = sorted({r["length"] for r in results})
    for t in types:
        for n in lengths:
            o, l, p = by.get(("duoguard", t, n)), by.get(("llama.cpp", t, n)), by.get(("pytorch", "f32", n))
            if not o:
                continue
            f = lambda r, k, fmt="%.1f": fmt % r[k] if r else "—"
            ratio = lambda r: "%.2f" % (o[key] / r[key]) if r else "—"
            rss = " / ".join("%.0f" % r["peak_rss_mb"] if r else "—" for r in (o, l, p))
            lines.append(f"| {t} | {n} | {o[key]:.1f} | {o[rkey]:.2f} | {100 * o[key] / peak_tok:.0f}% | "
                         f"{f(l, key)} | {f(l, rkey, '%.2f')} | {ratio(l)} | {f(p, key)} | {ratio(p)} | {rss} |")
    return "\n".join(lines)


def chart(results, peak, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = sorted({r["length"] for r in results})
    types = sorted({r["type"] for r in results if r["engine"] == "duoguard"})
    by = {(r["engine"], r["type"], r["length"]): r["tokens_per_s"] for r in results}
    series = []
    for t in types:
        series.append((f"duoguard {t}", [by.get(("duoguard", t, n), 0) for n in lengths]))
        series.append((f"llama.cpp {t}", [by.get(("llama.cpp", t, n), 0) for n in lengths]))
    series.append(("PyTorch fp32", [by.get(("pytorch", "f32", n), 0) for n in lengths]))
    series = [s for s in series if any(s[1])]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    width = 0.8 / len(series)
    for i, (name, vals) in enumerate(series):
        ax.bar([x + i * width for x in range(len(lengths))], vals, width, label=name)
    peak_tok = peak["int8_gmac_wall"] * 1e9 / MACS_PER_TOKEN
    ax.axhline(peak_tok, color="k", linestyle="--", linewidth=1)
    ax.text(len(lengths) - 0.6, peak_tok, f"int8 peak {peak_tok:.0f} tok/s", va="bottom", ha="right", fontsize=8)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(lengths))])
    ax.set_xticklabels([f"{n}-token requests" for n in lengths])
    ax.set_ylabel("tokens/s, 2 threads, wall-clock")
    ax.set_title("DuoGuard-1B classifier, end to end, same weights and threads")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engines", nargs="+", default=["duoguard", "llama", "torch"])
    p.add_argument("--types", nargs="+", default=["q8_0", "q4_0"])
    p.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 128, 512])
    p.add_argument("--tokens", type=int, default=512, help="tokens per length and repetition")
    p.add_argument("--batch-tokens", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds over all engines; best round per point")
    p.add_argument("--torch-rounds", type=int, default=1, help="rounds that include PyTorch (slow, 7 GB)")
    p.add_argument("--binary", help="a built duoguard (default: build it)")
    p.add_argument("--accuracy", type=int, default=0, help="texts of the tokenizer corpus to compare (0 = skip)")
    p.add_argument("--json", default=os.path.join(HERE, "results.json"))
    p.add_argument("--chart", default=os.path.join(ROOT, "docs", "benchmark-e2e.png"))
    p.add_argument("--cpu-basis", action="store_true",
                   help="figures from CPU time (tokens / (CPU s / threads)) instead of wall-clock; flatters engines "
                        "whose extra threads sleep in serial parts and penalises spinning ones (llama.cpp's OpenMP)")
    a = p.parse_args()

    binary = a.binary
    if not binary:
        subprocess.run(["swift", "build", "-c", "release", "--scratch-path", ".build-speed", "--product", "duoguard"],
                       cwd=ROOT, check=True)
        binary = os.path.join(ROOT, ".build-speed", "release", "duoguard")
    hf, paths = ensure_models(binary, a.types)
    meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "loadavg_start": os.getloadavg(), "nproc": os.cpu_count(),
            "settings": {k: v for k, v in vars(a).items() if k not in ("json", "chart")}}
    peak = cpu_peak(a.threads)
    peaks = [peak]
    log("cpu-peak:", peak["raw"].replace("\n", " | "), f"busy {peak['busy_fraction']:.2f}")
    runs = []
    # Rounds interleave the engines (ours, llama.cpp per type; PyTorch), so slow phases of
    # a shared machine hit every engine alike; each point keeps its best round.
    for rnd in range(a.rounds):
        log(f"round {rnd + 1}/{a.rounds}")
        if rnd > 0:
            peaks.append(cpu_peak(a.threads))
        for t in a.types:
            ours, peer = paths[t]
            if "duoguard" in a.engines:
                runs += run_json_lines([binary, "bench", "--model", ours, *common_args(a)])
            if "llama" in a.engines:
                try:
                    runs += run_json_lines([PY, os.path.join(HERE, "peers.py"), "llama", "--model", peer, "--type", t, *common_args(a)])
                except Exception as e:  # noqa: BLE001 - reported, the rest of the run still counts
                    log(f"llama.cpp {t}: {e}")
        if "torch" in a.engines and rnd < a.torch_rounds:
            runs += run_json_lines([PY, os.path.join(HERE, "peers.py"), "torch", "--model", hf, *common_args(a)])
    best = {}
    for r in runs:
        key = (r["engine"], r["type"], r["length"])
        if key not in best or r["wall_s"] < best[key]["wall_s"]:
            best[key] = r
    results = list(best.values())
    peak_after = cpu_peak(a.threads)
    peaks.append(peak_after)
    # Like the engines' points, the peak is the best of its measurements in this run.
    peak = max(peaks, key=lambda p: p["int8_gmac_wall"])
    meta["loadavg_end"] = os.getloadavg()
    acc = accuracy(binary, hf, paths, a.accuracy, a.batch_tokens) if a.accuracy else None
    text = table(results, peak, not a.cpu_basis)
    print(text)
    print("\ncpu-peak int8 GMAC/s (wall) per measurement: " + ", ".join(f"{p['int8_gmac_wall']:.1f}" for p in peaks)
          + f"; best used for % peak: {peak['raw'].splitlines()[0]}")
    print(f"load average start {meta['loadavg_start'][0]:.1f}, end {meta['loadavg_end'][0]:.1f} on {os.cpu_count()} cores")
    if acc:
        print("accuracy vs PyTorch fp32:", json.dumps(acc))
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "cpu_peak": peaks, "results": results, "all_runs": runs, "accuracy": acc, "table": text}, f, indent=1)
    try:
        chart(results, peak, a.chart)
        log("chart:", a.chart)
    except ImportError as e:
        log("no chart (pip install matplotlib):", e)


if __name__ == "__main__":
    main()
