"""The class picture: score distribution, pass rate per function, most common mistakes, the one-edit repairs
that fixed most students, clusters of identical wrong answers, similar code, suspicious code, and the grader's
own failures.

A ``Tally`` takes the records one at a time as grades land and keeps only what the summary needs
(a score, a few counters, and the failing functions' digests for the clusters), so its memory
stays small however large the class.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from grader.assignment import Assignment
from grader.clusters import Cluster, find_clusters
from grader.results import INTERNAL, PASS, Flag
from grader.similarity import SimilarPair


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
    suspicious: dict[str, list[Flag]] = field(default_factory=dict)  # student -> the tamper scan's findings
    not_compared: dict[str, str] = field(default_factory=dict)  # student -> why (some of) their code was not compared
    could_not_load: dict[str, list[str]] = field(default_factory=dict)  # student -> files that did not read or load
    repairs: list[tuple[tuple[str, str], int]] = field(default_factory=list)  # (function, one-edit repair) -> students

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
                "not_compared": self.not_compared, "could_not_load": self.could_not_load,
                "internal_errors": self.internal_errors,
                "unrecognised": self.unrecognised,
                "repairs": [{"function": function, "edit": edit, "students": count}
                            for (function, edit), count in self.repairs],
                **({"suspicious_code": {student: [flag.as_dict() for flag in flags]
                                        for student, flags in self.suspicious.items()}} if self.suspicious else {})}

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


class Tally:
    """What the class summary needs, accumulated one record at a time."""

    def __init__(self, assignment: Assignment):
        self.assignment = assignment
        self.count = 0
        self.scores: list[float] = []
        self.passing = Counter()  # function -> students passing all its checks
        self.mistakes = Counter()
        self.internal_errors: dict[str, str] = {}
        self.failing: dict[str, dict] = {}  # student -> the digests and failing tests of their failing functions
        self.suspicious: dict[str, list[Flag]] = {}  # student -> the tamper scan's findings in their code
        self.could_not_load: dict[str, list[str]] = {}  # student -> files that did not read or load, with where
        self.repairs = Counter()  # (function, edit) -> students whose function that one edit repairs

    def add(self, record: dict) -> None:
        """Count one student's record."""
        self.count += 1
        flags = [Flag.from_dict(flag) for flag in record.get("flags") or [] if isinstance(flag, dict)]
        if flags:
            self.suspicious[record["id"]] = flags
        problems = [str(problem) for problem in record.get("load_problems") or []]
        if problems:
            self.could_not_load[record["id"]] = problems
        if record.get("internal_error"):
            self.internal_errors[record["id"]] = record["internal_error"]
            return
        self.scores.append(record["score"])
        internal = [f"{t['name']}: {t['message']}" for t in record["tests"] if t["status"] == INTERNAL]
        if internal:  # one check's judging failed: the student stays in the statistics, and is listed
            self.internal_errors[record["id"]] = "; ".join(internal)
        failing = [{key: t[key] for key in ("function", "status", "mistake", "message")}
                   for t in record["tests"] if t["status"] != PASS]
        failed = {t["function"] for t in failing}
        self.passing.update(spec.name for spec in self.assignment.functions if spec.name not in failed)
        self.mistakes.update({t["mistake"] for t in record["tests"] if t["mistake"]})
        repairs = record.get("repairs") if isinstance(record.get("repairs"), dict) else {}
        self.repairs.update((str(function), str(repair.get("edit", ""))) for function, repair in repairs.items()
                            if isinstance(repair, dict) and repair.get("edit"))
        if failing:
            digests = {f: d for f, d in record.get("fingerprints", {}).items() if f in failed}
            self.failing[record["id"]] = {"id": record["id"], "fingerprints": digests, "tests": failing}

    def summary(self, unrecognised: list[str], similar_code: list[SimilarPair] | None = None,
                not_compared: dict[str, str] | None = None) -> Summary:
        """The summary of every record counted so far."""
        graded = len(self.scores)
        pass_rates = {spec.name: self.passing[spec.name] / graded if graded else 0.0 for spec in self.assignment.functions}
        return Summary(self.count, self.assignment.max_score, list(self.scores), pass_rates, self.mistakes.most_common(),
                       dict(sorted(self.internal_errors.items())), unrecognised, find_clusters(self.failing),
                       similar_code or [], {m: self.assignment.catalogue.meaning(m) for m in self.mistakes},
                       dict(sorted(self.suspicious.items())), not_compared=dict(sorted((not_compared or {}).items())),
                       could_not_load=dict(sorted(self.could_not_load.items())), repairs=self.repairs.most_common())


def summarise(records: dict[str, dict], assignment: Assignment, unrecognised: list[str],
              similar_code: list[SimilarPair] | None = None) -> Summary:
    """Summarise a class's records; ``similar_code`` comes from comparing the code, which records lack."""
    tally = Tally(assignment)
    for record in records.values():
        tally.add(record)
    return tally.summary(unrecognised, similar_code)
