"""Where the expected observations come from: the reference solutions and their wrong variants, run in
a trusted process, or a student release's answer key. The engine asks either one for a seed's evidence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol, TypeVar

from grader import checks, plan
from grader.assignment import Assignment
from grader.protocol import Malformed, Probe
from grader.records import Observation
from grader.runner import Worker

Observed = TypeVar("Observed")  # an observation: as the trusted process sent it (JSON), or as read


class ReferenceSource(Protocol):
    """Anything that can give the reference's and the wrong variants' observations for a seed."""

    def choose(self, seed: int | None) -> int:
        """The seed to grade with (the asked one, or one of the source's own)."""

    def evidence(self, seed: int) -> checks.Evidence:
        """The reference and variant observations for one seed."""


@dataclass(frozen=True)
class Solutions:
    """The course's reference solutions and wrong variants, run on each seed's inputs."""

    assignment: Assignment
    only: list[str] | None = None
    device: str = "cpu"

    def choose(self, seed: int | None) -> int:
        """The asked seed, or a fresh one."""
        return seed if seed is not None else random.randrange(2**31)

    def evidence(self, seed: int) -> checks.Evidence:
        """Run the solutions and the variants in a trusted process."""
        return compute_reference(self.assignment, seed, self.only, self.device)


def compute_reference(assignment: Assignment, seed: int, only: list[str] | None = None,
                      device: str = "cpu") -> checks.Evidence:
    """Run the reference solutions and the wrong variants on this seed's inputs, in a trusted process."""
    _, read = run_trusted(assignment, seed, only, device)
    reference, variants = grouped(read)
    return checks.Evidence(student={}, reference=reference, variants=variants)


def run_trusted(assignment: Assignment, seed: int, only: list[str] | None = None,
                device: str = "cpu") -> tuple[dict[str, dict], dict[str, Observation]]:
    """The observations of the reference solutions and the wrong variants on this seed's inputs, by key: as the
    trusted process sent them (JSON), and as ``read_trusted`` reads them. A run that fails, or an observation that
    does not read, is a ``GraderBug``."""
    with Worker("trusted", device=device) as worker:
        request = plan.reference_request(assignment, seed, only)
        response = worker.request(request)
    missing = [probe.id for probe in request.probes if plan.VARIANT_SEPARATOR not in probe.id
               and probe.id not in response.observations]
    if response.internal_error or response.load_errors or missing:
        problem = response.internal_error or response.load_errors or f"no observation of {', '.join(missing[:5])}"
        raise checks.GraderBug(f"the reference run failed: {problem}; events: {response.events}")
    read = read_trusted(response.observations, request.probes)
    return {key: response.observations[key] for key in read}, read


def grouped(observations: dict[str, Observed]) -> tuple[dict[str, Observed],
                                                       dict[str, list[tuple[str, dict[str, Observed]]]]]:
    """A trusted run's observations by key, split: the reference's by probe, and for each function its wrong
    variants as (mistake, observations by probe)."""
    reference: dict[str, Observed] = {}
    variants: dict[str, dict[tuple[str, str], dict[str, Observed]]] = {}
    for key, observation in observations.items():
        if plan.VARIANT_SEPARATOR not in key:
            reference[key] = observation
            continue
        variant, probe = key.split(plan.VARIANT_SEPARATOR)
        _, function, mistake, name = variant.split(":")
        variants.setdefault(function, {}).setdefault((mistake, name), {})[probe] = observation
    return reference, {f: [(m, obs) for (m, _), obs in found.items()] for f, found in variants.items()}


def read_trusted(observations: dict, probes: tuple[Probe, ...] | list[Probe]) -> dict[str, Observation]:
    """The reference's observations of the probes asked for, read as trusted ones; one that does not read is a
    grader bug (``GraderBug``), never a student's mistake."""
    kinds = {probe.id: probe.kind for probe in probes}
    try:
        return {key: Observation.from_json(observation, kinds[key], trusted=True)
                for key, observation in observations.items() if key in kinds}
    except Malformed as problem:
        raise checks.GraderBug(f"the reference's observations do not read: {problem}") from None
