"""How long ``autograde check`` takes on a complete correct submission, against a bare ``import torch``.

Two paths: the instructor's (against solutions/: a reference process beside the student's worker, or,
once a seed's reference is in the cache, the worker alone) and the student's (inside a release bundle: an
answer key, so only the worker imports torch). The cache is a fresh folder of the benchmark's own.
Run: .venv/bin/python benchmarks/check_speed.py [--repeat 5] [--sandbox auto]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str], cwd: Path, cache: Path | None = None) -> float:
    env = os.environ | ({"XDG_CACHE_HOME": str(cache)} if cache else {})
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
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
        cache = Path(scratch) / "cache"
        timed(grade + ["--seed", "1"], ROOT, cache)  # the cache now holds seed 1's reference
        commands = {
            "bare `import torch`": lambda i: timed([sys.executable, "-c", "import torch"], ROOT),
            "check, against solutions/": lambda i: timed(grade, ROOT, Path(scratch) / f"empty{i}"),
            "check, solutions/, reference cached": lambda i: timed(grade + ["--seed", "1"], ROOT, cache),
            "check, from a release (answer key)": lambda i: timed(grade, bundle),
        }
        runs: dict[str, list[float]] = {label: [] for label in commands}
        for i in range(options.repeat):  # round by round: a change of the machine's load weighs on every path alike
            for label, run in commands.items():
                runs[label].append(run(i))
    bare = statistics.median(runs["bare `import torch`"])
    for label, seconds in runs.items():
        median = statistics.median(seconds)
        print(f"{label:38} median {median:.2f} s ({median / bare:.2f}x import torch; sandbox={options.sandbox})")


if __name__ == "__main__":
    main()
