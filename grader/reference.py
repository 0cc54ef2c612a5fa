"""Where the expected observations come from: the reference solutions and their wrong variants, run in
a trusted process, or a student release's answer key. The engine asks either one for a seed's evidence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from grader import checks, plan, records
from grader.assignment import Assignment
from grader.protocol import Malformed, Probe
from grader.runner import Worker


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
    with Worker("trusted", device=device) as worker:
        request = plan.reference_request(assignment, seed, only)
        response = worker.request(request)
    missing = [probe.id for probe in request.probes if plan.VARIANT_SEPARATOR not in probe.id
               and probe.id not in response.observations]
    if response.internal_error or response.load_errors or missing:
        problem = response.internal_error or response.load_errors or f"no observation of {', '.join(missing[:5])}"
        raise checks.GraderBug(f"the reference run failed: {problem}; events: {response.events}")
    observations = read_trusted(response.observations, request.probes)
    reference, variants = {}, {}
    for key, observation in observations.items():
        if plan.VARIANT_SEPARATOR not in key:
            reference[key] = observation
            continue
        variant, probe = key.split(plan.VARIANT_SEPARATOR)
        _, function, mistake, name = variant.split(":")
        variants.setdefault(function, {}).setdefault((mistake, name), {})[probe] = observation
    return checks.Evidence(student={}, reference=reference,
                           variants={f: [(m, obs) for (m, _), obs in found.items()] for f, found in variants.items()})


def read_trusted(observations: dict, probes: tuple[Probe, ...] | list[Probe]) -> dict[str, dict]:
    """The reference's observations, read by ``grader.records`` as trusted ones; one that does not read is a
    grader bug (``GraderBug``), never a student's mistake."""
    kinds = {probe.id: probe.kind for probe in probes}
    try:
        return {key: records.observation(observation, kinds[key], trusted=True)
                for key, observation in observations.items() if key in kinds}
    except Malformed as problem:
        raise checks.GraderBug(f"the reference's observations do not read: {problem}") from None
