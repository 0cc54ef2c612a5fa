"""How long ``autograde check`` takes on a complete correct submission, against a bare ``import torch``, side by side.

Paths: the instructor's (against solutions/: a reference process beside the student's worker, or, once a seed's
reference is in the cache, the worker alone), the student's (inside a release bundle: an answer key, so only the
worker imports torch), each without the check server (``--no-server``); then with it: the first check, which
starts the server, and a later one, which the warm server answers. The cache and the runtime folder are the
benchmark's own; every server it starts is stopped.
Run: .venv/bin/python benchmarks/check_speed.py [--repeat 5] [--sandbox auto]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
    return time.perf_counter() - started


def measure(repeat: int, sandbox: str) -> dict[str, float]:
    """The median wall time of each path, by label (the first is a bare ``import torch``)."""
    check = [sys.executable, "-m", "grader", "check", "--sandbox", sandbox]
    stop = [sys.executable, "-m", "grader", "server", "stop"]
    with tempfile.TemporaryDirectory() as scratch:
        bundle = Path(scratch) / "release"
        subprocess.run([sys.executable, "-m", "grader", "release", "--out", str(bundle), "--seeds", "2"], cwd=ROOT,
                       check=True, capture_output=True)
        runtime = Path(tempfile.mkdtemp(prefix="ag-bench-", dir="/tmp"))  # short: a socket's path must fit
        base = {name: value for name, value in os.environ.items() if name not in ("CI", "AUTOGRADE_NO_SERVER")}
        env = base | {"XDG_CACHE_HOME": str(Path(scratch) / "cache"), "XDG_RUNTIME_DIR": str(runtime)}
        fresh = lambda i: env | {"XDG_CACHE_HOME": str(Path(scratch) / f"empty{i}")}  # noqa: E731
        solutions = [str(ROOT / "solutions")]
        timed(check + solutions + ["--seed", "1", "--no-server"], ROOT, env)  # the cache now holds seed 1's reference
        commands = {
            "bare `import torch`": lambda i: timed([sys.executable, "-c", "import torch"], ROOT, env),
            "check --no-server, against solutions/": lambda i: timed(check + solutions + ["--no-server"], ROOT, fresh(i)),
            "check --no-server, reference cached": lambda i: timed(check + solutions + ["--seed", "1", "--no-server"],
                                                                   ROOT, env),
            "check --no-server, from a release": lambda i: timed(check + ["exercises", "--no-server"], bundle, env),
            "first check, starts the server": lambda i: timed(check + solutions + ["--seed", "1"], ROOT, env),
            "check, warm server": lambda i: timed(check + solutions + ["--seed", "1"], ROOT, env),
            "first check from a release, starts it": lambda i: timed(check + ["exercises"], bundle, env),
            "check from a release, warm server": lambda i: timed(check + ["exercises"], bundle, env),
        }
        runs: dict[str, list[float]] = {label: [] for label in commands}
        try:
            for i in range(repeat):  # round by round: a change of the machine's load weighs on every path alike
                subprocess.run(stop, env=env, capture_output=True, check=False)
                for label, run in commands.items():
                    runs[label].append(run(i))
        finally:
            subprocess.run(stop, env=env, capture_output=True, check=False)
            shutil.rmtree(runtime, ignore_errors=True)
    return {label: statistics.median(seconds) for label, seconds in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sandbox", default="auto")
    options = parser.parse_args()
    medians = measure(options.repeat, options.sandbox)
    bare = medians["bare `import torch`"]
    for label, median in medians.items():
        print(f"{label:40} median {median:.2f} s ({median / bare:.2f}x import torch; sandbox={options.sandbox})")


if __name__ == "__main__":
    main()
