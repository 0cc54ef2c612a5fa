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

from grader import __version__, checks, plan, records
from grader.assignment import Assignment
from grader.protocol import Malformed
from grader.reference import compute_reference

KEY_VERSION = 2  # 2: the release ships the course's inputs.py, which the key's cases name
_DROPPED = ("output", "inputs", "label")  # not needed to judge; keeps the key small and free of prints


class AnswerKeyError(ValueError):
    """The answer key is missing, unreadable, or lacks the asked seed."""


def _slim(observations: dict) -> dict:
    slim = {}
    for probe, observation in observations.items():
        if "calls" not in observation:
            slim[probe] = observation
            continue
        calls = [{k: v for k, v in call.items() if k not in _DROPPED} for call in observation["calls"]]
        slim[probe] = {**observation, "calls": calls}
    return slim


def build(assignment: Assignment, seeds: list[int]) -> dict:
    """The key for these seeds, computed from the solutions and the wrong variants."""
    entries = {}
    for seed in seeds:
        evidence = compute_reference(assignment, seed)
        entries[str(seed)] = {
            "reference": _slim(evidence.reference),
            "variants": {function: [[mistake, _slim(observations)] for mistake, observations in found]
                         for function, found in evidence.variants.items()},
        }
    return {"version": KEY_VERSION, "assignment": assignment.name, "autograde": __version__, "seeds": entries}


@dataclass
class AnswerKey:
    """A loaded key."""

    path: Path
    entries: dict

    @property
    def seeds(self) -> list[int]:
        """The seeds the key has answers for."""
        return sorted(int(seed) for seed in self.entries)

    def choose(self, seed: int | None) -> int:
        """The asked seed (which must be in the key), or one of the key's at random."""
        if seed is None:
            return random.choice(self.seeds)
        if str(seed) not in self.entries:
            raise AnswerKeyError(f"the answer key has no seed {seed}; it has {', '.join(map(str, self.seeds))}")
        return seed

    def evidence(self, seed: int) -> checks.Evidence:
        """The reference and variant observations for one seed."""
        entry = self.entries[str(seed)]
        variants = {function: [(mistake, observations) for mistake, observations in found]
                    for function, found in entry["variants"].items()}
        return checks.Evidence(student={}, reference=entry["reference"], variants=variants)


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
        for entry in document["seeds"].values():
            for key, observation in entry["reference"].items():
                records.observation(observation, plan.kind_of(key), trusted=True, slim=True)
            for found in entry["variants"].values():
                for _, observations in found:
                    for key, observation in observations.items():
                        records.observation(observation, plan.kind_of(key), trusted=True, slim=True)
    except (Malformed, KeyError, TypeError, ValueError, AttributeError, IndexError) as problem:
        raise AnswerKeyError(f"{path} is not an answer key autograde wrote: {type(problem).__name__}: {problem}") from None
    return AnswerKey(path, document["seeds"])
