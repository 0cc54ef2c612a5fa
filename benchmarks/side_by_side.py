"""Issue 17's figures side by side, in one run, as ratios to what this machine takes for a bare ``import torch``
(or, for nbgrader, to its students per second), each beside its target.

Run: .venv/bin/python -m benchmarks.side_by_side [--students 200] [--large 1000] [--nbgrader PATH] [--repeat 3]
What it runs, in order: ``benchmarks.check_speed`` (every check path, round by round with the bare import), the
generated class of ``--students`` (every third a notebook) graded with 2 workers, ``autograde report`` of that
class, then optionally the class of ``--large`` students (time per student against the smaller class's, and
peak memory) and nbgrader's ``autograde`` on 30 of the same notebooks (``--nbgrader``, see
benchmarks/nbgrader_compare.py).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks import check_speed, grade_class, nbgrader_compare, report_speed

WORKERS = 2


def rows(options: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(what, measured, target) for every figure."""
    checks = check_speed.measure(options.repeat, options.sandbox)
    torch = checks["bare `import torch`"]
    table = [("bare `import torch`", f"{torch:.2f} s", "the unit")]
    targets = {"check --no-server, against solutions/": "<= 1.3x", "check --no-server, from a release": "<= 1.3x",
               "check, warm server": "<= 0.05x", "check from a release, warm server": "<= 0.05x"}
    table += [(label, f"{seconds / torch:.2f}x ({seconds:.2f} s)", targets.get(label, ""))
              for label, seconds in checks.items() if label != "bare `import torch`"]
    with tempfile.TemporaryDirectory() as scratch:
        graded = grade_class.grade(Path(scratch), options.students, True, WORKERS, options.sandbox)
        table.append((f"grade {graded.students} students ({graded.endless} endless loops), exit {graded.code}",
                      f"{graded.seconds / torch:.1f}x ({graded.seconds:.1f} s, {graded.peak_bytes / 2**20:.0f} MiB)",
                      "<= 12x"))
        bare_cli, report = report_speed.measure(Path(scratch) / "grades", options.repeat)
        table.append((f"report of {graded.students} students", f"{report:.2f} s ({report - bare_cli:.2f} s of its own)",
                      "< 1 s"))
    if options.large:
        with tempfile.TemporaryDirectory() as scratch:
            large = grade_class.grade(Path(scratch), options.large, True, WORKERS, options.sandbox)
        per_student = (large.seconds / large.students) / (graded.seconds / graded.students)
        table.append((f"grade {large.students} students, exit {large.code}",
                      f"{large.seconds / torch:.1f}x ({large.seconds:.1f} s); {per_student:.2f}x the time per student",
                      "linear"))
        table.append((f"peak memory at {large.students} students", f"{large.peak_bytes / 2**30:.2f} GiB "
                      f"({graded.peak_bytes / 2**30:.2f} GiB at {graded.students})", "<= 2 GiB, flat"))
    if options.nbgrader:
        compared = nbgrader_compare.compare(options.nbgrader, 30)
        table.append(("students per second against nbgrader (30 notebooks)",
                      f"{compared.nbgrader_seconds / compared.our_seconds:.1f}x ({compared.our_seconds:.1f} s against "
                      f"{compared.nbgrader_seconds:.1f} s)", ">= 50x"))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--large", type=int, default=0, help="also grade a class this large (e.g. 1000)")
    parser.add_argument("--nbgrader", default=None, help="path of an nbgrader executable, to compare with")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sandbox", default="auto")
    options = parser.parse_args()
    table = rows(options)
    width = max(len(what) for what, _, _ in table)
    for what, measured, target in table:
        print(f"{what:{width}}  {measured:45}  {target}")


if __name__ == "__main__":
    main()
