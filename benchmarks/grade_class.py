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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Graded:
    """One graded class: its size, how many students loop forever, wall seconds, peak memory, exit status."""

    students: int
    endless: int
    seconds: float
    peak_bytes: int
    code: int


def grade(folder: Path, students: int, notebooks: bool, workers: int, sandbox: str) -> Graded:
    """Generate a class in ``folder/class`` and grade it into ``folder/grades`` with ``autograde grade``."""
    labels = make_class(folder / "class", students, notebooks)
    command = [sys.executable, "-m", "grader", "grade", str(folder / "class"), "--out", str(folder / "grades"),
               "--workers", str(workers), "--seed", "1", "--sandbox", sandbox]
    seconds, peak, code = measure(command)
    return Graded(students, sum(label == "wrong: endless loop" for label in labels), seconds, peak, code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--notebooks", action="store_true", help="every third submission is a notebook")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--sandbox", default="auto")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        graded = grade(Path(scratch), options.students, options.notebooks, options.workers, options.sandbox)
    print(f"students: {graded.students} ({graded.endless} with an endless loop), workers: {options.workers}, "
          f"sandbox: {options.sandbox}, exit {graded.code}")
    print(f"wall: {graded.seconds:.1f} s, {graded.students / graded.seconds:.2f} students/s, "
          f"peak memory {graded.peak_bytes / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
