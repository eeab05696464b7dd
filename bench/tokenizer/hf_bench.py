#!/usr/bin/env python3
"""HF `tokenizers` side of bench/tokenizer/run.sh: load time and single-thread encode
throughput on the same corpus, printed as one JSON object.

Usage: hf_bench.py TOKENIZER_JSON CORPUS_JSONL REPEAT
Run with RAYON_NUM_THREADS=1 so that encode_batch uses one thread (run.sh sets it).
"""
import json
import sys
import time

from tokenizers import Tokenizer


def main():
    path, corpus, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
    texts = [json.loads(line)["text"] for line in open(corpus, encoding="utf-8") if line.strip()]
    t0 = time.perf_counter()
    tok = Tokenizer.from_file(path)
    load_ms = (time.perf_counter() - t0) * 1000
    tok.encode_batch(texts[:100])  # warm up (thread pool, caches of the first calls)

    t0 = time.perf_counter()
    tokens_batch = 0
    for _ in range(repeat):
        for e in tok.encode_batch(texts):
            tokens_batch += len(e.ids)
    batch_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    tokens_loop = 0
    for _ in range(repeat):
        for t in texts:
            tokens_loop += len(tok.encode(t).ids)
    loop_s = time.perf_counter() - t0

    print(json.dumps({
        "load_ms": load_ms, "inputs": len(texts), "repeat": repeat,
        "batch_tokens_per_s": tokens_batch / batch_s, "loop_tokens_per_s": tokens_loop / loop_s,
        "tokens": tokens_batch,
    }))


if __name__ == "__main__":
    main()
