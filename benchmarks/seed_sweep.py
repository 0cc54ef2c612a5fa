"""Precision over random inputs: do verdicts hold for every seed, not only the one the tests use?

For each seed, grade the reference solutions, every correct variant (must score full marks) and
every wrong variant (must be caught by its check with its diagnosis) of examples/variants.py.
Run: .venv/bin/python -m benchmarks.seed_sweep [--seeds 20] [--first 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from examples.variants import CORRECT_VARIANTS, WRONG_VARIANTS, build_submission
from grader import assignment
from grader.engine import Session

ROOT = Path(__file__).resolve().parent.parent


def sweep_seed(course: assignment.Assignment, seed: int, folders: dict[str, Path]) -> list[str]:
    """The wrong verdicts of one seed, one line each."""
    problems = []
    with Session(course, seed=seed, sandbox="process") as session:
        for label, folder in folders.items():
            result = session.grade(folder)
            if label in WRONG_VARIANTS:
                _, function, check, mistake = WRONG_VARIANTS[label]
                caught = [t for t in result.tests if t.function == function and t.check == check]
                if not caught or caught[0].status == "pass" or caught[0].mistake != mistake:
                    got = f"{caught[0].status} {caught[0].mistake}" if caught else "no such check"
                    problems.append(f"seed {seed}: wrong variant {label!r} not caught as {mistake} ({got})")
            elif result.score != result.max_score:
                failing = "; ".join(f"{t.name}: {t.message}" for t in result.tests if t.status != "pass")
                problems.append(f"seed {seed}: correct {label!r} failed: {failing}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first", type=int, default=1)
    options = parser.parse_args()
    course = assignment.load(ROOT / "assignment.toml")
    with tempfile.TemporaryDirectory() as scratch:
        changes = {"reference": {}, **CORRECT_VARIANTS, **{name: spec[0] for name, spec in WRONG_VARIANTS.items()}}
        folders = {label: build_submission(course.solutions, Path(scratch) / f"s{index}", change)
                   for index, (label, change) in enumerate(changes.items())}
        started, problems = time.perf_counter(), []
        for seed in range(options.first, options.first + options.seeds):
            problems += sweep_seed(course, seed, folders)
    for problem in problems:
        print(problem)
    right = 1 + len(CORRECT_VARIANTS)
    print(f"{options.seeds} seeds x ({right} correct + {len(WRONG_VARIANTS)} wrong submissions): "
          f"{len(problems)} wrong verdicts, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
