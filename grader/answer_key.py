"""The answer key: what the reference and each wrong variant produce on a bank of seeded inputs.

A student release carries the key instead of the solutions: numbers, shapes and flags, never
code. ``check`` judges against it exactly as against the solutions, on one of the key's seeds.
Instructors keep grading with the solutions and fresh seeds, which the key never showed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from grader import __version__, checks, plan
from grader.assignment import Assignment
from grader.protocol import Malformed
from grader.records import Observation
from grader.reference import grouped, run_trusted

KEY_VERSION = 2  # 2: the release ships the course's inputs.py, which the key's cases name
_DROPPED = ("output", "inputs", "label")  # not needed to judge; keeps the key small and free of prints


class AnswerKeyError(ValueError):
    """The answer key is missing, unreadable, or lacks the asked seed."""


def _slim(observations: dict[str, dict]) -> dict[str, dict]:
    """Observations as sent (JSON) without what judging does not need, and with what raised reduced to the
    exception's type: a wrong variant's traceback holds the course's code and paths, its message may too."""
    slim = {}
    for probe, observation in observations.items():
        if "calls" not in observation:
            slim[probe] = {**observation, **({"error": _bare(observation["error"])} if "error" in observation else {})}
            continue
        calls = [{k: _bare(v) if k == "error" else v for k, v in call.items() if k not in _DROPPED}
                 for call in observation["calls"]]
        slim[probe] = {**observation, "calls": calls}
    return slim


def _bare(error: object) -> object:
    """An error record with its type only (judging asks whether a call raised, and what)."""
    return {"type": error.get("type", ""), "message": "", "traceback": ""} if isinstance(error, dict) else error


def build(assignment: Assignment, seeds: list[int]) -> dict:
    """The key for these seeds, computed from the solutions and the wrong variants."""
    entries = {}
    for seed in seeds:
        sent, _ = run_trusted(assignment, seed)
        reference, variants = grouped(sent)
        entries[str(seed)] = {
            "reference": _slim(reference),
            "variants": {function: [[mistake, _slim(observations)] for mistake, observations in found]
                         for function, found in variants.items()},
        }
    return {"version": KEY_VERSION, "assignment": assignment.name, "autograde": __version__, "seeds": entries}


@dataclass
class AnswerKey:
    """A loaded key: for each of its seeds, the reference's and the wrong variants' observations, read."""

    path: Path
    by_seed: dict[int, checks.Evidence]

    @property
    def seeds(self) -> list[int]:
        """The seeds the key has answers for."""
        return sorted(self.by_seed)

    def choose(self, seed: int | None) -> int:
        """The asked seed (which must be in the key), or one of the key's at random."""
        if seed is None:
            return random.choice(self.seeds)
        if seed not in self.by_seed:
            raise AnswerKeyError(f"the answer key has no seed {seed}; it has {', '.join(map(str, self.seeds))}")
        return seed

    def evidence(self, seed: int) -> checks.Evidence:
        """The reference and variant observations for one seed."""
        return self.by_seed[seed]


def load(path: Path) -> AnswerKey:
    """Read an answer key file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AnswerKeyError(f"cannot read the answer key {path}: {error}") from error
    if not isinstance(document, dict) or document.get("version") != KEY_VERSION:
        version = document.get("version") if isinstance(document, dict) else None
        raise AnswerKeyError(f"{path} is an answer key of version {version}; this autograde reads {KEY_VERSION}")
    try:
        by_seed = {int(seed): _read(entry) for seed, entry in document["seeds"].items()}
    except (Malformed, KeyError, TypeError, ValueError, AttributeError, IndexError) as problem:
        raise AnswerKeyError(f"{path} is not an answer key autograde wrote: {type(problem).__name__}: {problem}") from None
    return AnswerKey(path, by_seed)


def _read(entry: dict) -> checks.Evidence:
    """One seed's entry of a key file, read as the slim records of a trusted run."""
    def observations(by_key: dict) -> dict[str, Observation]:
        return {key: Observation.from_json(observation, plan.kind_of(key), trusted=True, slim=True)
                for key, observation in by_key.items()}
    variants = {function: [(mistake, observations(by_key)) for mistake, by_key in found]
                for function, found in entry["variants"].items()}
    return checks.Evidence(student={}, reference=observations(entry["reference"]), variants=variants)
