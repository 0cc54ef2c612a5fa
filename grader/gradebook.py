"""The instructor's outputs: a gradebook, every student's results and feedback, and a class summary.

Results are appended to ``results.jsonl`` (flushed and synced) and ``grades.csv`` as each student
finishes, so an interrupted run keeps every finished grade. ``finish`` rewrites the files in
student order and writes ``results.json``. ``load`` reads a (partial) output folder back, for
``--resume`` and ``autograde merge``.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader.assignment import Assignment
from grader.clusters import Cluster, find_clusters
from grader.reporters import terminal
from grader.results import PASS, SubmissionResult
from grader.similarity import SimilarPair

RESULTS_LINES = "results.jsonl"
RUN_FILE = "run.json"


def student_record(student: str, result: SubmissionResult, max_score: float) -> dict:
    """One line of ``results.jsonl``: the check document plus id, seed and per-function points.

    A submission the grader could not grade keeps the assignment's maximum, so its row reads
    0 out of the full points (flagged by ``internal_error``), not 0 out of 0.
    """
    record = {"id": student, "seed": result.seed, **result.as_dict(),
              "functions": {name: earned for name, (earned, _) in result.per_function().items()},
              "warnings": result.warnings, "fingerprints": result.fingerprints,
              "trajectories": result.trajectories}
    if result.internal_error:
        record["max_score"] = max_score
    return record


class Gradebook:
    """Writes one run's outputs into ``out`` as results arrive."""

    def __init__(self, out: Path, assignment: Assignment, seed: int, resume: bool):
        self.out, self.assignment, self.seed = out, assignment, seed
        self.functions = [spec.name for spec in assignment.functions]
        (out / "feedback").mkdir(parents=True, exist_ok=True)
        self.records = load(out) if resume else {}
        mode = "a" if resume else "w"
        (out / RUN_FILE).write_text(json.dumps({"seed": seed, "assignment": assignment.name,
                                                "max_score": assignment.max_score}))
        self._lines = open(out / RESULTS_LINES, mode, encoding="utf-8")
        fresh_csv = not resume or not (out / "grades.csv").exists()
        self._csv_file = open(out / "grades.csv", mode if not fresh_csv else "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._csv_file)
        if fresh_csv:
            self._csv.writerow(header(self.functions))

    def add(self, student: str, result: SubmissionResult) -> None:
        """Record one student's result durably, with their feedback file."""
        record = student_record(student, result, self.assignment.max_score)
        self.records[student] = record
        feedback_file(self.out, student).write_text(terminal.render(result, markdown=True), encoding="utf-8")
        self._lines.write(json.dumps(record) + "\n")
        self._lines.flush()
        os.fsync(self._lines.fileno())
        self._csv.writerow(row(record, self.functions))
        self._csv_file.flush()

    def finish(self) -> None:
        """Rewrite the gradebook in student order and write ``results.json``."""
        self._lines.close()
        self._csv_file.close()
        write_all(self.out, self.records, self.functions)


def header(functions: list[str]) -> list[str]:
    """The CSV header: id, total, max, then one column per function."""
    return ["id", "total", "max", *functions]


def row(record: dict, functions: list[str]) -> list[str]:
    """One gradebook row."""
    return [record["id"], f"{record['score']:g}", f"{record['max_score']:g}",
            *(f"{record['functions'].get(name, 0):g}" for name in functions)]


def write_all(out: Path, records: dict[str, dict], functions: list[str]) -> None:
    """``grades.csv``, ``results.jsonl`` and ``results.json`` for all the records, sorted by id
    (``results.jsonl`` replaced atomically: a merged folder can be reported, resumed or merged again)."""
    ordered = [records[key] for key in sorted(records)]
    staged = out / f"{RESULTS_LINES}.tmp"
    staged.write_text("".join(json.dumps(record) + "\n" for record in ordered), encoding="utf-8")
    os.replace(staged, out / RESULTS_LINES)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header(functions))
        writer.writerows(row(record, functions) for record in ordered)
    (out / "results.json").write_text(json.dumps({"students": ordered}, indent=1), encoding="utf-8")


def load(out: Path) -> dict[str, dict]:
    """The finished records of an output folder (a torn last line from a kill is ignored)."""
    records = {}
    path = out / RESULTS_LINES
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            records[record["id"]] = record
    return records


def run_seed(out: Path) -> int | None:
    """The seed an earlier run in ``out`` used."""
    try:
        return json.loads((out / RUN_FILE).read_text())["seed"]
    except (OSError, ValueError, KeyError):
        return None


def feedback_file(out: Path, student: str) -> Path:
    """Where a student's Markdown feedback is written in an output folder."""
    return out / "feedback" / f"{student.replace('/', '__')}.md"


@dataclass
class Summary:
    """The class picture: score distribution, pass rate per function, most common mistakes, students
    who gave the same wrong answer, students whose code is alike, and the grader's own failures."""

    count: int
    max_score: float
    scores: list[float]
    pass_rates: dict[str, float]
    mistakes: list[tuple[str, int]]
    internal_errors: dict[str, str] = field(default_factory=dict)  # student -> the grader's error message
    unrecognised: list[str] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    similar_code: list[SimilarPair] = field(default_factory=list)
    meanings: dict[str, str] = field(default_factory=dict)  # mistake id -> what it means, from the course

    @property
    def errors(self) -> int:
        """How many submissions hit an internal grader error."""
        return len(self.internal_errors)

    def as_dict(self) -> dict:
        """The ``--format json`` summary."""
        stats = self.statistics()
        return {"students": self.count, "max_score": self.max_score, **stats, "histogram": self.histogram(),
                "pass_rate": self.pass_rates, "mistakes": dict(self.mistakes),
                "clusters": [cluster.as_dict() for cluster in self.clusters],
                "similar_code": [pair.as_dict() for pair in self.similar_code],
                "internal_errors": self.internal_errors, "unrecognised": self.unrecognised}

    def statistics(self) -> dict:
        """Mean, median, min and max of the totals."""
        if not self.scores:
            return {"mean": None, "median": None, "min": None, "max": None}
        return {"mean": statistics.fmean(self.scores), "median": statistics.median(self.scores),
                "min": min(self.scores), "max": max(self.scores)}

    def histogram(self, bins: int = 10) -> list[int]:
        """Students per tenth of the maximum score (the last bin includes full marks)."""
        counts = [0] * bins
        for score in self.scores:
            counts[min(int(bins * score / self.max_score), bins - 1) if self.max_score else 0] += 1
        return counts


def summarise(records: dict[str, dict], assignment: Assignment, unrecognised: list[str],
              similar_code: list[SimilarPair] | None = None) -> Summary:
    """Summarise a class's records; ``similar_code`` comes from comparing the code, which records lack."""
    graded = [r for r in records.values() if not r.get("internal_error")]
    pass_rates = {}
    for spec in assignment.functions:
        passed = sum(all(t["status"] == PASS for t in r["tests"] if t["function"] == spec.name) for r in graded)
        pass_rates[spec.name] = passed / len(graded) if graded else 0.0
    mistakes = Counter(mistake for r in graded for mistake in {t["mistake"] for t in r["tests"] if t["mistake"]})
    internal_errors = {key: records[key]["internal_error"] for key in sorted(records) if records[key].get("internal_error")}
    return Summary(len(records), assignment.max_score, [r["score"] for r in graded], pass_rates,
                   mistakes.most_common(), internal_errors, unrecognised,
                   find_clusters({r["id"]: r for r in graded}), similar_code or [],
                   {mistake: assignment.catalogue.meaning(mistake) for mistake in mistakes})
