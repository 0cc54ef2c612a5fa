"""What the located-repair search costs a class: grade one generated class with repair hints on, then off.

Run: .venv/bin/python -m benchmarks.repair_cost --students 60 [--workers 2] [--sandbox bwrap] [--save FILE]
Prints the wall time of each run (their ratio is the cost of the hints), the time the search itself took
(``Session._locate_repairs``, summed over the worker threads), the work it asked of the workers (requests and
probes of edited copies) and the number of located repairs (failing functions given one). ``--save`` writes
the located repairs (student, function, line, edit) as JSON, to compare two versions of the search.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
        self.counts: Counter = Counter()
        self.search_seconds = 0.0
        self.located: list[tuple[str, str, int, str]] = []

    def add(self, **amounts: float) -> None:
        """Add to the named counts."""
        with self.lock:
            self.counts.update(amounts)


def _instrumented(tally: Tally):
    """Wrap the session's repair search, the worker's requests and the grading of a submission so that they count
    into ``tally``; returns a function that undoes it."""
    locate, request, grade = Session._locate_repairs, Worker.request, Session.grade

    def timed_locate(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return locate(self, *args, **kwargs)
        finally:
            with tally.lock:
                tally.search_seconds += time.perf_counter() - started

    def counted_request(self, sent, until=None):
        if sent.id.endswith("(repairs)"):
            tally.add(requests=1, probes=len(sent.probes))
        return request(self, sent, until)

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


def run(course: assignment.Assignment, folder: Path, out: Path, workers: int, sandbox: str) -> tuple[float, Tally]:
    """Grade the class in ``folder``; return the wall time and what the search did."""
    tally = Tally()
    undo = _instrumented(tally)
    try:
        started = time.perf_counter()
        batch.grade_class(folder, course, out, seed=1, workers=workers, sandbox=sandbox)
        return time.perf_counter() - started, tally
    finally:
        undo()


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
        on, searched = run(dataclasses.replace(course, repair_hints="line"), folder, Path(scratch) / "on",
                           options.workers, options.sandbox)
        off, _ = run(dataclasses.replace(course, repair_hints="off"), folder, Path(scratch) / "off",
                     options.workers, options.sandbox)
    print(f"students: {options.students}, workers: {options.workers}, sandbox: {options.sandbox}")
    print(f"wall with repair hints: {on:.1f} s, without: {off:.1f} s, ratio {on / off:.2f}")
    print(f"repair search: {searched.search_seconds:.1f} s over the worker threads; "
          f"{searched.counts['requests']} requests of {searched.counts['probes']} probes")
    print(f"located repairs: {len(searched.located)} (students' failing functions given one)")
    if options.save:
        options.save.write_text(json.dumps(sorted(searched.located), indent=1))


if __name__ == "__main__":
    main()
