#!/usr/bin/env bash
# Set up autograde in .venv: the sandbox (bubblewrap), the CPU build of torch, then autograde with its
# test dependencies. A plain `pip install torch` would pull the multi-GB CUDA build: the CPU build
# comes from PyTorch's CPU index, or from the default index where that one cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"

if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing bubblewrap, the sandbox for student code"
    apt-get install -y -q bubblewrap >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1; } \
      || echo "setup: could not install bubblewrap; grading a class will need it (or --sandbox process)" >&2
  else
    echo "setup: bubblewrap (the sandbox for student code) is missing; install it with:" >&2
    echo "         sudo apt-get install bubblewrap    (Debian, Ubuntu; dnf/pacman elsewhere)" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
if ! .venv/bin/pip install -q --retries 0 --timeout 15 --index-url "$TORCH_INDEX" "torch==$TORCH_VERSION" 2>/dev/null; then
  echo "setup: $TORCH_INDEX cannot be reached; installing torch $TORCH_VERSION from the default index" >&2
  .venv/bin/pip install -q "torch==$TORCH_VERSION"
fi
.venv/bin/pip install -q -e '.[test]'
echo "setup: done. To have 'autograde' on your PATH in this shell: source .venv/bin/activate"
echo "       (or call it as .venv/bin/autograde; try: .venv/bin/autograde check exercises/)"
