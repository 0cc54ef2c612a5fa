"""Which probes to run, for the student and for the reference and its wrong variants.

A probe is one function run on one input case in one way (``grader.protocol.ProbeKind``).
Checks that judge the same runs share one probe.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from pathlib import Path

from grader import pyparse
from grader.assignment import Assignment, CheckSpec, FunctionSpec
from grader.protocol import Probe, ProbeKind, Request


def probe_id(function: str, kind: str, case: str) -> str:
    """The key of a probe's observation."""
    return f"{function}:{kind}:{case}"


def kind_of(key: str) -> ProbeKind:
    """The kind of probe an observation's key names (a wrong variant's key ends in its probe's id)."""
    return ProbeKind(key.rsplit(VARIANT_SEPARATOR, 1)[-1].split(":")[1])


def probes_for_check(function: FunctionSpec, check: CheckSpec) -> list[Probe]:
    """The probes one check judges."""
    kind = ProbeKind(check.probe_kind)
    return [Probe(probe_id(function.name, kind, case), function.name, kind, case, check.target,
                  check.wrt if check.target else (), attributes=function.attributes, reader=function.reader,
                  graph=function.graph)
            for case in check.cases or ("default",)]


def student_probes(assignment: Assignment, functions: list[str] | None = None) -> list[Probe]:
    """Every probe of the selected functions, grouped by function, without repeats (a probe with a
    finite-difference target serves the checks that judge the same calls without one)."""
    probes: dict[str, Probe] = {}
    for spec in assignment.functions:
        if functions is not None and spec.name not in functions:
            continue
        for check in spec.checks:
            for probe in probes_for_check(spec, check):
                if probe.id not in probes or probe.fd_target:
                    probes[probe.id] = probe
    return list(probes.values())


@dataclass(frozen=True)
class Variant:
    """A wrong variant of a contract function, diagnosed as ``mistake``."""

    function: str
    mistake: str
    module: str
    attribute: str


def variants(assignment: Assignment) -> list[Variant]:
    """The built-in wrong variants the declarations name, found in ``mistakes/wrong_<module>.py``."""
    found = []
    defined = _defined_in_mistakes(assignment.mistakes)
    for spec in assignment.functions:
        wanted = dict.fromkeys(m for check in spec.checks for m in check.mistakes)
        for mistake in wanted:
            stem = f"{spec.name}__{mistake.replace('-', '_')}"
            for module, names in defined.items():
                for name in names:
                    if name == stem or name.startswith(stem + "__"):
                        found.append(Variant(spec.name, mistake, module, name))
    return found


def _defined_in_mistakes(folder: Path) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for path in sorted(folder.glob("wrong_*.py")):
        tree = pyparse.parse(path.read_text(encoding="utf-8"), str(path))
        names[path.stem] = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    return names


VARIANT_SEPARATOR = "|"


def transforms(spec: FunctionSpec) -> list[tuple[str, str]]:
    """``(transform, mistake)``: the transformed calls of a function worth running the reference on, by its
    parameters alone (an argument as a column, two arguments swapped, float64 inputs as float32). The worker
    skips any that does not fit the arguments a case builds, without calling anything."""
    count = len(spec.parameters)
    found = [(f"column-{i}", "broadcast-shape") for i in range(count)]
    found += [(f"swap-{i}-{j}", "swapped-arguments") for i in range(count) for j in range(i + 1, count)]
    return found + [("float32", "early-float32")]


def reference_request(assignment: Assignment, seed: int, functions: list[str] | None = None) -> Request:
    """One request for the trusted worker: the solutions on every probe, then each wrong variant on the
    probes of the checks that name its mistake (ids ``variant:<function>:<mistake>:<name>|<probe id>``),
    then the solutions on the transformed calls of each ``returns`` check (``<name>`` is the transform)."""
    files = {p.stem: str(p) for folder in (assignment.solutions, assignment.mistakes) for p in sorted(folder.glob("*.py"))}
    every_probe = student_probes(assignment, functions)
    probes = [p for p in every_probe if p.kind != ProbeKind.DIFFERENTIABLE]  # what the wrong variants run
    all_probes = list(every_probe)  # the reference's differentiable ones give its graph, shown beside a failing student's
    for variant in variants(assignment):
        if functions is not None and variant.function not in functions:
            continue
        spec = assignment.function(variant.function)
        wanted = {probe.id for check in spec.checks if variant.mistake in check.mistakes
                  for probe in probes_for_check(spec, check)}
        prefix = f"variant:{variant.function}:{variant.mistake}:{variant.attribute}{VARIANT_SEPARATOR}"
        all_probes += [replace(p, id=prefix + p.id, use=(variant.module, variant.attribute))
                       for p in probes if p.id in wanted]
    for spec in assignment.functions:
        if functions is not None and spec.name not in functions:
            continue
        returns = {probe.id: probe for check in spec.checks if check.kind == "returns"
                   for probe in probes_for_check(spec, check)}
        all_probes += [replace(probe, id=f"variant:{spec.name}:{mistake}:{transform}{VARIANT_SEPARATOR}{probe.id}",
                               transform=transform)
                       for transform, mistake in transforms(spec) for probe in returns.values()]
    return Request("reference", files, {spec.name: (spec.module, spec.name) for spec in assignment.functions},
                   tuple(all_probes), seed, timeout=60.0, memory_mb=0, trusted=True,
                   inputs=str(assignment.inputs) if assignment.inputs else None,
                   targets=str(assignment.targets) if assignment.targets else None)
