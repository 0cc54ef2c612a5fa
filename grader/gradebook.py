"""The instructor's outputs: a gradebook, every student's results and feedback, and a class summary.

Results are appended to ``results.jsonl`` (flushed and synced) and ``grades.csv`` as each student
finishes, so an interrupted run keeps every finished grade. ``finish`` rewrites the files in
student order and writes ``results.json``. ``load`` reads a (partial) output folder back, for
``--resume`` and ``autograde merge``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from grader import tamper
from grader.assignment import Assignment
from grader.class_summary import Tally
from grader.reporters import terminal, workflow_commands
from grader.results import SubmissionResult
from grader.textsafe import csv_cell

RESULTS_LINES = "results.jsonl"
RUN_FILE = "run.json"
SUMMARY_FILE = "summary.json"  # the class summary, with what records lack: similar code, unrecognised entries
NAME_BYTES = 200  # a feedback file name's longest, in bytes (file systems allow 255)
HASH_CHARACTERS = 16
SAFE_PUNCTUATION = "-_.@+"


def student_record(student: str, result: SubmissionResult, max_score: float) -> dict:
    """One line of ``results.jsonl``: the check document plus id, seed and per-function points, and each located
    repair with its edit (the instructor's view, whatever the course lets students see).

    A submission the grader could not grade keeps the assignment's maximum, so its row reads
    0 out of the full points (flagged by ``internal_error``), not 0 out of 0.
    """
    record = {"id": student, "seed": result.seed, **result.as_dict(),
              "functions": {name: earned for name, (earned, _) in result.per_function().items()},
              "warnings": result.warnings, "fingerprints": result.fingerprints,
              "trajectories": result.trajectories, "flags": [flag.as_dict() for flag in result.flags],
              "load_problems": result.load_problems,
              "repairs": {t.function: {**t.repair.as_dict(), "edit": t.repair.edit} for t in result.tests if t.repair}}
    if result.internal_error:
        record["max_score"] = max_score
    return record


class Gradebook:
    """Writes one run's outputs into ``out`` as results arrive."""

    def __init__(self, out: Path, assignment: Assignment, seed: int, resume: bool):
        self.out, self.assignment, self.seed = out, assignment, seed
        self.functions = [spec.name for spec in assignment.functions]
        (out / "feedback").mkdir(parents=True, exist_ok=True)
        self.students: set[str] = set()  # graded so far; the records themselves stay on disk only
        self.tally = Tally(assignment)
        for record in (iter_records(out) if resume else ()):
            self._count(record)
        mode = "a" if resume else "w"
        (out / RUN_FILE).write_text(json.dumps({"seed": seed, "assignment": assignment.name}))
        self._lines = open(out / RESULTS_LINES, mode, encoding="utf-8")
        fresh_csv = not resume or not (out / "grades.csv").exists()
        self._csv_file = open(out / "grades.csv", mode if not fresh_csv else "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._csv_file)
        if fresh_csv:
            self._csv.writerow(header(self.functions))

    def add(self, student: str, result: SubmissionResult) -> None:
        """Record one student's result durably, with their feedback file."""
        record = student_record(student, result, self.assignment.max_score)
        self._count(record)
        feedback_file(self.out, student).write_text(terminal.render(result, markdown=True), encoding="utf-8")
        self._lines.write(_json(record) + "\n")
        self._lines.flush()
        os.fsync(self._lines.fileno())
        self._csv.writerow(row(record, self.functions))
        self._csv_file.flush()

    def _count(self, record: dict) -> None:
        if record["id"] not in self.students:
            self.students.add(record["id"])
            self.tally.add(record)

    def finish(self) -> None:
        """Rewrite the gradebook in student order and write ``results.json``, reading the records back
        from ``results.jsonl`` one at a time."""
        self._lines.close()
        self._csv_file.close()
        rewrite_sorted(self.out, self.functions)


def _json(document: object, indent: int | None = None) -> str:
    """JSON for an output file: the same values read back, but no `::` or `##[` a CI log would obey."""
    return workflow_commands.neutralise(json.dumps(document, indent=indent), "json")


def header(functions: list[str]) -> list[str]:
    """The CSV header: id, total, max, then one column per function, then the tamper scan's flags."""
    return cells(["id", "total", "max", *functions, "flags"])


def row(record: dict, functions: list[str]) -> list[str]:
    """One gradebook row: the id, then the points (numbers stay numbers)."""
    return cells([record["id"], record["score"], record["max_score"],
                  *(record["functions"].get(name, 0) for name in functions), tamper.summary_text(record.get("flags") or [])])


def cells(values: list) -> list[str]:
    """A CSV row's cells: a number written as one (``%g``), any other value as one line of text that
    neither a spreadsheet nor a CI runner acts on (``textsafe.csv_cell``). Pass numbers as numbers, text as text."""
    return [f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else csv_cell(str(value))
            for value in values]


def write_all(out: Path, records: dict[str, dict], functions: list[str]) -> None:
    """``grades.csv``, ``results.jsonl`` and ``results.json`` for all the records, sorted by id
    (``results.jsonl`` replaced atomically: a merged folder can be reported, resumed or merged again)."""
    ordered = [records[key] for key in sorted(records)]
    staged = out / f"{RESULTS_LINES}.tmp"
    staged.write_text("".join(_json(record) + "\n" for record in ordered), encoding="utf-8")
    os.replace(staged, out / RESULTS_LINES)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header(functions))
        writer.writerows(row(record, functions) for record in ordered)
    (out / "results.json").write_text(_json({"students": ordered}, indent=1), encoding="utf-8")


def rewrite_sorted(out: Path, functions: list[str]) -> None:
    """``grades.csv``, ``results.jsonl`` and ``results.json`` in student order, from ``results.jsonl``,
    holding one record at a time (the last line of a student wins, as in ``load``)."""
    path = out / RESULTS_LINES
    where: dict[str, tuple[int, int]] = {}
    with open(path, "rb") as lines:
        offset = 0
        for line in lines:
            try:
                where[json.loads(line)["id"]] = (offset, len(line))
            except (ValueError, KeyError, TypeError):
                pass
            offset += len(line)
    staged = out / f"{RESULTS_LINES}.tmp"
    with open(path, "rb") as source, open(staged, "w", encoding="utf-8") as sorted_lines, \
            open(out / "grades.csv", "w", newline="", encoding="utf-8") as grades, \
            open(out / "results.json", "w", encoding="utf-8") as document:
        writer = csv.writer(grades)
        writer.writerow(header(functions))
        document.write('{"students": [\n')
        for number, student in enumerate(sorted(where)):
            offset, length = where[student]
            source.seek(offset)
            text = source.read(length).decode("utf-8").rstrip("\n")
            record = json.loads(text)
            sorted_lines.write(text + "\n")
            writer.writerow(row(record, functions))
            document.write(("" if number == 0 else ",\n") + text)
        document.write("\n]}\n")
    os.replace(staged, path)


def iter_records(out: Path) -> Iterator[dict]:
    """The records of an output folder, line by line (a torn last line from a kill is skipped)."""
    path = out / RESULTS_LINES
    if not path.exists():
        return
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def load(out: Path) -> dict[str, dict]:
    """The finished records of an output folder, by student (the last line of a student wins)."""
    return {record["id"]: record for record in iter_records(out)}


def write_summary(out: Path, summary: dict) -> None:
    """Keep the class summary (``grade --format json``'s document) beside the gradebook."""
    (out / SUMMARY_FILE).write_text(_json(summary, indent=1), encoding="utf-8")


def saved_findings(folders: list[Path]) -> tuple[list[str], list[dict]]:
    """The unrecognised entries and similar code pairs the grading runs of ``folders`` found (none where a
    folder has no summary), for a merge or a rebuilt report."""
    unrecognised, similar = [], []
    for folder in folders:
        try:
            document = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        unrecognised += [item for item in document.get("unrecognised", []) if item not in unrecognised]
        similar += document.get("similar_code", [])
    return unrecognised, similar


def run_seed(out: Path) -> int | None:
    """The seed an earlier run in ``out`` used."""
    try:
        return json.loads((out / RUN_FILE).read_text())["seed"]
    except (OSError, ValueError, KeyError):
        return None


def feedback_file(out: Path, student: str) -> Path:
    """Where a student's Markdown feedback is written in an output folder (see ``feedback_name``)."""
    return out / "feedback" / feedback_name(student)


def feedback_name(student: str) -> str:
    """The file name of a student's feedback: ``<id>.md`` for an id of letters, digits and ``-_.@+``
    that fits; otherwise those characters of it (others as ``_``), cut to fit, then ``~`` and a hash
    of the whole id. Always a valid name of at most ``NAME_BYTES`` bytes, and two ids never share one
    (a plain name has no ``~``)."""
    plain = "".join(character if character.isalnum() or character in SAFE_PUNCTUATION else "_"
                    for character in student)
    if plain == student and plain and len(_utf8(plain)) + len(".md") <= NAME_BYTES:
        return f"{plain}.md"
    digest = hashlib.sha256(_utf8(student)).hexdigest()[:HASH_CHARACTERS]
    room = NAME_BYTES - len(f"~{digest}.md")
    kept = _utf8(plain)[:room].decode("utf-8", errors="ignore")
    return f"{kept}~{digest}.md"


def _utf8(text: str) -> bytes:
    """The UTF-8 bytes of text that may hold lone surrogates (undecodable bytes of a file name)."""
    return text.encode("utf-8", errors="surrogatepass")
