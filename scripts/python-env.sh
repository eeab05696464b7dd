#!/usr/bin/env bash
# Makes sure .venv exists with the packages in scripts/requirements-ci.txt (idempotent, quiet).
# Prints nothing on success; the venv's python is .venv/bin/python.
# `python-env.sh VENV REQUIREMENTS` does the same for another venv (bench/model/bench-env.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv}"
req="${2:-$root/scripts/requirements-ci.txt}"
stamp="$venv/.$(basename "$req" .txt).sha"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
