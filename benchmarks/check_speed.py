"""How long ``autograde check`` takes on a complete correct submission, against a bare ``import torch``.

Run: .venv/bin/python benchmarks/check_speed.py [--repeat 5] [--sandbox auto]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sandbox", default="auto")
    options = parser.parse_args()
    bare = [timed([sys.executable, "-c", "import torch"]) for _ in range(options.repeat)]
    check = [timed([sys.executable, "-m", "grader", "check", "solutions", "--sandbox", options.sandbox])
             for _ in range(options.repeat)]
    print(f"bare `import torch`:            median {statistics.median(bare):.2f} s")
    print(f"`autograde check solutions/`:   median {statistics.median(check):.2f} s "
          f"({statistics.median(check) / statistics.median(bare):.2f}x import torch, sandbox={options.sandbox})")


if __name__ == "__main__":
    main()
