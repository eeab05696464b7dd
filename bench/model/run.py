"""Side-by-side benchmark of the DuoGuard classifier: ours vs ONNX Runtime int8 vs llama.cpp vs
PyTorch fp32, one run.

    .venv/bin/python bench/model/run.py                 # builds what is missing, runs everything
    .venv/bin/python bench/model/run.py --types q4_0 --engines duoguard onnx --rounds 1
    .venv/bin/python bench/model/run.py --avx2          # the AVX2 table: ours forced to AVX2
                                                        # vs llama.cpp built for AVX2 only

--avx2 is what users of machines without AVX-512 get: our kernels run with
DUOGUARD_KERNELS=avx2 (the bench JSON's "kernels" field is checked), llama.cpp is the
LLAMA_AVX2_ONLY=1 build of build-llama.sh (.build-llama-avx2/), % of peak is against
cpu-peak.c's AVX2 int8 figure, and ONNX Runtime is left out by default (it picks its kernels
from the CPU itself and cannot be capped at AVX2). Results go to results-avx2.json and
docs/benchmark-e2e-avx2.png unless --json/--chart say otherwise.

The Python peers (PyTorch, ONNX Runtime, the full-size fixture, the chart) run in the bench venv
(bench/model/bench-env.sh: $DUOGUARD_BENCH_VENV, default .venv-bench; torch CPU, transformers,
onnx, onnxruntime, matplotlib), made on first use.

What it does (docs/benchmarks.md explains the reading):
1. builds what is missing: `duoguard` (release, --scratch-path .build-speed), the llama.cpp
   tools (bench/model/build-llama.sh: llama-bench, llama-embedding, llama-quantize from the
   llama-cpp-python sdist's vendored llama.cpp, GGML_NATIVE=ON, into .build-llama/), the
   full-size random model (scripts/model-fixtures.py --full-size, `duoguard convert` to
   q8_0/q4_0) and llama.cpp copies without the classifier head (strip_head.py);
2. records the machine state at the start and the end: 1-minute load average and
   ../shared/tools/cpu-peak.c (beside the checkout) with 2 threads; while each engine runs, it also measures the
   CPU time that *other* processes took (/proc/stat minus our child's rusage);
3. per round and type: `duoguard bench` (tokens/s at request lengths L = 16/64/128/512, 512
   tokens of requests per point, batch budget 2048) and `llama-bench -p L -n 0` on the same
   weights, in its best configuration (every -b/-ub pair of --llama-batch/--llama-ubatch is
   run; the best per L counts, and says which it was); ONNX Runtime (`peers.py onnx`: the same
   random checkpoint exported by torch.onnx.export, quantize_dynamic int8 per tensor and per
   channel, and fp32; one batch [512/L, L] per length, 2 intra-op threads, all graph
   optimizations) and PyTorch fp32 (`peers.py torch`) once per round; each engine is its own
   process, so its peak RSS is its own (os.wait4);
4. the whole-process test: 64 short prompts (~40 tokens) with Q4_0, process start to exit,
   model load included: `duoguard classify` vs `llama-embedding --pooling last` (every -ub of
   --llama-embd-ubatch; the fastest counts);
5. accuracy beside speed (--accuracy-prompts corpus prompts, one at a time): max and mean
   |logit - fp32 logit| and the share of category verdicts (sigmoid > 0.5) that agree with
   PyTorch fp32, for each of our formats and each ONNX Runtime variant;
6. prints the tables (tokens/s, ratios, % of the int8 peak: VNNI where the CPU has it, peak RSS;
   ours vs ONNX Runtime; accuracy), writes JSON and the chart (with the VNNI peak line).

A run is only a result on a quiet machine: if the load average at the start exceeds --max-load
(1.5 on 2 cores) or other processes took more than --max-foreign cores on average while the
engines ran, the table is printed under a LOADED-MACHINE banner, the JSON says "quiet": false
and the chart in docs/ is not overwritten.
"""
import argparse
import json
import math
import statistics
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.path.join(ROOT, ".venv", "bin", "python")
BENCH_VENV = os.environ.get("DUOGUARD_BENCH_VENV", os.path.join(ROOT, ".venv-bench"))
BENCH_PY = os.path.join(BENCH_VENV, "bin", "python")
ONNX_DIR = os.path.join(ROOT, "models", "onnx-random-1b")
ONNX_VARIANTS = ["int8-tensor", "int8-channel", "fp32"]
MACS_PER_TOKEN = 0.973e9  # body of Llama-3.2-1B per token (cpu-peak.c's figure)
# The shared tools sit beside the checkout (../shared/tools from the repository root), on every machine.
CPU_PEAK_SRC = os.path.normpath(os.path.join(ROOT, "..", "shared", "tools", "cpu-peak.c"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def busy_seconds():
    """CPU seconds all processes (and steal) have used since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


class Child:
    """A child process whose own rusage (CPU, peak RSS) is read with os.wait4."""

    def __init__(self, cmd, stdin_path=None, timeout=3600, env=None):
        log("$", " ".join(cmd) + (f" < {os.path.relpath(stdin_path, ROOT)}" if stdin_path else ""))
        self.busy0, self.t0 = busy_seconds(), time.monotonic()
        stdin = open(stdin_path) if stdin_path else subprocess.DEVNULL
        out_path = f"/tmp/duoguard-bench-{os.getpid()}.out"
        err_path = f"/tmp/duoguard-bench-{os.getpid()}.err"
        with open(out_path, "w") as out, open(err_path, "w") as err:
            p = subprocess.Popen(cmd, cwd=ROOT, stdin=stdin, stdout=out, stderr=err, env=env)
            deadline = time.monotonic() + timeout
            while True:
                pid, status, usage = os.wait4(p.pid, os.WNOHANG)
                if pid == p.pid:
                    break
                if time.monotonic() > deadline:
                    p.kill()
                    os.wait4(p.pid, 0)
                    raise RuntimeError(f"{cmd[0]} did not finish within {timeout} s (killed)")
                time.sleep(0.02)
        if stdin_path:
            stdin.close()
        self.wall = time.monotonic() - self.t0
        self.cpu = usage.ru_utime + usage.ru_stime
        self.rss_mb = usage.ru_maxrss / 1024
        self.foreign = max(0.0, (busy_seconds() - self.busy0) - self.cpu) / self.wall
        self.out = open(out_path).read()
        self.err = open(err_path).read()
        os.unlink(out_path)
        os.unlink(err_path)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            log(self.err[-3000:])
            raise RuntimeError(f"{cmd[0]} failed with exit code {code}")
        log(f"  {self.wall:.1f} s wall, {self.cpu:.1f} s CPU, {self.rss_mb:.0f} MB peak RSS, "
            f"other processes {self.foreign:.2f} cores, load {os.getloadavg()[0]:.2f}")

    def json_lines(self):
        return [json.loads(l) for l in self.out.splitlines() if l.startswith("{")]


def cpu_peak(threads, avx2_only=False):
    """cpu-peak.c's readings: AVX2 int8 (maddubs+madd), AVX-512 VNNI int8 where the CPU has it
    (then the int8 limit, unless `avx2_only`: the --avx2 table is against the AVX2 figure),
    fp32 FMA, in G MAC/s with `threads` threads."""
    exe = "/tmp/duoguard-cpu-peak"
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(CPU_PEAK_SRC):
        subprocess.run(["cc", "-O3", "-funroll-loops", "-mavx2", "-mfma", "-pthread", CPU_PEAK_SRC, "-o", exe], check=True)
    c = Child([exe, str(threads)])
    avx2 = float(c.out.split("int8 maddubs+madd:")[1].split()[0])
    fp32 = float(c.out.split("fp32 FMA:")[1].split()[0])
    vnni = float(c.out.split("VNNI vpdpbusd:")[1].split()[0]) if "VNNI vpdpbusd:" in c.out else None
    if avx2_only:
        vnni = None
    return {"threads": threads, "int8_gmac": vnni or avx2, "avx2_int8_gmac": avx2, "vnni_int8_gmac": vnni,
            "fp32_gmac": fp32, "foreign_cores": c.foreign, "loadavg": os.getloadavg()[0], "raw": c.out.strip()}


def ensure_bench_python():
    """The bench venv's python, made (or completed) by bench-env.sh on first use."""
    subprocess.run(["bash", os.path.join(HERE, "bench-env.sh")], cwd=ROOT, check=True)
    return BENCH_PY


def ensure_onnx(hf, variants, threads):
    """The ONNX files of the random 1B checkpoint (exported and quantized once, niced: the
    export holds about three fp32 copies of the model in memory)."""
    names = {"fp32": "model-fp32.onnx", "int8-tensor": "model-int8-tensor.onnx", "int8-channel": "model-int8-channel.onnx"}
    if not all(os.path.exists(os.path.join(ONNX_DIR, names[v])) for v in variants):
        subprocess.run(["nice", "-n", "10", BENCH_PY, os.path.join(HERE, "peers.py"), "onnx-export", "--model", hf,
                        "--out", ONNX_DIR, "--threads", str(threads)], cwd=ROOT, check=True)
    return {v: os.path.join(ONNX_DIR, names[v]) for v in variants}


def ensure_duoguard(a):
    if a.binary:
        return a.binary
    subprocess.run(["swift", "build", "-c", "release", "--scratch-path", ".build-speed", "--product", "duoguard"],
                   cwd=ROOT, check=True)
    return os.path.join(ROOT, ".build-speed", "release", "duoguard")


def ensure_llama(a):
    if a.llama_bin:
        return a.llama_bin
    env = {**os.environ, "LLAMA_AVX2_ONLY": "1"} if a.avx2 else None
    out = subprocess.run(["sh", os.path.join(HERE, "build-llama.sh")], cwd=ROOT, check=True,
                         stdout=subprocess.PIPE, text=True, env=env).stdout
    return out.strip().splitlines()[-1]


# Our load-time weight formats (`--weight-format`): the file type they are made from.
STORED_TYPE = {"q8_r": "f16"}


def weight_format_args(t):
    """`duoguard bench` arguments for type `t`: a load-time format names itself."""
    return ["--weight-format", t] if t in STORED_TYPE else []


def ensure_models(binary, types):
    models = os.path.join(ROOT, "models")
    hf = os.path.join(models, "duoguard-random-1b")
    if not os.path.exists(os.path.join(hf, "config.json")):
        subprocess.run(["nice", "-n", "10", BENCH_PY, "scripts/model-fixtures.py", "--full-size", hf], cwd=ROOT, check=True)
    paths = {}
    for t in types:
        stored = STORED_TYPE.get(t, t)
        ours = os.path.join(models, f"random-1b-{stored}.gguf")
        if not os.path.exists(ours):
            subprocess.run([binary, "convert", hf, "--output", ours, "--type", stored], cwd=ROOT, check=True)
        if t in STORED_TYPE:  # a load-time format: llama.cpp has no counterpart
            paths[t] = (ours, None)
            continue
        peer = os.path.join(models, f"random-1b-{t}.llama.gguf")
        if not os.path.exists(peer) or os.path.getmtime(peer) < os.path.getmtime(ours):
            log(f"writing {peer} (no cls.output.weight, for llama.cpp)")
            subprocess.run([PY, os.path.join(HERE, "strip_head.py"), ours, peer], check=True)
        paths[t] = (ours, peer)
    return hf, paths


def short_prompts(count, path):
    """`count` texts of the tokenizer corpus with 30-50 Llama-3.2 tokens (mean ~40), one per line."""
    corpus = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures", "parity.jsonl")
    texts = []
    for line in open(corpus):
        o = json.loads(line)
        if 30 <= len(o["l32"]) <= 50 and "\n" not in o["text"] and "\r" not in o["text"]:
            texts.append((o["text"], len(o["l32"])))
    step = max(1, len(texts) // count)
    texts = texts[::step][:count]
    with open(path, "w") as f:
        for t, _ in texts:
            f.write(t + "\n")
    return len(texts), sum(n for _, n in texts)


def ours_env(a):
    """Our processes' environment: DUOGUARD_KERNELS=avx2 with --avx2 (else inherited)."""
    return {**os.environ, "DUOGUARD_KERNELS": "avx2"} if a.avx2 else None


def check_kernels(a, rows):
    """With --avx2, every `duoguard bench` row must say it ran the AVX2 kernels."""
    for r in rows:
        if a.avx2 and r.get("kernels") != "avx2":
            raise RuntimeError(f"--avx2: duoguard ran the {r.get('kernels')!r} kernels, not avx2")
    return rows


def common_args(a):
    return ["--lengths", *map(str, a.lengths), "--tokens", str(a.tokens), "--batch-tokens", str(a.batch_tokens),
            "--threads", str(a.threads), "--seed", str(a.seed)]


def run_round(a, binary, llama_bin, hf, paths, onnx_paths, prompts_file, results):
    for t in a.types:
        ours, peer = paths[t]
        if "duoguard" in a.engines:
            c = Child([binary, "bench", "--model", ours, "--repeats", str(a.repeats), "--packed-weights", a.packed_weights,
                       *weight_format_args(t), *common_args(a)], env=ours_env(a))
            for r in check_kernels(a, c.json_lines()):
                results.append({**r, "engine": "duoguard", "type": t, "process_rss_mb": c.rss_mb, "foreign_cores": c.foreign})
        if "llama" in a.engines and peer:
            # Its best configuration: every batch/ubatch pair; best_points keeps the best per L.
            c = Child([os.path.join(llama_bin, "llama-bench"), "-m", peer, "-p", ",".join(map(str, a.lengths)),
                       "-n", "0", "-t", str(a.threads), "-r", str(a.repeats), "-b", a.llama_batch, "-ub", a.llama_ubatch,
                       "-o", "jsonl"])
            for r in c.json_lines():
                L = r["n_prompt"]
                best = max(r["samples_ts"])
                results.append({"engine": "llama.cpp", "type": t, "length": L, "threads": a.threads,
                                 "tokens_per_s": best, "avg_tokens_per_s": r["avg_ts"], "stddev_tokens_per_s": r["stddev_ts"],
                                 "requests_per_s": best / L, "peak_rss_mb": c.rss_mb, "process_rss_mb": c.rss_mb,
                                 "n_batch": r.get("n_batch"), "n_ubatch": r.get("n_ubatch"),
                                 "foreign_cores": c.foreign, "build": r.get("build_commit", ""), "cpu_info": r.get("cpu_info", "")})
    if "onnx" in a.engines:
        for variant, path in onnx_paths.items():
            c = Child(["nice", "-n", "0", BENCH_PY, os.path.join(HERE, "peers.py"), "onnx", "--model", path, "--type", variant,
                       "--repeats", str(a.repeats), *common_args(a)])
            for r in c.json_lines():
                results.append({**r, "engine": "onnxruntime", "type": variant, "peak_rss_mb": c.rss_mb,
                                "process_rss_mb": c.rss_mb, "foreign_cores": c.foreign})
    if "torch" in a.engines:
        c = Child([BENCH_PY, os.path.join(HERE, "peers.py"), "torch", "--model", hf, *common_args(a)])
        for r in c.json_lines():
            results.append({**r, "engine": "pytorch", "type": "f32", "peak_rss_mb": c.rss_mb, "process_rss_mb": c.rss_mb,
                            "foreign_cores": c.foreign})
    if a.whole_process and "q4_0" in paths:
        ours, peer = paths["q4_0"]
        if "duoguard" in a.engines:
            c = Child([binary, "classify", "--model", ours, "--threads", str(a.threads), "--json"], stdin_path=prompts_file,
                      env=ours_env(a))
            lines = [l for l in c.out.splitlines() if l.startswith("{")]
            results.append({"engine": "duoguard", "type": "q4_0", "test": "whole_process", "wall_s": c.wall, "cpu_s": c.cpu,
                            "peak_rss_mb": c.rss_mb, "outputs": len(lines), "foreign_cores": c.foreign})
        if "llama" in a.engines:
            for ub in a.llama_embd_ubatch.split(","):
                c = Child([os.path.join(llama_bin, "llama-embedding"), "-m", peer, "--pooling", "last", "-t", str(a.threads),
                           "-c", str(a.batch_tokens), "-b", str(a.batch_tokens), "-ub", ub,
                           "-f", prompts_file, "--embd-output-format", "json"])
                try:
                    outputs = len(json.loads(c.out)["data"])
                except (ValueError, KeyError):
                    outputs = -1
                results.append({"engine": "llama.cpp", "type": "q4_0", "test": "whole_process", "wall_s": c.wall, "cpu_s": c.cpu,
                                "peak_rss_mb": c.rss_mb, "outputs": outputs, "foreign_cores": c.foreign, "n_ubatch": int(ub)})


def best_points(results):
    best = {}
    for r in results:
        key = (r["engine"], r["type"], r.get("test", "throughput"), r.get("length"))
        better = (r["wall_s"] < best[key]["wall_s"]) if r.get("test") == "whole_process" and key in best else \
            (key not in best or r["tokens_per_s"] > best[key]["tokens_per_s"])
        if key not in best or better:
            best[key] = r
    return best


def per_round(results):
    """{(engine, type, L): [best tok/s of round 1, round 2, ...]} of the throughput points."""
    out = {}
    for r in results:
        if r.get("test", "throughput") != "throughput" or "round" not in r:
            continue
        rounds = out.setdefault((r["engine"], r["type"], r["length"]), {})
        rounds[r["round"]] = max(rounds.get(r["round"], 0.0), r["tokens_per_s"])
    return {k: [v[i] for i in sorted(v)] for k, v in out.items()}


def rounds_table(results, peak_tok, lengths):
    """Every round's figure per engine, type and length, and their median: host speed varies by
    the hour here, so a lead running 2-3 rounds reads the spread, not only the best round. The
    last rows are the medians' ratio of our best format to the best ONNX Runtime int8 variant."""
    pr = per_round(results)
    n_rounds = max((len(v) for v in pr.values()), default=0)
    if n_rounds < 2:
        return ""
    lines = ["| engine type | L | " + " | ".join(f"round {i + 1}" for i in range(n_rounds)) + " | median | median % int8 peak |",
             "|---|---:|" + "---:|" * (n_rounds + 2)]
    med = {k: statistics.median(v) for k, v in pr.items()}
    for key in sorted(pr, key=lambda k: (k[0], k[1], k[2])):
        v = pr[key]
        cells = ["%.1f" % x for x in v] + ["—"] * (n_rounds - len(v))
        lines.append(f"| {key[0]} {key[1]} | {key[2]} | " + " | ".join(cells) +
                     f" | **{med[key]:.1f}** | {100 * med[key] / peak_tok:.0f}% |")
    for n in lengths:
        ours = max([m for k, m in med.items() if k[0] == "duoguard" and k[2] == n] or [0])
        ort = max([m for k, m in med.items() if k[0] == "onnxruntime" and k[1] != "fp32" and k[2] == n] or [0])
        if ours and ort:
            lines.append(f"| median best ours / best ORT int8 | {n} | " + " | ".join([""] * n_rounds) + f" | **{ours / ort:.2f}** | |")
    return "\n".join(lines)


def table(best, peak_tok, lengths, types):
    lines = ["| type | L | duoguard tok/s | % int8 peak | llama.cpp tok/s | % int8 peak | x llama.cpp | PyTorch f32 tok/s | x PyTorch | peak RSS ours / llama.cpp / torch MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for t in types:
        for n in lengths:
            o = best.get(("duoguard", t, "throughput", n))
            l = best.get(("llama.cpp", t, "throughput", n))
            p = best.get(("pytorch", "f32", "throughput", n))
            if not o:
                continue
            f = lambda r: "%.1f" % r["tokens_per_s"] if r else "—"
            pc = lambda r: "%.0f%%" % (100 * r["tokens_per_s"] / peak_tok) if r else "—"
            x = lambda r: "**%.2f**" % (o["tokens_per_s"] / r["tokens_per_s"]) if r else "—"
            rss = " / ".join("%.0f" % r["peak_rss_mb"] if r else "—" for r in (o, l, p))
            lines.append(f"| {t} | {n} | {f(o)} | {pc(o)} | {f(l)} | {pc(l)} | {x(l)} | {f(p)} | {x(p).strip('*')} | {rss} |")
    o = best.get(("duoguard", "q4_0", "whole_process", None))
    l = best.get(("llama.cpp", "q4_0", "whole_process", None))
    if o or l:
        lines += ["", "| whole process, 64 short prompts, q4_0 | wall s | CPU s | peak RSS MB | outputs |", "|---|---:|---:|---:|---:|"]
        for name, r in (("duoguard classify", o), ("llama-embedding --pooling last", l)):
            if r:
                lines.append(f"| {name} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['outputs']} |")
        if o and l:
            lines.append(f"| **x llama.cpp** | **{l['wall_s'] / o['wall_s']:.2f}** | | | |")
    return "\n".join(lines)


def accuracy_prompts(count, path):
    """`count` corpus texts' Llama-3.2 ids (cut at 128 tokens), one JSON list per line."""
    corpus = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures", "parity.jsonl")
    lists = [json.loads(l)["l32"][:128] for l in open(corpus)]
    lists = [l for l in lists if len(l) > 1]
    chosen = lists[:: max(1, len(lists) // count)][:count]
    with open(path, "w") as f:
        for ids in chosen:
            f.write(json.dumps(ids) + "\n")
    return len(chosen)


def accuracy(a, binary, hf, paths, onnx_paths):
    """Max/mean |logit - fp32| and verdict agreement with PyTorch fp32, per format and variant."""
    ids = "/tmp/duoguard-bench-accuracy-ids.jsonl"
    n = accuracy_prompts(a.accuracy_prompts, ids)
    logits = lambda c: [json.loads(l)["logits"] for l in c.out.splitlines() if l.startswith("{")]
    ref = logits(Child([BENCH_PY, os.path.join(HERE, "peers.py"), "torch", "--model", hf, "--score-ids", ids,
                        "--threads", str(a.threads)]))
    candidates = []
    if "duoguard" in a.engines:
        for t in a.types:
            candidates.append(("duoguard", t, Child([binary, "bench", "--model", paths[t][0], "--score-ids", ids,
                                                     *weight_format_args(t), "--threads", str(a.threads)], env=ours_env(a))))
    if "onnx" in a.engines:
        for variant, path in onnx_paths.items():
            candidates.append(("onnxruntime", variant, Child([BENCH_PY, os.path.join(HERE, "peers.py"), "onnx", "--model", path,
                                                              "--score-ids", ids, "--threads", str(a.threads)])))
    sig = lambda x: 1 / (1 + math.exp(-x))
    rows = []
    for engine, typ, c in candidates:
        got = logits(c)
        if len(got) != len(ref):
            raise RuntimeError(f"{engine} {typ}: {len(got)} logit rows for {len(ref)} prompts")
        deltas = [abs(x - y) for g, r in zip(got, ref) for x, y in zip(g, r)]
        cats = [(sig(x) > 0.5) == (sig(y) > 0.5) for g, r in zip(got, ref) for x, y in zip(g, r)]
        verdicts = [(max(map(sig, g)) > 0.5) == (max(map(sig, r)) > 0.5) for g, r in zip(got, ref)]
        rows.append({"engine": engine, "type": typ, "prompts": n, "max_abs_dlogit": max(deltas),
                     "mean_abs_dlogit": sum(deltas) / len(deltas), "category_agreement": sum(cats) / len(cats),
                     "verdict_agreement": sum(verdicts) / len(verdicts)})
        log(f"  accuracy {engine} {typ}: max |dlogit| {rows[-1]['max_abs_dlogit']:.4f}, mean {rows[-1]['mean_abs_dlogit']:.4f}, "
            f"categories agree {100 * rows[-1]['category_agreement']:.1f}%")
    return rows


def accuracy_table(rows):
    if not rows:
        return ""
    lines = [f"| vs PyTorch fp32 ({rows[0]['prompts']} corpus prompts, <= 128 tokens) | max abs dlogit | mean abs dlogit "
             "| category verdicts agree | text verdicts agree |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['engine']} {r['type']} | {r['max_abs_dlogit']:.4f} | {r['mean_abs_dlogit']:.4f} | "
                     f"{100 * r['category_agreement']:.1f}% | {100 * r['verdict_agreement']:.1f}% |")
    return "\n".join(lines)


def onnx_table(best, peak_tok, lengths, types):
    """Ours (each format) against ONNX Runtime per length: the comparison of issue 23."""
    ort = [v for v in ONNX_VARIANTS if any(k[0] == "onnxruntime" and k[1] == v for k in best)]
    if not ort:
        return ""
    head = ["L"] + [f"ours {t}" for t in types] + [f"ORT {v}" for v in ort] + \
        [f"best ours / ORT {v}" for v in ort if v != "fp32"] + ["best ours % int8 peak", "best ORT % int8 peak"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for n in lengths:
        ours = [best.get(("duoguard", t, "throughput", n), {}).get("tokens_per_s") for t in types]
        peers = [best.get(("onnxruntime", v, "throughput", n), {}).get("tokens_per_s") for v in ort]
        top = max([x for x in ours if x] or [0])
        top_ort = max([x for v, x in zip(ort, peers) if x and v != "fp32"] or [0])
        f = lambda x: "%.1f" % x if x else "—"
        ratios = ["**%.2f**" % (top / x) if x and top else "—" for v, x in zip(ort, peers) if v != "fp32"]
        pc = lambda x: "%.0f%%" % (100 * x / peak_tok) if x else "—"
        lines.append("| " + " | ".join([str(n)] + [f(x) for x in ours] + [f(x) for x in peers] + ratios + [pc(top), pc(top_ort)]) + " |")
    return "\n".join(lines)


def chart(best, peak_tok, lengths, types, path, peak=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = []
    for t in types:
        series.append((f"duoguard {t}", [best.get(("duoguard", t, "throughput", n), {}).get("tokens_per_s", 0) for n in lengths]))
        series.append((f"llama.cpp {t}", [best.get(("llama.cpp", t, "throughput", n), {}).get("tokens_per_s", 0) for n in lengths]))
    for v in ONNX_VARIANTS:
        series.append((f"ONNX Runtime {v}", [best.get(("onnxruntime", v, "throughput", n), {}).get("tokens_per_s", 0) for n in lengths]))
    series.append(("PyTorch fp32", [best.get(("pytorch", "f32", "throughput", n), {}).get("tokens_per_s", 0) for n in lengths]))
    series = [s for s in series if any(s[1])]
    fig, ax = plt.subplots(figsize=(10.5, 4.8))
    width = 0.8 / max(1, len(series))
    for i, (name, vals) in enumerate(series):
        ax.bar([x + i * width for x in range(len(lengths))], vals, width, label=name)
    vnni = (peak or {}).get("vnni_int8_gmac")
    ax.axhline(peak_tok, color="k", linestyle="-" if vnni else "--", linewidth=1)
    ax.text(-0.35, peak_tok, f"{'VNNI' if vnni else 'AVX2'} int8 peak (cpu-peak.c) {peak_tok:.0f} tok/s", va="bottom", ha="left", fontsize=8)
    if vnni and (peak or {}).get("avx2_int8_gmac"):
        avx2_tok = peak["avx2_int8_gmac"] * 1e9 / MACS_PER_TOKEN
        ax.axhline(avx2_tok, color="k", linestyle="--", linewidth=0.8)
        ax.text(-0.35, avx2_tok, f"AVX2 int8 peak {avx2_tok:.0f} tok/s", va="bottom", ha="left", fontsize=8)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(lengths))])
    ax.set_xticklabels([f"{n}-token requests" for n in lengths])
    ax.set_ylabel("tokens/s, 2 threads, wall-clock")
    ax.set_title("DuoGuard-1B classifier, same weights and threads, one run")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engines", nargs="+", choices=["duoguard", "onnx", "llama", "torch"],
                   help="default: all four (with --avx2: duoguard llama torch)")
    p.add_argument("--avx2", action="store_true",
                   help="AVX2 table: ours with DUOGUARD_KERNELS=avx2, llama.cpp built for AVX2 only, %% of the AVX2 peak")
    p.add_argument("--onnx-variants", nargs="+", default=ONNX_VARIANTS, choices=ONNX_VARIANTS)
    p.add_argument("--llama-batch", default="512,2048", help="llama-bench -b values tried (best counts)")
    p.add_argument("--llama-ubatch", default="128,256,512", help="llama-bench -ub values tried (best counts)")
    p.add_argument("--llama-embd-ubatch", default="128,256,512,2048",
                   help="llama-embedding -ub values of the whole-process test (fastest counts)")
    p.add_argument("--packed-weights", default="private",
                   help="ours: private (packed at load, as without a packed-weights file), beside or a directory")
    p.add_argument("--accuracy-prompts", type=int, default=16, help="corpus prompts of the accuracy comparison (0: skip)")
    p.add_argument("--types", nargs="+", default=["q4_0", "q8_0", "q8_r"])
    p.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 128, 512])
    p.add_argument("--tokens", type=int, default=512, help="tokens of requests per length (ours and PyTorch)")
    p.add_argument("--batch-tokens", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=3, help="repetitions per point inside each engine (best counts)")
    p.add_argument("--rounds", type=int, default=1, help="interleaved rounds over all engines (tables: best round per point; with 2+ a per-round table and the medians)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-whole-process", dest="whole_process", action="store_false")
    p.add_argument("--prompts", type=int, default=64, help="short prompts of the whole-process test")
    p.add_argument("--binary", help="a built duoguard (default: build it)")
    p.add_argument("--llama-bin", help="directory with llama-bench and llama-embedding (default: build-llama.sh)")
    p.add_argument("--max-load", type=float, default=1.5, help="1-minute load average above which the run is marked")
    p.add_argument("--max-foreign", type=float, default=0.25,
                   help="average cores other processes may take while an engine runs before the run is marked")
    p.add_argument("--json", help="results JSON (default bench/model/results.json, with --avx2 results-avx2.json)")
    p.add_argument("--chart", help="chart (default docs/benchmark-e2e.png, with --avx2 docs/benchmark-e2e-avx2.png)")
    p.add_argument("--replot", metavar="JSON", help="only redraw the chart (and print the table) from a results JSON")
    a = p.parse_args()
    suffix = "-avx2" if a.avx2 else ""
    default_chart = os.path.join(ROOT, "docs", f"benchmark-e2e{suffix}.png")
    custom_chart = a.chart is not None
    a.json = a.json or os.path.join(HERE, f"results{suffix}.json")
    a.chart = a.chart or default_chart
    if a.engines is None:
        a.engines = ["duoguard", "llama", "torch"] if a.avx2 else ["duoguard", "onnx", "llama", "torch"]
    elif a.avx2 and "onnx" in a.engines:
        log("--avx2: ONNX Runtime still uses every ISA extension of this CPU (it cannot be capped at AVX2)")

    if a.replot:
        saved = json.load(open(a.replot))
        best = {tuple(None if x == "None" else (int(x) if x.isdigit() else x) for x in r["key"]): r for r in saved["best"]}
        peak = max(saved["cpu_peak"], key=lambda x: x["int8_gmac"])
        peak_tok = peak["int8_gmac"] * 1e9 / MACS_PER_TOKEN
        lengths = saved["meta"]["settings"]["lengths"]
        types = saved["meta"]["settings"]["types"]
        print(table(best, peak_tok, lengths, types))
        print(onnx_table(best, peak_tok, lengths, types))
        print(rounds_table(saved.get("all_runs", []), peak_tok, lengths))
        print(accuracy_table(saved.get("accuracy", [])))
        chart(best, peak_tok, lengths, types, a.chart, peak)
        log("chart:", a.chart)
        return 0

    binary = ensure_duoguard(a)
    llama_bin = ensure_llama(a) if "llama" in a.engines else None
    ensure_bench_python()
    hf, paths = ensure_models(binary, a.types)
    onnx_paths = ensure_onnx(hf, a.onnx_variants, a.threads) if "onnx" in a.engines else {}
    prompts_file = "/tmp/duoguard-bench-prompts.txt"
    n_prompts, n_tokens = short_prompts(a.prompts, prompts_file)

    meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "loadavg_start": os.getloadavg(), "nproc": os.cpu_count(),
            "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
            "settings": {k: v for k, v in vars(a).items() if k not in ("json", "chart")},
            "short_prompts": {"count": n_prompts, "tokens": n_tokens}}
    peaks = [cpu_peak(a.threads, a.avx2)]
    log("cpu-peak (start):", peaks[0]["raw"].splitlines()[0])
    results = []
    for rnd in range(a.rounds):
        log(f"round {rnd + 1}/{a.rounds}")
        before = len(results)
        run_round(a, binary, llama_bin, hf, paths, onnx_paths, prompts_file, results)
        for r in results[before:]:
            r["round"] = rnd + 1
    acc = accuracy(a, binary, hf, paths, onnx_paths) if a.accuracy_prompts > 0 else []
    peaks.append(cpu_peak(a.threads, a.avx2))
    log("cpu-peak (end):", peaks[-1]["raw"].splitlines()[0])
    meta["loadavg_end"] = os.getloadavg()

    best = best_points(results)
    peak = max(peaks, key=lambda x: x["int8_gmac"])
    peak_tok = peak["int8_gmac"] * 1e9 / MACS_PER_TOKEN
    foreign = max([r.get("foreign_cores", 0) for r in results] + [x["foreign_cores"] for x in peaks])
    quiet = meta["loadavg_start"][0] <= a.max_load and foreign <= a.max_foreign
    meta.update({"quiet": quiet, "max_foreign_cores": foreign})
    text = "\n\n".join(x for x in (table(best, peak_tok, a.lengths, a.types), onnx_table(best, peak_tok, a.lengths, a.types),
                                    rounds_table(results, peak_tok, a.lengths), accuracy_table(acc)) if x)
    banner = "" if quiet else (
        f"**LOADED MACHINE: not a benchmark result** (load average {meta['loadavg_start'][0]:.2f} at the start, "
        f"other processes took up to {foreign:.2f} cores while an engine ran; limits {a.max_load} / {a.max_foreign})\n\n")
    print(banner + text)
    kind = "AVX-512 VNNI" if peak.get("vnni_int8_gmac") else "AVX2 maddubs+madd"
    print(f"\n{meta['cpu']}, {os.cpu_count()} cores, {a.threads} threads. cpu-peak int8 {kind} ({a.threads} threads) start "
          f"{peaks[0]['int8_gmac']:.1f}, end {peaks[-1]['int8_gmac']:.1f} GMAC/s (AVX2 {peaks[0]['avx2_int8_gmac']:.1f} / "
          f"{peaks[-1]['avx2_int8_gmac']:.1f}); % int8 peak against "
          f"{peak['int8_gmac']:.1f} GMAC/s = {peak_tok:.0f} tok/s at {MACS_PER_TOKEN / 1e9:.3f} GMAC/token.")
    print(f"load average start {meta['loadavg_start'][0]:.2f}, end {meta['loadavg_end'][0]:.2f} (the end figure includes "
          f"this run's own {a.threads} busy threads); other processes took at most {foreign:.2f} cores during any measurement.")
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "cpu_peak": peaks, "accuracy": acc, "best": [dict(v, key=list(map(str, k))) for k, v in best.items()],
                   "all_runs": results, "table": text}, f, indent=1)
    log("json:", a.json)
    if quiet or custom_chart:
        try:
            chart(best, peak_tok, a.lengths, a.types, a.chart, peak)
            log("chart:", a.chart)
        except ImportError:
            # matplotlib lives in the bench venv.
            subprocess.run([BENCH_PY, os.path.abspath(__file__), "--replot", a.json, "--chart", a.chart], check=True)
    else:
        log("chart not written (loaded machine); pass --chart PATH to draw it anyway")
    return 0 if quiet else 3


if __name__ == "__main__":
    sys.exit(main())
