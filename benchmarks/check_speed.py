"""How long ``autograde check`` takes on a complete correct submission, against a bare ``import torch``.

Two paths: the instructor's (against solutions/: a reference process beside the student's worker)
and the student's (inside a release bundle: an answer key, so only the worker imports torch).
Run: .venv/bin/python benchmarks/check_speed.py [--repeat 5] [--sandbox auto]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sandbox", default="auto")
    options = parser.parse_args()
    grade = [sys.executable, "-m", "grader", "check", str(ROOT / "solutions"), "--sandbox", options.sandbox]
    with tempfile.TemporaryDirectory() as scratch:
        bundle = Path(scratch) / "release"
        subprocess.run([sys.executable, "-m", "grader", "release", "--out", str(bundle), "--seeds", "2"], cwd=ROOT,
                       check=True, capture_output=True)
        runs = {
            "bare `import torch`": [timed([sys.executable, "-c", "import torch"], ROOT) for _ in range(options.repeat)],
            "check, against solutions/": [timed(grade, ROOT) for _ in range(options.repeat)],
            "check, from a release (answer key)": [timed(grade, bundle) for _ in range(options.repeat)],
        }
    bare = statistics.median(runs["bare `import torch`"])
    for label, seconds in runs.items():
        median = statistics.median(seconds)
        print(f"{label:38} median {median:.2f} s ({median / bare:.2f}x import torch; sandbox={options.sandbox})")


if __name__ == "__main__":
    main()
