"""What the located-repair search costs a class: grade one generated class with repair hints on, then off.

Run: .venv/bin/python -m benchmarks.repair_cost --students 60 [--workers 2] [--sandbox bwrap] [--save FILE]
Prints the wall time and the CPU time (the grading process and every process it started) of each run: their
ratios are the cost of the hints. CPU time is the steadier measure on a shared machine. Then what the search itself
took: the wall time and the grading process's CPU time of ``Session._locate_repairs`` (summed over the grading
threads), its requests to the workers (requests, probes of edited copies, and the CPU time the workers spent on
them), and the number of located repairs (failing functions given one). ``--save`` writes the located repairs
(student, function, line, edit) as JSON, to compare two versions of the search.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks.make_class import make_class
from grader import assignment, batch
from grader.engine import Session
from grader.runner import Worker

ROOT = Path(__file__).resolve().parent.parent


class Tally:
    """What the search did during one run: its time, and the requests and probes it sent the workers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: Counter = Counter()  # search_seconds, search_cpu, requests, probes, worker_cpu
        self.located: list[tuple[str, str, int, str]] = []

    def add(self, **amounts: float) -> None:
        """Add to the named counts."""
        with self.lock:
            self.counts.update(amounts)


def _instrumented(tally: Tally):
    """Wrap the session's repair search, the worker's requests and the grading of a submission so that they count
    into ``tally``; returns a function that undoes it."""
    locate, request, grade = Session._locate_repairs, Worker.request, Session.grade
    trees: dict[int, list[int]] = {}  # per worker: its sandbox's processes and itself (found once: /proc is long)

    def timed_locate(self, *args, **kwargs):
        started, used = time.perf_counter(), time.thread_time()
        try:
            return locate(self, *args, **kwargs)
        finally:
            tally.add(search_seconds=time.perf_counter() - started, search_cpu=time.thread_time() - used)

    def counted_request(self, sent, until=None):
        if not sent.id.endswith("(repairs)"):
            return request(self, sent, until)
        processes = trees.get(self.process.pid) or trees.setdefault(self.process.pid, _tree(self.process.pid))
        used = _cpu_seconds(processes)
        try:
            return request(self, sent, until)
        finally:
            tally.add(requests=1, probes=len(sent.probes), worker_cpu=_cpu_seconds(processes) - used)

    def collecting_grade(self, path, worker_index=0):
        result = grade(self, path, worker_index)
        with tally.lock:
            tally.located += sorted({(Path(path).name, t.function, t.repair.line, t.repair.edit)
                                     for t in result.tests if t.repair is not None})
        return result

    Session._locate_repairs, Worker.request, Session.grade = timed_locate, counted_request, collecting_grade

    def undo() -> None:
        Session._locate_repairs, Worker.request, Session.grade = locate, request, grade

    return undo


def run(course: assignment.Assignment, folder: Path, out: Path, workers: int,
        sandbox: str) -> tuple[float, float, Tally]:
    """Grade the class in ``folder``; return the wall time, the CPU time (this process and every process it
    started: the workers and the children they forked, read from ``/proc`` before the session closes them) and what
    the search did."""
    tally, close, spent = Tally(), Session.close, []

    def measured_close(self):
        spent.append(_cpu_seconds(_tree(os.getpid())))
        close(self)

    undo = _instrumented(tally)
    Session.close = measured_close
    try:
        started, used = time.perf_counter(), _cpu_seconds([os.getpid()])
        batch.grade_class(folder, course, out, seed=1, workers=workers, sandbox=sandbox)
        return time.perf_counter() - started, spent[0] - used, tally
    finally:
        Session.close = close
        undo()


def _tree(root: int) -> list[int]:
    """A process and its live descendants."""
    parents = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += [child for child, parent in parents.items() if parent == pid]
    return found


def _cpu_seconds(processes: list[int]) -> float:
    """The CPU time of these processes, each with that of the children it has waited for (a worker's forked
    children, a restarted worker): a bubblewrap sandbox's processes never reach ``getrusage``."""
    ticks = 0
    for pid in processes:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                ticks += sum(int(value) for value in handle.read().rsplit(")", 1)[1].split()[11:15])
        except (OSError, IndexError):
            continue  # ended since
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sandbox", default="bwrap")
    parser.add_argument("--save", type=Path, help="write the located repairs here (JSON)")
    options = parser.parse_args()
    course = assignment.load(ROOT / "assignment.toml")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "class"
        make_class(folder, options.students, notebooks=True)
        on, on_cpu, searched = run(dataclasses.replace(course, repair_hints="line"), folder, Path(scratch) / "on",
                                   options.workers, options.sandbox)
        off, off_cpu, _ = run(dataclasses.replace(course, repair_hints="off"), folder, Path(scratch) / "off",
                              options.workers, options.sandbox)
    counts = searched.counts
    print(f"students: {options.students}, workers: {options.workers}, sandbox: {options.sandbox}")
    print(f"wall with repair hints: {on:.1f} s, without: {off:.1f} s, ratio {on / off:.2f}")
    print(f"CPU with repair hints: {on_cpu:.1f} s, without: {off_cpu:.1f} s, ratio {on_cpu / off_cpu:.2f}")
    print(f"repair search: {counts['search_seconds']:.1f} s over the grading threads, {counts['search_cpu']:.2f} s of "
          f"the grading process's CPU; {counts['requests']} requests of {counts['probes']} probes, "
          f"{counts['worker_cpu']:.2f} s of the workers' CPU")
    print(f"located repairs: {len(searched.located)} (students' failing functions given one)")
    if options.save:
        options.save.write_text(json.dumps(sorted(searched.located), indent=1))


if __name__ == "__main__":
    main()
