"""Students who returned exactly the same wrong result for a function: one explanation for all of them.

Every student of a grading run gets the same inputs, and each record carries a digest of what each
function returned (``record["fingerprints"]``). Students whose failing function has the same
digest gave the same wrong answer, whatever their code looks like.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from grader.results import NOT_IMPLEMENTED, PASS


@dataclass(frozen=True)
class Cluster:
    """Students whose function failed with the same result; the mistake when their checks name one."""

    function: str
    students: list[str]
    mistake: str | None
    description: str

    def as_dict(self) -> dict:
        """The ``clusters`` entry of ``grade --format json``."""
        return {"function": self.function, "students": self.students, "mistake": self.mistake,
                "description": self.description}


def find_clusters(records: dict[str, dict], minimum: int = 2) -> list[Cluster]:
    """Clusters of at least ``minimum`` students with the same failing result, largest first."""
    groups = defaultdict(list)
    for student in sorted(records):
        record = records[student]
        for function, digest in record.get("fingerprints", {}).items():
            tests = [t for t in record["tests"] if t["function"] == function]
            if _wrong(tests):
                groups[function, digest].append((student, tests))
    clusters = [_cluster(function, members) for (function, _), members in groups.items() if len(members) >= minimum]
    return sorted(_one_per_group(clusters), key=lambda cluster: (-len(cluster.students), cluster.function, cluster.students))


def _one_per_group(clusters: list[Cluster]) -> list[Cluster]:
    """One cluster per group of students: a wrong function makes the functions that use it agree too
    (a wrong loss gives the same wrong training), so the group is shown once, by its named mistake or
    its first function in the contract's order, with the others listed."""
    by_students: dict[tuple[str, ...], list[Cluster]] = defaultdict(list)
    for cluster in clusters:
        by_students[tuple(cluster.students)].append(cluster)
    kept = []
    for group in by_students.values():
        shown = next((cluster for cluster in group if cluster.mistake), group[0])
        others = [cluster.function for cluster in group if cluster is not shown]
        note = f" (the same students also agree on {', '.join(others)})" if others else ""
        kept.append(Cluster(shown.function, shown.students, shown.mistake, shown.description + note))
    return kept


def _wrong(tests: list[dict]) -> bool:
    """Some check failed, and the function is not still the exercise's stub."""
    return any(t["status"] != PASS for t in tests) and not any(NOT_IMPLEMENTED in t["message"] for t in tests)


def _cluster(function: str, members: list[tuple[str, list[dict]]]) -> Cluster:
    named = set.intersection(*({t["mistake"] for t in tests if t["mistake"]} for _, tests in members))
    first_failure = next(t for t in members[0][1] if t["status"] != PASS)
    return Cluster(function, [student for student, _ in members], named.pop() if len(named) == 1 else None,
                   first_failure["message"])
