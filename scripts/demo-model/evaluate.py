#!/usr/bin/env python3
"""Held-out accuracy of the demo model (issue #20), measured with the product's own engine.

Runs every held-out text (dataset.heldout_texts(): frames and requests never trained on)
through `duoguard classify --json --jsonl` on the GGUF file, and prints accuracy per category,
per language and overall as a Markdown table (the numbers in docs/model.md).

A text counts as right when its verdict is right and, for an unsafe text, the top category
(largest probability) is its label. "flagged" is the share of a category's texts called unsafe
at all, whatever the top category.

    .venv/bin/python scripts/demo-model/evaluate.py [--model Tests/Fixtures/demo/duoguard-demo-tiny.gguf]
        [--duoguard .build/debug/duoguard] [--torch models/duoguard-demo-tiny]

It then prints the same table for the taught requests in the held-out frames (known requests,
new sentences: what the model does know). --torch DIR (needs torch + transformers) also scores the texts with transformers in fp32 on
the Hugging Face directory and reports how often the GGUF's verdict and top category agree.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from dataset import CATEGORIES, CLASSES, heldout_texts, reframed_texts  # noqa: E402
from frames import LANGUAGES  # noqa: E402


def engine_probabilities(duoguard, model, texts):
    lines = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t, _, _ in texts)
    out = subprocess.run([duoguard, "classify", "--model", model, "--json", "--jsonl"], input=lines,
                         capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(rows) == len(texts), f"{len(rows)} results for {len(texts)} texts"
    for row, (text, _, _) in zip(rows, texts):
        assert row["text"] == text
    # Lines are results in the wire's JSON mapping: `scores` names each probability (a
    # probability of exactly 0 is omitted, as proto3 JSON omits default values).
    return [[{s["name"]: s.get("probability", 0.0) for s in row["scores"]}[c] for c in CATEGORIES] for row in rows]


def torch_probabilities(directory, texts):
    import torch
    from tokenizers import Tokenizer
    from transformers import LlamaForSequenceClassification
    tokenizer = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    model = LlamaForSequenceClassification.from_pretrained(directory, torch_dtype=torch.float32).eval()
    probs = []
    with torch.no_grad():
        for text, _, _ in texts:
            ids = torch.tensor([tokenizer.encode(text, add_special_tokens=True).ids[:512]])
            probs.append(torch.sigmoid(model(input_ids=ids).logits[0]).tolist())
    return probs


def verdict(probs, threshold=0.5):
    top = max(range(len(probs)), key=lambda i: probs[i])
    return CATEGORIES[top] if probs[top] > threshold else None


def table(texts, probs):
    by_class = {c: [0, 0, 0] for c in CLASSES}  # right, flagged, total
    by_lang = {lang: [0, 0] for lang in LANGUAGES}
    for (_, lang, label), p in zip(texts, probs):
        got = verdict(p)
        row = by_class[label or "safe"]
        row[0] += got == label
        row[1] += got is not None
        row[2] += 1
        by_lang[lang][0] += got == label
        by_lang[lang][1] += 1
    lines = ["| class | held-out texts | right | flagged unsafe |", "|---|---:|---:|---:|"]
    for c in CLASSES:
        right, flagged, total = by_class[c]
        lines.append(f"| {c} | {total} | {100 * right / total:.0f}% | {100 * flagged / total:.0f}% |")
    right = sum(r[0] for r in by_class.values())
    unsafe = [r for c, r in by_class.items() if c != "safe"]
    lines.append(f"| **overall** | {len(texts)} | **{100 * right / len(texts):.1f}%** | |")
    lines.append(f"| unsafe texts called unsafe | {sum(r[2] for r in unsafe)} | "
                 f"{100 * sum(r[1] for r in unsafe) / sum(r[2] for r in unsafe):.1f}% | |")
    lines.append("")
    lines.append("| language | " + " | ".join(LANGUAGES) + " |")
    lines.append("|---|" + "---:|" * len(LANGUAGES))
    lines.append("| right | " + " | ".join(f"{100 * r / n:.0f}%" for r, n in by_lang.values()) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "Tests", "Fixtures", "demo", "duoguard-demo-tiny.gguf"))
    parser.add_argument("--duoguard", default=os.path.join(ROOT, ".build", "debug", "duoguard"))
    parser.add_argument("--torch", metavar="DIR", help="also score with transformers on this HF directory")
    args = parser.parse_args()
    texts = heldout_texts()
    probs = engine_probabilities(args.duoguard, args.model, texts)
    print(f"held-out accuracy of {os.path.basename(args.model)} (duoguard classify, {len(texts)} texts)\n")
    print(table(texts, probs))
    known = reframed_texts()
    print(f"\nfor comparison, the taught requests in the held-out frames ({len(known)} texts; the requests "
          "were trained on, so this is not a held-out score):\n")
    print(table(known, engine_probabilities(args.duoguard, args.model, known)))
    if args.torch:
        reference = torch_probabilities(args.torch, texts)
        agree = sum(verdict(a) == verdict(b) for a, b in zip(probs, reference))
        worst = max(abs(x - y) for a, b in zip(probs, reference) for x, y in zip(a, b))
        print(f"\ntransformers fp32 on {args.torch}:\n")
        print(table(texts, reference))
        print(f"\nGGUF vs transformers fp32: same verdict and top category on {agree}/{len(texts)} texts, "
              f"max |Δprob| {worst:.3f}")


if __name__ == "__main__":
    main()
