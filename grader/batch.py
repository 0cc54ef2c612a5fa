"""Grade a whole class: find the submissions, share them across workers, record each grade as it lands."""

from __future__ import annotations

import itertools
import queue
import tempfile
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from grader import class_summary, gradebook, layouts, similarity
from grader.assignment import Assignment
from grader.engine import Session


class ResumeMismatch(ValueError):
    """``--resume`` with a seed other than the interrupted run's."""


class NoSubmissions(ValueError):
    """The folder or download holds no student's submission at all."""


def looks_like_exercises(root: Path, assignment: Assignment) -> bool:
    """Whether ``root`` is (or looks like) a course's own ``exercises/``: its loose files are the exercise modules,
    which ``grade`` would take for students of those names."""
    if root.resolve() == assignment.exercises.resolve():
        return True
    modules = {spec.module for spec in assignment.functions}
    loose = {path.stem for path in root.glob("*.py")} if root.is_dir() else set()
    return len(loose & modules) >= min(2, len(modules))


class UnreadableDownload(ValueError):
    """The class download itself cannot be read (not a readable zip, too large, not a folder): nothing to grade."""


@dataclass(frozen=True)
class Shard:
    """Grade only the students whose id hashes to this part (``K/N``, K from 1)."""

    index: int
    count: int

    def __post_init__(self):
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: K must be between 1 and N")

    def owns(self, student: str) -> bool:
        """Whether this shard grades the student (stable under adding or removing others)."""
        return zlib.crc32(student.encode("utf-8", errors="surrogatepass")) % self.count == self.index - 1


def grade_class(root: Path, assignment: Assignment, out: Path, seed: int | None, workers: int, sandbox: str,
                shard: Shard | None = None, resume: bool = False,
                on_start: Callable[[int], None] = lambda total: None,
                on_result: Callable[[str], None] = lambda student: None, device: str = "cpu") -> class_summary.Summary:
    """Grade every submission under ``root`` into ``out``; return the class summary.

    Each submission's code is fingerprinted as its grade lands; once every grade has landed, the fingerprints
    of this run's submissions are paired (``similar_code``).
    What of a student's entry could not be taken from the download is added to their warnings. Raises
    UnreadableDownload when ``root`` itself cannot be read.
    """
    if resume:
        previous = gradebook.run_seed(out)
        if previous is not None and seed is not None and seed != previous:
            raise ResumeMismatch(f"the interrupted run used --seed {previous}; resume with the same seed")
        seed = previous if previous is not None else seed
    with tempfile.TemporaryDirectory(prefix="autograde-class-") as scratch:
        found = layouts.discover(root, Path(scratch))
        if found.unreadable:
            raise UnreadableDownload(f"{found.unreadable}: nothing was graded")
        if not found.entries:
            raise NoSubmissions(f"no submissions found in {root} (expected student folders, .py, .ipynb or .zip files)"
                                + (f"; not recognised: {'; '.join(found.unrecognised[:5])}" if found.unrecognised else ""))
        entries = [e for e in found.entries if shard is None or shard.owns(e.student)]
        with Session(assignment, seed=seed, sandbox=sandbox, workers=max(1, min(workers, len(entries) or 1)),
                     device=device) as session:
            book = gradebook.Gradebook(out, assignment, session.seed, resume)
            todo = [entry for entry in entries if entry.student not in book.students]
            on_start(len(todo))
            free = queue.Queue()
            for index in range(len(session.workers)):
                free.put(index)

            fingerprints = _fingerprints(assignment)

            def grade(entry: layouts.Entry):
                worker, read = free.get(), []
                try:
                    result = session.grade(entry.path, worker, read.append)
                finally:
                    free.put(worker)
                result.warnings[:0] = entry.problems
                if fingerprints is not None:  # beside the grading: the worker is already busy with the next one
                    fingerprints.add(entry.student, entry.path, read[0] if read else None)
                return entry, result

            try:
                for entry, result in _as_they_land(grade, todo, len(session.workers)):
                    book.add(entry.student, result)
                    on_result(entry.student)
            finally:
                book.finish()
        if fingerprints is None:
            comparison = similarity.Comparison([], {})
        else:
            for entry in entries:
                if entry.student not in fingerprints.prints and entry.student not in fingerprints.not_compared:
                    fingerprints.add(entry.student, entry.path)  # graded by an earlier, resumed run
            comparison = fingerprints.comparison(entry.student for entry in entries)
        return book.tally.summary(found.unrecognised, comparison.pairs, comparison.not_compared)


def _fingerprints(assignment: Assignment) -> similarity.Fingerprints | None:
    """The class's fingerprints, starting from the course's given code; None (no similar code, with a warning)
    when the course's own code cannot be fingerprinted."""
    try:
        return similarity.Fingerprints(assignment)
    except Exception as error:  # noqa: BLE001 - the course's own code failed; the summary goes on without pairs
        warnings.warn(f"similar code was not compared: {type(error).__name__}: {error}", stacklevel=2)
        return None


def _as_they_land(grade: Callable, entries: list, workers: int):
    """``grade(entry)`` for every entry on ``workers`` threads, yielded as each finishes. At most two
    per worker are pending at a time, and a result is dropped once yielded: memory stays flat."""
    pending: set[Future] = set()
    remaining = iter(entries)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            for entry in itertools.islice(remaining, 2 * workers - len(pending)):
                pending.add(pool.submit(grade, entry))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
