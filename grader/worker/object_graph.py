"""The graph of a student's own engine (objects of a course's class, such as a ``Value``) as the same plain data
``grader/worker/graph.py`` writes for torch graphs, so that one picture code draws both.

The course declares which attribute holds a node's operands (``children``, as ``_prev``) and which its
operation (``operation``, as ``_op``). From each returned object that has operands, the walk goes
breadth-first over them, at most ``MAX_NODES`` nodes; a node without operands is a leaf. Each node is
noted with what the course reads of it (``data 0.5, grad 2``). Everything is read through guarded
attribute access: an object that cannot be walked gives no graph, never a failure.
"""

from __future__ import annotations

from typing import Any

from grader.worker.graph import breadth_first
from grader.worker.reading import Reading

MAX_NODES = 40
MAX_ROOTS = 4
MAX_CHILDREN = 16
NAME_LIMIT = 60
LEAF = "AccumulateGrad"  # the name the feedback gives a leaf node, as torch's graphs name theirs


def describe(value: Any, children: str, operation: str, reading: Reading | None) -> dict | None:
    """The graph behind the objects ``value`` returns (an object, or a list, tuple or dict of them), or None.

    ``{"roots", "nodes", "edges", "cuts": [], "missing": [], "truncated", "names"}``: ``names`` name the returned
    items (a dict's keys); a leaf that is a returned item carries its position as ``argument``.
    """
    try:
        items = _items(value)
        walker = _Walker(children, operation, reading, [item for _, item in items])
        roots = []
        for index, (_, item) in enumerate(items):
            if len(roots) < MAX_ROOTS and walker.children(item):
                roots.append({"output": index, "shape": [], "requires_grad": True, "leaf": False,
                              "node": walker.walk(item)})
        if not roots:
            return None
        return {"roots": roots, "nodes": walker.nodes, "edges": walker.edges, "cuts": [], "missing": [],
                "truncated": walker.truncated, "names": [name for name, _ in items]}
    except Exception:  # noqa: BLE001 - a graph that cannot be read is no feedback, never a failure of the code
        return None


def _items(value: Any) -> list[tuple[str, Any]]:
    if type(value) is dict:
        return [(str(key)[:NAME_LIMIT], item) for key, item in list(value.items())[:MAX_NODES]]
    if type(value) in (list, tuple):
        return [(f"result[{index}]", item) for index, item in enumerate(value[:MAX_NODES])]
    return [("result", value)]


class _Walker:
    """Collects nodes and edges, numbering each object once."""

    def __init__(self, children: str, operation: str, reading: Reading | None, returned: list):
        self.children_attribute, self.operation_attribute, self.reading = children, operation, reading
        self.returned = returned
        self.nodes: list[dict] = []
        self.edges: list[list[int]] = []
        self.truncated = False
        self._index: dict[int, int] = {}
        self._kept: list[Any] = []  # the objects, alive so that their ids stay unique

    def children(self, node: Any) -> list:
        """The node's operands, when it holds a list, tuple or set of them; else none."""
        try:
            found = getattr(node, self.children_attribute)
            return list(found)[:MAX_CHILDREN] if type(found) in (list, tuple, set, frozenset) else []
        except BaseException:  # noqa: BLE001 - the attribute is the student's
            return []

    def walk(self, start: Any) -> int | None:
        """The number of ``start``'s node, after adding it and what it reaches (None past ``MAX_NODES``)."""
        return breadth_first(start, self.children, self._add, self._index, self.edges)

    def _add(self, node: Any) -> int | None:
        if id(node) in self._index:
            return self._index[id(node)]
        if len(self.nodes) >= MAX_NODES:
            self.truncated = True
            return None
        note = self._note(node)
        if self.children(node):
            described: dict[str, Any] = {"name": f"{self._operation(node)} ({note})" if note else self._operation(node)}
        else:
            position = next((index for index, item in enumerate(self.returned) if item is node), None)
            described = {"name": LEAF, "note": note, "argument": position}
        self._index[id(node)] = len(self.nodes)
        self._kept.append(node)
        self.nodes.append({key: value for key, value in described.items() if value not in (None, "")})
        return self._index[id(node)]

    def _operation(self, node: Any) -> str:
        try:
            found = getattr(node, self.operation_attribute)
        except BaseException:  # noqa: BLE001 - the attribute is the student's
            return "?"
        return found[:NAME_LIMIT] if type(found) is str and found else "?"

    def _note(self, node: Any) -> str:
        """``data 0.5, grad 2``: the numbers the course reads of the node (others as ``?``)."""
        if self.reading is None:
            return ""
        try:
            read = self.reading.read(node)
        except BaseException:  # noqa: BLE001 - unreadable: no note
            return ""
        shown = [f"{name} {value:.4g}" if type(value) in (int, float) else f"{name} ?" for name, value in read.items()]
        return ", ".join(shown)[:NAME_LIMIT]
