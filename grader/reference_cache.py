"""The reference's observations kept on disk, so that a repeated ``check`` against the solutions does not start
the trusted process (nor import torch a second time).

An entry is one seed's observations, as the trusted process sent them, filed under the course's version: a
digest of every file that makes them (the declarations, the solutions, the wrong variants, the inputs and the
targets), the grader's own source, torch's and Python's versions, the device and the functions asked for. It
lives in ``$XDG_CACHE_HOME/autograde`` (or ``~/.cache/autograde``), a folder of the user's own (mode 0700),
written atomically, and is read back through the same typed records as any observation: an entry that does
not read is ignored, removed and computed again. The engine uses it only where student code cannot write there
(bubblewrap, another uid, or Landlock: see SECURITY.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader import checks, plan, versions
from grader.assignment import Assignment
from grader.reference import Solutions, grouped, read_trusted, run_trusted

CACHE_VERSION = 1
MAX_ENTRIES = 64  # past this many, the oldest entries are removed
POOL = 5  # without a seed asked, a check draws fresh seeds until the course has this many, then one of them


def default_folder() -> Path:
    """``$XDG_CACHE_HOME/autograde``, or ``~/.cache/autograde``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autograde"


@dataclass(frozen=True)
class ReferenceCache:
    """The cache folder, and what a course's entries are filed under (``course``: a digest of all of it)."""

    folder: Path
    course: str

    @classmethod
    def open(cls, assignment: Assignment, only: list[str] | None, device: str,
             folder: Path | None = None) -> ReferenceCache | None:
        """The cache for this course, made private to this user; None when the folder cannot be (another owner,
        or writable by others)."""
        folder = versions.private_folder(folder or default_folder())
        if folder is None:
            return None
        version = {"cache": CACHE_VERSION, "course": versions.course_digest(assignment), "grader": versions.grader_digest(),
                   "torch": versions.torch_version(), "python": versions.python_version(), "device": device,
                   "only": sorted(only) if only is not None else None}
        return cls(folder, hashlib.sha256(json.dumps(version, sort_keys=True).encode()).hexdigest()[:32])

    def still_current(self, assignment: Assignment, only: list[str] | None, device: str) -> bool:
        """Whether the course's files are still the version this cache's entries are filed under."""
        now = ReferenceCache.open(assignment, only, device, self.folder)
        return now is not None and now.course == self.course

    def seeds(self) -> list[int]:
        """The seeds this course has entries for."""
        found = []
        for path in self.folder.glob(f"{self.course}-*.json"):
            seed = path.stem.rsplit("-", 1)[-1]
            if seed.isdigit():
                found.append(int(seed))
        return sorted(found)

    def load(self, assignment: Assignment, seed: int, only: list[str] | None = None) -> checks.Evidence | None:
        """One seed's evidence, read as a trusted run's observations; None when there is no entry, or one that
        does not read (which is removed)."""
        path = self._path(seed)
        request = plan.reference_request(assignment, seed, only)
        try:
            document = json.loads(path.read_bytes())
            observations = document["observations"]
            assert document["course"] == self.course and document["seed"] == seed and isinstance(observations, dict)
            missing = [p.id for p in request.probes if plan.VARIANT_SEPARATOR not in p.id and p.id not in observations]
            assert not missing
            read = read_trusted(observations, request.probes)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AssertionError, RecursionError, checks.GraderBug):
            path.unlink(missing_ok=True)
            return None
        reference, variants = grouped(read)
        return checks.Evidence(student={}, reference=reference, variants=variants)

    def store(self, seed: int, observations: dict[str, dict]) -> None:
        """Keep one seed's observations (as the trusted process sent them), written whole or not at all."""
        document = {"course": self.course, "seed": seed, "observations": observations}
        temporary = None
        try:
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".entry-", suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out)
            os.replace(temporary, self._path(seed))
        except OSError:
            if temporary:
                Path(temporary).unlink(missing_ok=True)
            return
        self._prune()

    def _path(self, seed: int) -> Path:
        return self.folder / f"{self.course}-{seed}.json"

    def _prune(self) -> None:
        """Remove the oldest entries past ``MAX_ENTRIES``."""
        entries = []
        for path in self.folder.glob("*.json"):
            try:
                entries.append((path.stat().st_mtime, path))
            except OSError:
                continue
        for _, path in sorted(entries, reverse=True)[MAX_ENTRIES:]:
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class CachedSolutions:
    """The solutions as a reference source, through the cache: each seed's evidence is computed once per course
    version; without a seed asked, one of the course's ``POOL`` cached seeds once it has them (as a release's
    answer key offers its seeds)."""

    solutions: Solutions
    cache: ReferenceCache

    def choose(self, seed: int | None) -> int:
        """The asked seed, a fresh one while the cache holds fewer than ``POOL``, else one of those."""
        if seed is not None:
            return seed
        kept = self.cache.seeds()
        return random.choice(kept) if len(kept) >= POOL else self.solutions.choose(None)

    def evidence(self, seed: int) -> checks.Evidence:
        """The cached evidence, or the solutions run in a trusted process (and kept)."""
        solutions = self.solutions
        cached = self.cache.load(solutions.assignment, seed, solutions.only)
        if cached is not None:
            return cached
        sent, read = run_trusted(solutions.assignment, seed, solutions.only, solutions.device)
        if self.cache.still_current(solutions.assignment, solutions.only, solutions.device):
            self.cache.store(seed, sent)  # else the course was edited while it ran: filed under neither version
        reference, variants = grouped(read)
        return checks.Evidence(student={}, reference=reference, variants=variants)
