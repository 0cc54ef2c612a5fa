"""How many wrong results get a diagnosis: every failing check of the wrong test variants, over many seeds.

For each seed, grade every wrong submission of examples/variants.py (WRONG_VARIANTS and MEASURED_VARIANTS)
and count its failing checks (fail or error) and those that name a mistake; on the check each variant targets,
also the names that are wrong (another mistake than the variant's): a wrong name misleads, and should be 0.
Run: .venv/bin/python -m benchmarks.diagnosed [--seeds 5] [--first 1]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from grader import assignment
from grader.engine import Session
from examples.variants import MEASURED_VARIANTS, WRONG_VARIANTS, build_submission

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first", type=int, default=1)
    options = parser.parse_args()
    course = assignment.load(ROOT / "assignment.toml")
    variants = {**WRONG_VARIANTS, **MEASURED_VARIANTS}
    failing = named = primary = primary_named = wrong_names = 0
    with tempfile.TemporaryDirectory() as scratch:
        folders = {label: build_submission(course.solutions, Path(scratch) / f"s{index}", spec[0])
                   for index, (label, spec) in enumerate(variants.items())}
        for seed in range(options.first, options.first + options.seeds):
            with Session(course, seed=seed, sandbox="process") as session:
                for label, folder in folders.items():
                    _, function, kind, mistake = variants[label]
                    for test in session.grade(folder).tests:
                        if test.status in ("fail", "error"):
                            failing, named = failing + 1, named + bool(test.mistake)
                            if test.function == function and test.check == kind:
                                primary, primary_named = primary + 1, primary_named + bool(test.mistake)
                                if test.mistake and test.mistake != mistake:
                                    wrong_names += 1
                                    print(f"seed {seed}, {label}: named {test.mistake}, not {mistake}")
    print(f"{options.seeds} seeds x {len(variants)} wrong submissions: {named}/{failing} failing checks diagnosed; "
          f"the check each variant targets: {primary_named}/{primary} named, {wrong_names}/{primary} named wrongly")


if __name__ == "__main__":
    main()
