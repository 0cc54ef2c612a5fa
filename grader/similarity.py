"""Which students of one grading run wrote the same code: pairs, a score, and the functions concerned.

Each contract function a student defines is tokenised with Python's own ``tokenize`` (names become
``V``, the names of what is defined ``F``, strings ``S``, comments and layout dropped), cut into k-grams
and winnowed by copydetect (MOSS's method). Tokenising costs about a millisecond per function, so the
batch fingerprints each submission as it lands, beside the grading, and only pairs them at the end.
Fingerprints that also occur in the starter code or the reference solutions are boilerplate and
removed: code that everyone was given, or that every right answer converges to, is no evidence.
Students are compared function by function, so renamed variables and reordered functions change
nothing. Only the fingerprints are kept per student, never the code, and only pairs that share a
fingerprint are compared.

One student's code that cannot be fingerprinted (nested too deeply to tokenise, or unreadable in a
way nobody foresaw) costs only that student's fingerprints, or that function's: the class is still
compared, and the summary names who was left out and why.
"""

from __future__ import annotations

import io
import keyword
import tempfile
import tokenize
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from grader import pyparse, submission
from grader.assignment import Assignment

NOISE = 25  # k-gram length in tokenised characters: shorter matches are noise (copydetect's default)
GUARANTEE = 30  # a match at least this long is always found (sets the winnowing window)
FUNCTION_SIMILARITY = 0.5  # a function is concerned when at least half its fingerprints are shared
MIN_SHARED = 5  # ... and at least this many: a one-line body everyone writes is no evidence
COMMON = (10, 0.1)  # a fingerprint more than 10 students and 10% of the class have is an idiom (MOSS's -m)

Prints = dict[str, frozenset[int]]  # contract function -> its winnowed fingerprints


@dataclass(frozen=True)
class SimilarPair:
    """Two students whose code shares fingerprints, how much, and in which functions."""

    students: tuple[str, str]
    similarity: float
    functions: list[str]

    def as_dict(self) -> dict:
        """The ``similar_code`` entry of ``grade --format json``."""
        return {"students": list(self.students), "similarity": round(self.similarity, 3), "functions": self.functions}

    @classmethod
    def from_dict(cls, entry: dict) -> SimilarPair:
        """The pair a ``similar_code`` entry describes."""
        first, second = entry["students"]
        return cls((first, second), float(entry["similarity"]), list(entry["functions"]))


@dataclass
class Comparison:
    """What comparing a class's code found: the similar pairs, and the students whose code was not (all)
    compared, with why."""

    pairs: list[SimilarPair]
    not_compared: dict[str, str]


def function_prints(path: Path, contract: set[str], boilerplate: Prints | None = None) -> Prints:
    """The fingerprints of each contract function defined under ``path``, boilerplate removed."""
    return student_prints(path, contract, boilerplate)[0]


def normalised_tokens(code: str) -> str:
    """The code as one string of tokens, for fingerprinting: every name ``V`` (``F`` for the name a ``def`` or
    ``class`` defines), every string ``S``, keywords, operators and numbers as written, comments and layout
    dropped."""
    parts, defining = [], False
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NAME:
            if keyword.iskeyword(token.string):
                parts.append(token.string)
                defining = token.string in ("def", "class")
                continue
            parts.append("F" if defining else "V")
        elif token.type == tokenize.STRING or token.type in _F_STRING_TOKENS:
            parts.append("S")
        elif token.type in (tokenize.OP, tokenize.NUMBER):
            parts.append(token.string)
        defining = False
    return "".join(parts)


_F_STRING_TOKENS = {getattr(tokenize, name) for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, name)}


def student_prints(path: Path, contract: set[str], boilerplate: Prints | None = None) -> tuple[Prints, list[str]]:
    """``function_prints``, and a note for each function left out because its code could not be tokenised."""
    with tempfile.TemporaryDirectory(prefix="autograde-similarity-") as stage:
        return code_prints(submission.load(path, contract, Path(stage)), boilerplate)


def code_prints(code: submission.Submission, boilerplate: Prints | None = None) -> tuple[Prints, list[str]]:
    """``student_prints`` of code already read (the grading's own reading of it)."""
    from copydetect.utils import get_document_fingerprints  # only class grading pays for it

    prints, notes = {}, []
    for name, definition in code.definitions.items():
        text = pyparse.unparse(definition.node)
        if text is None:
            notes.append(f"{name} was not compared: its code is nested too deeply to tokenise")
            continue
        try:
            hashes, _ = get_document_fingerprints(normalised_tokens(text), NOISE, GUARANTEE - NOISE + 1)
        except Exception as error:  # noqa: BLE001 - the tokeniser's failure on one function costs only that function
            notes.append(f"{name} was not compared: tokenising it failed ({type(error).__name__})")
            continue
        prints[name] = frozenset(int(h) for h in hashes) - (boilerplate or {}).get(name, frozenset())
    return prints, notes


def boilerplate(assignment: Assignment) -> Prints:
    """Per function, the fingerprints of the starter code and of the reference solutions."""
    contract = {spec.name for spec in assignment.functions}
    given = [function_prints(folder, contract) for folder in (assignment.exercises, assignment.solutions) if folder.is_dir()]
    return {name: frozenset().union(*(prints.get(name, frozenset()) for prints in given)) for name in contract}


def similar_pairs(prints: dict[str, Prints]) -> list[SimilarPair]:
    """Pairs of students with at least one similar function, most similar first.

    ``similarity`` is the Jaccard index of the two students' fingerprints over all functions.
    """
    owners = defaultdict(list)
    for student in sorted(prints):
        for name, hashes in prints[student].items():
            for fingerprint in hashes:
                owners[name, fingerprint].append(student)
    common = max(COMMON[0], int(COMMON[1] * len(prints)))
    shared = Counter(pair for students in owners.values() if len(students) <= common
                     for pair in combinations(students, 2))
    del owners
    pairs = []
    for (first, second), count in shared.items():
        functions = [name for name in sorted(prints[first]) if _similar(prints[first][name], prints[second].get(name, frozenset()))]
        if functions:
            total = sum(map(len, prints[first].values())) + sum(map(len, prints[second].values()))
            pairs.append(SimilarPair((first, second), count / (total - count), functions))
    return sorted(pairs, key=lambda pair: (-pair.similarity, pair.students))


def _similar(first: frozenset[int], second: frozenset[int]) -> bool:
    shared = len(first & second)
    return shared >= MIN_SHARED and shared >= FUNCTION_SIMILARITY * len(first | second)


class Fingerprints:
    """A class's fingerprints, taken one submission at a time as each lands (thread-safe: each ``add`` writes
    its own student's entry), then paired once by ``comparison``."""

    def __init__(self, assignment: Assignment):
        self.contract = {spec.name for spec in assignment.functions}
        self.given = boilerplate(assignment)
        self.prints: dict[str, Prints] = {}
        self.not_compared: dict[str, str] = {}

    def add(self, student: str, path: Path, code: submission.Submission | None = None) -> None:
        """Fingerprint one student's code (``code``: as the grading read it, else read from ``path``). Code that
        cannot be fingerprinted leaves out that function, or that student, with the reason; it never stops the
        others."""
        try:
            self.prints[student], notes = (code_prints(code, self.given) if code is not None
                                           else student_prints(path, self.contract, self.given))
        except Exception as error:  # noqa: BLE001 - one student's code must not switch off the class's comparison
            notes = [f"their code was not compared: reading it failed ({type(error).__name__}: {str(error)[:200]})"]
        if notes:
            self.not_compared[student] = "; ".join(notes)

    def comparison(self, students: Iterable[str] | None = None) -> Comparison:
        """The similar pairs among the students added (or among ``students``), and who was left out."""
        chosen = set(self.prints) | set(self.not_compared) if students is None else set(students)
        return Comparison(similar_pairs({student: prints for student, prints in self.prints.items() if student in chosen}),
                          {student: why for student, why in self.not_compared.items() if student in chosen})
