"""What each kind of probe of the trusted reference run costs: the solutions on the students' calls, the wrong
variants on the calls of the checks that name their mistake, and the solutions on the transformed calls.

The trusted process runs them all once per grading session (or once per seed, with the reference cache), in
parallel with the students' workers starting; this says how much of its run matching failures needs.
Run: .venv/bin/python -m benchmarks.probe_cost [--repeat 3] [--assignment assignment.toml]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

from grader import assignment, plan
from grader.protocol import Probe
from grader.runner import Worker

ROOT = Path(__file__).resolve().parent.parent


def kind(probe: Probe) -> str:
    """Which part of the reference run a probe belongs to."""
    if plan.VARIANT_SEPARATOR not in probe.id:
        return "solutions"
    return "transformed calls" if probe.transform else "wrong variants"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--assignment", type=Path, default=ROOT / "assignment.toml")
    options = parser.parse_args()
    course = assignment.load(options.assignment)
    request = plan.reference_request(course, seed=1)
    groups: dict[str, list[Probe]] = {}
    for probe in request.probes:
        groups.setdefault(kind(probe), []).append(probe)
    groups["all"] = list(request.probes)
    seconds: dict[str, list[float]] = {label: [] for label in groups}
    with Worker("trusted") as worker:
        worker.request(replace(request, probes=tuple(groups["solutions"][:1])))  # the process started, torch warm
        for _ in range(options.repeat):
            for label, probes in groups.items():
                started = time.perf_counter()
                worker.request(replace(request, probes=tuple(probes)))
                seconds[label].append(time.perf_counter() - started)
    for label, runs in seconds.items():
        print(f"{label:18} {len(groups[label]):4} probes  median {statistics.median(runs):.3f} s")


if __name__ == "__main__":
    main()
