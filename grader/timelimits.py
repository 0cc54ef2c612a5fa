"""How long each function of a submission may run: a floor plus k times what the reference took on the same calls,
never more than the course's declared ``timeout`` (the ceiling).

An endless loop then costs about a second where the reference takes milliseconds, and a correct but slower
student keeps a wide margin: k and the floor were chosen on a loaded machine (see README, "How student code
runs"). A reference without measured times (an answer key that carries none) leaves the declared timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from grader.protocol import Probe
from grader.records import Observation


@dataclass(frozen=True)
class Policy:
    """A course's rule (``[assignment]`` ``adaptive_timeout``, ``timeout_floor``, ``timeout_factor``)."""

    adaptive: bool = True
    floor: float = 1.0  # seconds every function gets, whatever the reference took
    factor: float = 50.0  # times the reference's own time on the same calls

    def on(self, device: str) -> Policy:
        """The rule on this device: off on a GPU (untested there), where a fresh process's CUDA start-up, paid by
        whichever function first touches the GPU, cannot be told from that function's own time."""
        return self if device == "cpu" else replace(self, adaptive=False)


@dataclass(frozen=True)
class TimeLimit:
    """One function's time limit and where it comes from: ``reference`` is the reference's time on the same
    calls (None when not known or not used), ``ceiling`` the course's declared timeout."""

    seconds: float
    ceiling: float
    policy: Policy
    reference: float | None = None

    def describe(self) -> str:
        """The limit and how it was derived, for a student: "1.2 s (1 s plus 50× the reference's 4 ms ...)"."""
        if self.reference is None:
            return f"{self.seconds:g} s (the course's time limit)"
        derived = (f"{self.policy.floor:g} s plus {self.policy.factor:g}× the reference's "
                   f"{_short(self.reference)} on the same calls")
        if self.seconds >= self.ceiling:
            return f"{self.seconds:g} s (the course's time limit; {derived} would be more)"
        return f"{self.seconds:.3g} s ({derived})"


def for_functions(probes: list[Probe], reference: dict[str, Observation], policy: Policy,
                  ceiling: float) -> dict[str, TimeLimit]:
    """Each function's limit, from the reference's observations of the probes a student's run makes. A function
    whose probes the reference did not time (or a policy that is off) gets the ceiling."""
    by_function: dict[str, list[Probe]] = {}
    for probe in probes:
        by_function.setdefault(probe.function, []).append(probe)
    return {function: _limit(own, reference, policy, ceiling) for function, own in by_function.items()}


def _limit(probes: list[Probe], reference: dict[str, Observation], policy: Policy, ceiling: float) -> TimeLimit:
    observations = [reference.get(probe.id) for probe in probes]
    times = [call.seconds for observation in observations if observation is not None for call in observation.calls]
    timed = (policy.adaptive and all(o is not None and o.status == "ok" and o.calls for o in observations)
             and all(seconds is not None for seconds in times))
    if not timed:
        return TimeLimit(ceiling, ceiling, policy)
    took = sum(times)
    return TimeLimit(min(ceiling, policy.floor + policy.factor * took), ceiling, policy, took)


def _short(seconds: float) -> str:
    return f"{seconds * 1000:.2g} ms" if seconds < 1 else f"{seconds:.3g} s"
