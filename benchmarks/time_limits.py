"""How long correct students' functions run beside the reference's time on the same calls, on a loaded machine.

Grades the example class, the correct variants and the slow-but-correct ones with the declared timeout only
(no adaptive limit), and times each function in the student's process from its start to the next one's (the
worker announces each start; the first function of a file includes the file's loading, so this is an upper
bound). For every function that passes all its checks it prints the worst time, the reference's time, and the
smallest margin the course's rule (floor + factor x reference) leaves: a margin above 1 means never timed out.
Run: .venv/bin/python -m benchmarks.time_limits [--hogs 2] [--floor 1 --factor 50]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from examples.variants import CORRECT_VARIANTS, SLOW_CORRECT_VARIANTS, build_submission
from grader import assignment, layouts, plan, runner, timelimits
from grader.engine import Session

ROOT = Path(__file__).resolve().parent.parent


class Stopwatch:
    """The start of each function as the worker announces it, and the end of each request."""

    def __init__(self):
        self.marks: list[tuple[float, str | None]] = []
        original = runner._Lines.next

        def next_line(lines, deadline):
            message = original(lines, deadline)
            running = message.get("running") if isinstance(message, dict) else None
            self.marks.append((time.monotonic(), running if isinstance(running, str) else None))
            return message

        runner._Lines.next = next_line

    def spans(self) -> dict[str, float]:
        """Seconds from each function's start to the next mark, since the last ``spans``."""
        found = {}
        for (started, function), (ended, _) in zip(self.marks, self.marks[1:]):
            if function:
                found[function] = ended - started
        self.marks.clear()
        return found


def submissions(scratch: Path) -> list[Path]:
    """The example class's entries, then copies of the solutions with each (slow) correct variant."""
    found = [entry.path for entry in layouts.discover(ROOT / "examples" / "class", scratch / "class").entries]
    variants = {**CORRECT_VARIANTS, **SLOW_CORRECT_VARIANTS}
    course = assignment.load(ROOT / "assignment.toml")
    for index, changes in enumerate(variants.values()):
        found.append(build_submission(course.solutions, scratch / f"variant{index}", changes))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hogs", type=int, default=0, help="CPU-bound processes running beside the grading")
    parser.add_argument("--floor", type=float, default=timelimits.Policy().floor)
    parser.add_argument("--factor", type=float, default=timelimits.Policy().factor)
    parser.add_argument("--sandbox", default="process")
    options = parser.parse_args()
    course = assignment.load(ROOT / "assignment.toml")
    course = dataclasses.replace(course, time_policy=timelimits.Policy(adaptive=False))
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(options.hogs)]
    worst: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch, Session(course, seed=20231, sandbox=options.sandbox) as session:
            reference = session.reference().reference
            watch = Stopwatch()
            for path in submissions(Path(scratch)):
                result = session.grade(path)
                spans = watch.spans()
                failing = {test.function for test in result.tests if test.status != "pass"}
                for function, seconds in spans.items():
                    if function not in failing:
                        worst[function] = max(worst.get(function, 0.0), seconds)
    finally:
        for hog in hogs:
            hog.kill()
    policy = timelimits.Policy(True, options.floor, options.factor)
    limits = timelimits.for_functions(plan.student_probes(course), reference, policy, float("inf"))
    print(f"{'function':24} {'reference':>10} {'worst':>8} {'limit':>7} {'margin':>7}   ({options.hogs} hogs)")
    for function, seconds in sorted(worst.items(), key=lambda item: -item[1]):
        limit = limits[function]
        print(f"{function:24} {limit.reference * 1000:8.2f}ms {seconds:7.3f}s {limit.seconds:6.2f}s "
              f"{limit.seconds / seconds:6.1f}x")
    print(f"smallest margin: {min(limits[f].seconds / s for f, s in worst.items()):.1f}x "
          f"(floor {options.floor:g} s, factor {options.factor:g})")


if __name__ == "__main__":
    main()
