#!/usr/bin/env bash
# Rebuilds the committed demo classifier Tests/Fixtures/demo/duoguard-demo-tiny.gguf (issue #20;
# docs/model.md): trains it with torch on CPU (scripts/demo-model/train.py, a few minutes), writes
# the Hugging Face directory models/duoguard-demo-tiny (not committed), converts it with the
# product's own `duoguard convert` to Q8_0, prints the file's SHA-256, and measures its held-out
# accuracy with `duoguard classify` (scripts/demo-model/evaluate.py).
#
#   bash scripts/build-demo-model.sh             # seed 20, the committed file
#   SEED=7 OUT=/tmp/x.gguf bash scripts/build-demo-model.sh
#
# Training needs torch + transformers: a venv in .venv-demo-model is made from
# scripts/demo-model/requirements.txt unless DEMO_MODEL_PYTHON names a python that has them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seed="${SEED:-20}"
out="${OUT:-Tests/Fixtures/demo/duoguard-demo-tiny.gguf}"
hf="${HF_DIR:-models/duoguard-demo-tiny}"  # its last path component is the model's name

bash scripts/python-env.sh
bash scripts/prepare-tokenizers.sh >/dev/null
py="${DEMO_MODEL_PYTHON:-}"
if [[ -z "$py" ]]; then
    venv="$root/.venv-demo-model"
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/demo-model/requirements.txt
    py="$venv/bin/python"
fi

echo "== training (seed $seed) into $hf"
nice -n 10 "$py" scripts/demo-model/train.py --out "$hf" --seed "$seed"

echo "== converting with duoguard convert"
swift build --product duoguard -Xcc -O2 2>&1 | tail -n 1
bin="$(swift build --show-bin-path)/duoguard"
mkdir -p "$(dirname "$out")"
"$bin" convert "$hf" --output "$out" --type q8_0
sha256sum "$out"

echo "== held-out accuracy"
"$py" scripts/demo-model/evaluate.py --model "$out" --duoguard "$bin" --torch "$hf"
