"""The Python peers of bench/model/run.py: transformers fp32 on the Hugging Face directory
(`peers.py torch`), and ONNX Runtime (`peers.py onnx-export` writes the ONNX files once,
`peers.py onnx` runs one of them).

ONNX Runtime is run the way its users serve a CPU classifier (the path Optimum and
text-embeddings-inference's ONNX backend take): the Hugging Face model exported with
`torch.onnx.export`, quantized with `onnxruntime.quantization.quantize_dynamic` (int8
weights, per tensor or per output channel; activations quantized per tensor at run time),
one session with intra-op threads = --threads, inter-op 1, all graph optimizations, and one
batch [--tokens/L, L] per request length L (same-length rows: no padding; the attention mask,
an input of the graph as Optimum exports it, is all ones).
The fp32 export is measured too.

(llama.cpp is measured with its own tools, llama-bench and llama-embedding, built by
build-llama.sh.) The engine runs in its own process (run.py starts `peers.py torch ...`), so
peak RSS is its own, and prints one JSON object per request length with the same fields as
`duoguard bench`. Token ids come from the same SplitMix64 sequence as `duoguard bench`
(same seed, same order), so every engine classifies identical inputs.
"""
import argparse
import json
import os
import resource
import sys
import time

MASK = (1 << 64) - 1


class SplitMix64:
    """Bit-identical to `SplitMix64` in Sources/duoguard/BenchCommand.swift."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133EB62B) & MASK
        return z ^ (z >> 31)


def random_ids(count, rng, vocab=128256):
    text_vocab = min(vocab, 128000)
    return [min(128000, vocab - 1)] + [rng.next() % text_vocab for _ in range(1, max(count, 1))]


def workloads(args):
    """(warm-up batch, [(length, batch)]) in exactly the order duoguard bench draws them."""
    rng = SplitMix64(args.seed)
    warm = [random_ids(8, rng, args.vocab)]
    out = []
    for length in args.lengths:
        requests = max(1, args.tokens // length)
        out.append((length, [random_ids(length, rng, args.vocab) for _ in range(requests)]))
    return warm, out


def split_batches(batch, budget):
    """Greedy split into forward passes of at most `budget` tokens, as DuoGuardModel does."""
    out, cur, n = [], [], 0
    for seq in batch:
        if cur and n + len(seq) > budget:
            out.append(cur)
            cur, n = [], 0
        cur.append(seq)
        n += len(seq)
    if cur:
        out.append(cur)
    return out


def id_lists(path):
    """The token-id lists of a --score-ids file (a JSON list, or an object with "ids", per line)."""
    with open(path) as f:
        lists = [json.loads(line) for line in f if line.strip()]
    return [l["ids"] if isinstance(l, dict) else l for l in lists]


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def report(engine, typ, args, length, batch, runs, load_s, extra=None):
    best = min(runs, key=lambda r: r[1])
    median_wall = sorted(r[0] for r in runs)[len(runs) // 2]
    total = sum(len(s) for s in batch)
    obj = {
        "engine": engine, "type": typ, "threads": args.threads, "length": length,
        "requests": len(batch), "batch_tokens": args.batch_tokens,
        "wall_s": best[0], "cpu_s": best[1], "median_wall_s": median_wall,
        "tokens_per_s": total / best[0], "requests_per_s": len(batch) / best[0],
        "cpu_tokens_per_s": total / (best[1] / args.threads),
        "cpu_requests_per_s": len(batch) / (best[1] / args.threads),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_s": load_s,
    }
    if extra:
        obj.update(extra)
    print(json.dumps(obj), flush=True)


def drive(args, forward, engine, typ, load_s, extra):
    """With --score-ids: the logits of each id list, one at a time (no padding effect on the
    reference). Otherwise: the workloads of `duoguard bench`, each length's requests as
    `forward` takes them (best of --repeats), one JSON line per length."""
    if args.score_ids:
        for seq in id_lists(args.score_ids):
            print(json.dumps({"logits": forward([seq[:args.batch_tokens]])[0].tolist()}), flush=True)
        return
    warm, loads = workloads(args)
    forward(warm)
    for length, batch in loads:
        runs = []
        for _ in range(args.repeats):
            w, c = time.monotonic(), cpu_seconds()
            forward(batch)
            runs.append((time.monotonic() - w, cpu_seconds() - c))
        report(engine, typ, args, length, batch, runs, load_s, extra)


def run_torch(args):
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(args.threads)
    t0 = time.monotonic()
    model = AutoModelForSequenceClassification.from_pretrained(args.model, dtype=torch.float32)
    model.eval()
    load_s = time.monotonic() - t0
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 128001

    def forward(batch):
        out = []
        with torch.inference_mode():
            for part in split_batches(batch, args.batch_tokens):
                width = max(len(s) for s in part)
                ids = torch.full((len(part), width), pad, dtype=torch.long)
                mask = torch.zeros((len(part), width), dtype=torch.long)
                for i, s in enumerate(part):
                    ids[i, :len(s)] = torch.tensor(s)
                    mask[i, :len(s)] = 1
                out.append(model(input_ids=ids, attention_mask=mask).logits)
        return torch.cat(out)

    drive(args, forward, "pytorch", "f32", load_s, {"torch": torch.__version__})


ONNX_VARIANTS = {"fp32": "model-fp32.onnx", "int8-tensor": "model-int8-tensor.onnx", "int8-channel": "model-int8-channel.onnx"}


def export_onnx(args):
    """Writes model-fp32.onnx (weights as external data: the 1B fp32 model is > 2 GB) and its
    quantize_dynamic int8 variants into --out, skipping files that exist. Peak memory is about
    three times the fp32 model (torch weights, the traced graph, the serialized protobuf)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    os.makedirs(args.out, exist_ok=True)
    fp32 = os.path.join(args.out, ONNX_VARIANTS["fp32"])
    if not os.path.exists(fp32):
        torch.set_num_threads(args.threads)
        model = AutoModelForSequenceClassification.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager")
        model.config.use_cache = False
        model.eval()

        class Logits(torch.nn.Module):
            """(input_ids, attention_mask) -> logits: the classifier as a serving graph (no cache)."""

            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask):
                return self.inner(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

        example = (torch.full((2, 16), 1000, dtype=torch.long), torch.ones((2, 16), dtype=torch.long))
        t0 = time.monotonic()
        tmp = fp32 + ".tmp"
        with torch.inference_mode():
            torch.onnx.export(Logits(model), example, tmp, input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"},
                                            "logits": {0: "batch"}},
                              opset_version=17, dynamo=False, external_data=True)
        del model
        import onnx
        # One external data file beside the graph (the exporter writes one per tensor).
        m = onnx.load(tmp, load_external_data=True)
        onnx.save_model(m, fp32, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(fp32) + ".data", size_threshold=1024)
        del m
        for name in os.listdir(args.out):
            path = os.path.join(args.out, name)
            if not name.startswith("model-") and os.path.isfile(path):
                os.unlink(path)  # the exporter's per-tensor files
        os.unlink(tmp)
        log(f"exported {fp32} in {time.monotonic() - t0:.0f} s")
    from onnxruntime.quantization import QuantType, quantize_dynamic
    for variant, per_channel in (("int8-tensor", False), ("int8-channel", True)):
        out = os.path.join(args.out, ONNX_VARIANTS[variant])
        if os.path.exists(out):
            continue
        t0 = time.monotonic()
        quantize_dynamic(fp32, out, per_channel=per_channel, weight_type=QuantType.QInt8, use_external_data_format=True)
        log(f"quantized {out} in {time.monotonic() - t0:.0f} s")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run_onnx(args):
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.monotonic()
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    load_s = time.monotonic() - t0

    def forward(batch):
        # One [requests, length] batch: what an ONNX Runtime server runs.
        ids = np.array(batch, dtype=np.int64)
        return sess.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]

    drive(args, forward, "onnxruntime", args.type, load_s, {"onnxruntime": ort.__version__})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("engine", choices=["torch", "onnx", "onnx-export"])
    p.add_argument("--out", help="onnx-export: directory of the ONNX files")
    p.add_argument("--model", required=True)
    p.add_argument("--type", default="")
    p.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 128, 512])
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--batch-tokens", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--score-ids")
    p.add_argument("--vocab", type=int, default=128256, help="vocabulary of the random ids (the 1B model's; smaller for tiny fixtures)")
    args = p.parse_args()
    {"torch": run_torch, "onnx": run_onnx, "onnx-export": export_onnx}[args.engine](args)


if __name__ == "__main__":
    sys.exit(main())
