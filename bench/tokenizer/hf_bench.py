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
    t0, c0 = time.perf_counter(), time.thread_time()
    tok = Tokenizer.from_file(path)
    load_ms = (time.perf_counter() - t0) * 1000
    load_cpu_ms = (time.thread_time() - c0) * 1000
    tok.encode_batch(texts[:100])  # warm up (thread pool, caches of the first calls)

    # encode_batch runs on a rayon pool thread (RAYON_NUM_THREADS=1), so its CPU time is the
    # process's, not this thread's.
    t0, c0 = time.perf_counter(), time.process_time()
    tokens_batch = 0
    for _ in range(repeat):
        for e in tok.encode_batch(texts):
            tokens_batch += len(e.ids)
    batch_s, batch_cpu = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.thread_time()
    tokens_loop = 0
    for _ in range(repeat):
        for t in texts:
            tokens_loop += len(tok.encode(t).ids)
    loop_s, loop_cpu = time.perf_counter() - t0, time.thread_time() - c0

    print(json.dumps({
        "load_ms": load_ms, "load_cpu_ms": load_cpu_ms, "inputs": len(texts), "repeat": repeat,
        "batch_tokens_per_s": tokens_batch / batch_s, "loop_tokens_per_s": tokens_loop / loop_s,
        "batch_cpu_tokens_per_s": tokens_batch / batch_cpu, "loop_cpu_tokens_per_s": tokens_loop / loop_cpu,
        "tokens": tokens_batch,
    }))


if __name__ == "__main__":
    main()
