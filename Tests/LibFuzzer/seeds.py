"""Writes libFuzzer seed corpora for scripts/libfuzzer.sh: mini tokenizer.json files (the
shapes FuzzSeeds.tokenizerJSON builds) and request-like texts."""
import json, os, sys

def byte_alphabet():
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 256
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(n)
            n += 1
    return table

def tokenizer(pair_merges, llama32):
    alpha = byte_alphabet()
    vocab = [alpha[b] for b in range(256)] + ["he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld", "ĠĠ", "12", "123"]
    merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "w"), ("o", "r"), ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld"), ("Ġ", "Ġ"), ("1", "2"), ("12", "3")]
    bos, eos = len(vocab), len(vocab) + 1
    pattern = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    post = ({"type": "Sequence", "processors": [{"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
             {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
              "pair": [], "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [bos], "tokens": ["<|begin_of_text|>"]}}}]}
            if llama32 else {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True})
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": bos, "content": "<|begin_of_text|>", "special": True}, {"id": eos, "content": "<|end_of_text|>", "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "ignore_merges": not llama32, "vocab": {t: i for i, t in enumerate(vocab)},
                  "merges": [list(m) for m in merges] if pair_merges else [f"{a} {b}" for a, b in merges]},
    }

out = sys.argv[1]
os.makedirs(f"{out}/tokenizer-json", exist_ok=True)
os.makedirs(f"{out}/tokenizer-encode", exist_ok=True)
for i, (pairs, l32) in enumerate([(False, True), (True, False)]):
    with open(f"{out}/tokenizer-json/seed{i}.json", "w", encoding="utf-8") as f:
        json.dump(tokenizer(pairs, l32), f, ensure_ascii=False)
texts = ["How do I make a bomb?", "Héllo wörld 🌍👩‍👩‍👧 — <|end_of_text|> ok", "  leading\r\n\ttabs   \u00a0\u2003",
         "1234567890 3.14159 -42", "I'M GOING, they're 'quoted' ſtuff", "日本語のテキストと中文混合", "مرحبا بالعالم", "a" * 300]
for i, t in enumerate(texts):
    with open(f"{out}/tokenizer-encode/seed{i}.txt", "w", encoding="utf-8") as f:
        f.write(t)
