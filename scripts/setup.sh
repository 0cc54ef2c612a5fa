#!/usr/bin/env bash
# Create .venv with the CPU build of torch first (a plain `torch` would pull a multi-GB CUDA build),
# then install autograde with its test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e '.[test]'
