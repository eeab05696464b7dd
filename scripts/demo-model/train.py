#!/usr/bin/env python3
"""Train the demo classifier `duoguard-demo-tiny` (issue #20) and save it as a Hugging Face
directory laid out as the published DuoGuard checkpoint, for `duoguard convert`.

It is NOT DuoGuard: a ~4 M-parameter model of DuoGuard's architecture family
(LlamaForSequenceClassification, the Llama-3.2 tokenizer with its full 128256-token vocabulary,
llama3 rope scaling as Llama-3.2, pad = eos = 128001, the 12-way multi-label sigmoid head on
the last non-pad token), trained for a minute or two on CPU on the repository's own template
texts (dataset.py). It knows the requests it was taught and their near relatives, nothing more.

    /work/venv-demo/bin/python scripts/demo-model/train.py [--out models/duoguard-demo-tiny] [--seed 20]

Usually run through scripts/build-demo-model.sh, which also converts and evaluates.

Reproducible: one thread, fixed seeds, a fixed example order, so the same seed, torch version
and CPU give the same weights bit for bit (and so the same GGUF digest).
"""
import argparse
import importlib.util
import json
import os
import random
import shutil
import sys
import time

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForSequenceClassification

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from dataset import CATEGORIES, heldout_texts, label_vector, sample_texts, train_texts  # noqa: E402

TOKENIZER = os.path.join(ROOT, "Tests", "Fixtures", "generated", "llama3.2", "tokenizer.json")

# The config.json writer of the test fixtures (the published checkpoint's layout).
_spec = importlib.util.spec_from_file_location("model_fixtures", os.path.join(ROOT, "scripts", "model-fixtures.py"))
model_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_fixtures)
assert model_fixtures.CATEGORIES == CATEGORIES

SPEC = dict(
    vocab_size=128256, hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
    head_dim=8, num_hidden_layers=2, intermediate_size=96, bos=128000, pad=128001,
    rope_theta=500000.0,
    rope_scaling={"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                  "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    init=0.02,
)
EPOCHS = 4
BATCH = 32
LR = 3e-3
UNKNOWN_RATE = 0.12  # share of text tokens swapped for a random vocabulary id while training
NOISE_PER_BATCH = 8  # texts of random vocabulary ids added to each batch, labelled safe
SAFE_REPEAT = 3  # safe texts are 1 in 9 of the templates; seen 3 times per epoch, they are 1 in 4
MIX_RATE = 0.3  # share of examples joined with another one (labels: the union of both)


def config_json():
    c = model_fixtures.hf_config(SPEC, "4.x")
    c["torch_dtype"] = "float32"
    c["id2label"] = {str(i): name for i, name in enumerate(CATEGORIES)}
    c["label2id"] = {name: i for i, name in enumerate(CATEGORIES)}
    return c


def build_model(seed):
    torch.manual_seed(seed)
    cfg = LlamaConfig(**{k: v for k, v in model_fixtures.hf_config(SPEC, "5.x").items()
                         if k not in ("architectures", "transformers_version", "dtype", "id2label", "label2id")},
                      num_labels=len(CATEGORIES))
    cfg._attn_implementation = "eager"
    model = LlamaForSequenceClassification(cfg)
    with torch.no_grad():
        # Every row of the embedding starts as the same vector (plus a little noise): rows the
        # training texts never touch stay there, so a word the model never saw reads as one
        # neutral "unknown" token instead of a random direction that RMSNorm would blow up to
        # full scale. Training moves the rows of the tokens it sees away from it.
        emb = model.model.embed_tokens.weight
        base = torch.randn(emb.shape[1]) * 0.5
        emb.copy_(base + 0.01 * torch.randn_like(emb))
    return model


def encode_all(tokenizer, texts):
    out = []
    for text, _, _ in texts:
        ids = tokenizer.encode(text, add_special_tokens=True).ids[:512]
        assert ids[0] == SPEC["bos"], "the Llama-3.2 tokenizer prepends <|begin_of_text|>"
        out.append(ids)
    return out


def batch_tensors(seqs, labels):
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), SPEC["pad"], dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask, torch.tensor(labels, dtype=torch.float32)


def predict(model, seqs, batch=128):
    model.eval()
    probs = []
    with torch.no_grad():
        for i in range(0, len(seqs), batch):
            ids, mask, _ = batch_tensors(seqs[i:i + batch], [[0.0] * len(CATEGORIES)] * len(seqs[i:i + batch]))
            probs += torch.sigmoid(model(input_ids=ids, attention_mask=mask).logits).tolist()
    return probs


def verdict(probs, threshold=0.5):
    """None for safe, else the top category: what the demo table shows."""
    top = max(range(len(probs)), key=lambda i: probs[i])
    return CATEGORIES[top] if probs[top] > threshold else None


def train(seed, tokenizer):
    torch.set_num_threads(1)  # one thread: the same float summation order on every run
    torch.use_deterministic_algorithms(True)
    rng = random.Random(seed)
    texts = train_texts()
    seqs = encode_all(tokenizer, texts)
    labels = [label_vector(label) for _, _, label in texts]
    order = [i for i, (_, _, label) in enumerate(texts) for _ in range(SAFE_REPEAT if label is None else 1)]
    safe_tokens = [t for i, (_, _, label) in enumerate(texts) if label is None for t in seqs[i][1:]]
    model = build_model(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1)
    steps = EPOCHS * ((len(order) + BATCH - 1) // BATCH)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 100) * max(0.05, 1 - s / steps))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    step = 0
    for epoch in range(EPOCHS):
        model.train()
        rng.shuffle(order)
        total = 0.0
        for b in range(0, len(order), BATCH):
            members = order[b:b + BATCH]
            batch, targets = [], []
            for i in members:
                s, y = list(seqs[i]), labels[i]
                # Two requests in one text, in either order, flag what either flags: an unsafe
                # request stays unsafe whatever surrounds it, and the model learns to look at
                # every word, not at the position where training requests happen to end.
                if rng.random() < MIX_RATE:
                    other = rng.choice(order)
                    first, second = (s, seqs[other]) if rng.random() < 0.5 else (list(seqs[other]), s)
                    s = first + list(second[1:])
                    y = [max(a, c) for a, c in zip(y, labels[other])]
                for j in range(1, len(s)):  # never the BOS
                    if rng.random() < UNKNOWN_RATE:
                        s[j] = rng.randrange(0, 128000)
                batch.append(s)
                targets.append(y)
            # Texts of words the model never saw are labelled safe: a request it knows nothing
            # about should come out safe, not as whichever category its random rows lean to.
            # Half are random vocabulary ids, half common words: the tokens of safe texts,
            # shuffled, with random ids among them (a new safe request is mostly common words).
            for k in range(NOISE_PER_BATCH):
                n = rng.randrange(3, 24)
                if k % 2:
                    noise = [rng.choice(safe_tokens) if rng.random() < 0.6 else rng.randrange(0, 128000) for _ in range(n)]
                else:
                    noise = [rng.randrange(0, 128000) for _ in range(n)]
                batch.append([SPEC["bos"]] + noise + [seqs[rng.choice(members)][-1]])
            ids, mask, y = batch_tensors(batch, targets + [label_vector(None)] * NOISE_PER_BATCH)
            loss = loss_fn(model(input_ids=ids, attention_mask=mask).logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(members)
            step += 1
        print(f"epoch {epoch + 1}/{EPOCHS}: loss {total / len(order):.4f}", file=sys.stderr)
    model.eval()
    return model


def report(model, tokenizer, texts, name):
    probs = predict(model, encode_all(tokenizer, texts))
    right = sum(verdict(p) == label for p, (_, _, label) in zip(probs, texts))
    print(f"{name}: {right}/{len(texts)} = {100 * right / len(texts):.1f}% (verdict and top category right, torch fp32)",
          file=sys.stderr)


def save(model, out):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(), f, indent=2)
    shutil.copy(TOKENIZER, os.path.join(out, "tokenizer.json"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "models", "duoguard-demo-tiny"),
                        help="the Hugging Face directory to write; its last component is the model name")
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    if not os.path.exists(TOKENIZER):
        sys.exit(f"{TOKENIZER} missing: run scripts/prepare-tokenizers.sh")
    trained = {t for t, _, _ in train_texts()}
    for sample in sample_texts():
        if sample["text"] in trained:
            sys.exit(f"sample text {sample['text']!r} is a training text: the demo would show memory, not a verdict")
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(TOKENIZER)
    started = time.monotonic()
    model = train(args.seed, tokenizer)
    print(f"trained in {time.monotonic() - started:.0f} s", file=sys.stderr)
    report(model, tokenizer, train_texts(), "train")
    report(model, tokenizer, heldout_texts(), "held-out")
    save(model, args.out)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
