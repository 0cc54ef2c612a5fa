"""How long ``autograde report`` takes to rebuild a graded class's report.html, against a bare ``import grader.cli``.

The class is generated (benchmarks/make_class.py, every third student a notebook) and graded once by
``autograde grade --sandbox process``; then the two commands run round by round, so that a change of the
machine's load weighs on both alike. The difference of the medians is the report's own work: reading the
records, the figures, the HTML.
Run: .venv/bin/python -m benchmarks.report_speed --students 200 [--repeat 7] [--out DIR]
(--out keeps the graded folder, and a later run with the same DIR reuses it instead of grading again).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.make_class import make_class
from grader import gradebook

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str]) -> float:
    """Wall time of ``command``, run from the repository (where the course's assignment.toml is)."""
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def graded(folder: Path, students: int, workers: int) -> Path:
    """``folder/out``: the generated class graded, unless an earlier run left it there."""
    out = folder / "out"
    if not (out / "results.jsonl").exists():
        make_class(folder / "class", students, notebooks=True)
        subprocess.run([sys.executable, "-m", "grader", "grade", str(folder / "class"), "--out", str(out), "--workers",
                        str(workers), "--seed", "1", "--sandbox", "process"], cwd=ROOT, check=True, capture_output=True)
    return out


def measure(out: Path, repeat: int) -> tuple[float, float]:
    """The medians of a bare ``import grader.cli`` and of ``autograde report out``, run round by round."""
    commands = {"bare": [sys.executable, "-c", "import grader.cli"],
                "report": [sys.executable, "-m", "grader", "report", str(out)]}
    runs: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(repeat):
        for label, command in commands.items():
            runs[label].append(timed(command))
    return statistics.median(runs["bare"]), statistics.median(runs["report"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="keep (or reuse) the graded class here")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = graded(options.out or Path(scratch), options.students, options.workers)
        students = len(gradebook.load(out))
        bare, report = measure(out, options.repeat)
    print(f"{students} students, median of {options.repeat} runs")
    print(f"bare `import grader.cli`  {bare:.2f} s")
    print(f"autograde report          {report:.2f} s ({report / bare:.2f}x the bare import; "
          f"{report - bare:.2f} s of its own)")


if __name__ == "__main__":
    main()
