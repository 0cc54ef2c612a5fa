"""Grade a generated class with `autograde grade`: wall time, students per second, peak memory of the process tree.

Run: .venv/bin/python -m benchmarks.grade_class --students 200 [--notebooks] [--workers 2] [--sandbox auto]
Optionally also grades the same notebooks with nbgrader's autograde (see benchmarks/nbgrader_compare.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.make_class import make_class

ROOT = Path(__file__).resolve().parent.parent


def tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, read from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += [child for child, parent in parents.items() if parent == pid]
    return total


def measure(command: list[str]) -> tuple[float, int, int]:
    """Run a command; return (wall seconds, peak tree RSS in bytes, exit code)."""
    peak = 0
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(process.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = process.wait()
    done.set()
    sampler.join()
    return time.perf_counter() - started, peak, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--notebooks", action="store_true", help="every third submission is a notebook")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--sandbox", default="auto")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        labels = make_class(Path(scratch) / "class", options.students, options.notebooks)
        command = [sys.executable, "-m", "grader", "grade", str(Path(scratch) / "class"), "--out",
                   str(Path(scratch) / "grades"), "--workers", str(options.workers), "--seed", "1",
                   "--sandbox", options.sandbox]
        seconds, peak, code = measure(command)
    timeouts = sum(label == "wrong: endless loop" for label in labels)
    print(f"students: {options.students} ({timeouts} with an endless loop), workers: {options.workers}, "
          f"sandbox: {options.sandbox}, exit {code}")
    print(f"wall: {seconds:.1f} s, {options.students / seconds:.2f} students/s, peak memory {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
