"""An autograd graph described by a worker (``grader/worker/graph.py``) as feedback text, for example:

    your graph:      result <- [cut: .item()] <- MeanBackward0 <- PowBackward0 <- SubBackward0 <- [a (5,), b (5,)]
    reference graph: result <- MeanBackward0 <- PowBackward0 <- SubBackward0 <- [a (5,), b (5,)]
    graph cut:       .item() on the output of MeanBackward0 leaves the graph: the result does not require grad

Each output reads as its longest chain of ``grad_fn`` nodes back to a leaf (repeats folded:
``SubBackward0 x3``), then every leaf it reaches. The graph of a student's own engine
(``grader/worker/object_graph.py``) reads the same way, its nodes noted with what the course reads of
them, its outputs and leaves named by the returned items' names:

    your graph:      out <- + (data 1.2, grad 1) <- * (data 0.47, grad 1) <- [a (data 0.67, grad 0.441), b (...)]

A description comes from the process that ran the code, the student's too: ``checked`` keeps only what
has the worker's shape.
"""

from __future__ import annotations

from typing import Any

SHOWN_STEPS = 8
LABELS = ("your graph:", "reference graph:", "graph cut:")
_WIDTH = max(len(label) for label in LABELS) + 1
MOST_NODES, MOST_ITEMS, NAME_LIMIT = 64, 16, 60  # what a description read from a worker may hold


def checked(graph: Any) -> dict | None:
    """The description as the worker writes it, or None: it comes from the student's process, so every field's
    type, every node number and every size is checked, and names are cut to ``NAME_LIMIT`` characters."""
    try:
        nodes = [_fields(node, 0) for node in graph["nodes"][:MOST_NODES]]
        cuts = [_fields(cut, len(nodes)) for cut in graph["cuts"][:MOST_ITEMS]]
        if not all("name" in node for node in nodes) or not all("operation" in cut for cut in cuts):
            return None
        edges = [[_number(start, len(nodes)), _number(end, len(nodes))] for start, end in graph["edges"][:4 * MOST_NODES]]
        described = {"roots": [_fields(root, len(nodes)) for root in graph["roots"][:MOST_ITEMS]], "nodes": nodes,
                     "edges": edges, "cuts": cuts, "truncated": bool(graph["truncated"]),
                     "missing": [_number(position, MOST_NODES) for position in graph["missing"][:MOST_ITEMS]]}
        if "names" in graph:  # a student's own engine: the returned items' names
            described["names"] = [_name(name) for name in graph["names"][:MOST_NODES]]
        return described
    except (TypeError, KeyError, ValueError, AttributeError):
        return None


def _fields(described: dict, count: int) -> dict:
    """A root, node or cut with only known fields, each of its type."""
    readers = {"name": _name, "operation": _name, "note": _name,
               "shape": lambda value: [_number(size, 2**62) for size in value[:8]], "requires_grad": bool,
               "leaf": bool, "output": lambda value: _number(value, MOST_ITEMS),
               "node": lambda value: _number(value, count), "argument": lambda value: _number(value, MOST_NODES)}
    return {key: readers[key](value) for key, value in described.items() if key in readers and value is not None}


def _number(value: Any, limit: int) -> int:
    if type(value) is not int or not 0 <= value < limit:
        raise ValueError(f"{value!r} is not a number below {limit}")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a name")
    return value[:NAME_LIMIT]


def feedback(mine: dict, reference: dict | None, arguments: list[str], outputs: list[str]) -> list[str]:
    """The detail lines: the student's graph, the reference's (when known), and where the student's is cut."""
    lines = _labelled(LABELS[0], chains(mine, arguments, outputs))
    if reference:
        lines += _labelled(LABELS[1], chains(reference, arguments, outputs))
    cut = where_cut(mine, arguments, outputs)
    return lines + (_labelled(LABELS[2], [cut]) if cut else [])


def chains(graph: dict, arguments: list[str], outputs: list[str]) -> list[str]:
    """One line per output: its name, then its chain of nodes back to the leaves it reaches."""
    names = Names(graph, arguments, outputs)
    lines = []
    for root in graph.get("roots", []):
        name = names.output(root)
        if root.get("node") is not None:
            lines.append(f"{name} <- {names.chain(root['node'])}")
        elif root.get("requires_grad"):
            lines.append(f"{name} {_shape(root)}: a leaf tensor that requires grad")
        elif graph.get("cuts"):
            lines.append(f"{name} <- [cut: {graph['cuts'][0]['operation']}] <- {names.origin(graph['cuts'][0])}")
        else:
            lines.append(f"{name} {_shape(root)}: does not require grad (no grad_fn)")
    return lines


def where_cut(graph: dict, arguments: list[str], outputs: list[str]) -> str | None:
    """Where the graph stops short of what it should reach, and by which operation when it was seen; else None."""
    names = Names(graph, arguments, outputs)
    cuts = [f"{cut['operation']} on {names.cut_subject(cut)}" for cut in graph.get("cuts", [])]
    untracked = [names.subject(root) for root in graph.get("roots", []) if not root.get("requires_grad")]
    if untracked:
        subject = f"{' and '.join(untracked)} {'does' if len(untracked) == 1 else 'do'} not require grad"
        if cuts:
            return f"{', '.join(cuts)} {'leaves' if len(cuts) == 1 else 'leave'} the graph: {subject}"
        return f"{subject}: is it computed under torch.no_grad(), or through .item(), float(), .detach() or numpy?"
    missing = [names.argument(position) for position in graph.get("missing", [])]
    if missing:
        reach = f"{', '.join(missing)} {'does' if len(missing) == 1 else 'do'} not reach the result"
        return f"{reach} ({', '.join(cuts)})" if cuts else reach
    return None


class Names:
    """Names for one graph's outputs, arguments, leaves and chains."""

    def __init__(self, graph: dict, arguments: list[str], outputs: list[str]):
        names = graph.get("names")  # a student's own engine names its outputs and leaves by the returned items
        self.graph, self.arguments, self.outputs = graph, names or arguments, names or outputs
        self.nodes: list[dict] = graph.get("nodes", [])
        self.inputs: dict[int, list[int]] = {}
        for start, end in graph.get("edges", []):
            if 0 <= start < len(self.nodes) and 0 <= end < len(self.nodes):
                self.inputs.setdefault(start, []).append(end)

    def output(self, root: dict) -> str:
        """``W`` (the contract's name of a returned item), ``result``, or ``result[1]``."""
        index = root.get("output", 0)
        if index < len(self.outputs):
            return self.outputs[index]
        return "result" if len(self.graph.get("roots", [])) == 1 else f"result[{index}]"

    def subject(self, root: dict) -> str:
        """An output as a sentence names it: ``W``, ``the result``."""
        name = self.output(root)
        return f"the {name}" if name.startswith("result") else name

    def argument(self, position: int) -> str:
        """An argument's parameter name, or ``argument 3``."""
        return self.arguments[position] if position < len(self.arguments) else f"argument {position + 1}"

    def leaf(self, node: dict) -> str:
        """``W (2,)`` for an argument, ``leaf (3, 2)`` for another leaf tensor; ``a (data 2, grad -3)`` for a noted
        leaf of a student's own engine."""
        position = node.get("argument")
        detail = f"({node['note']})" if node.get("note") else _shape(node)
        return f"{self.argument(position) if position is not None else 'leaf'} {detail}"

    def origin(self, cut: dict) -> str:
        """What a cut tensor came from: its chain, or the argument it is."""
        if cut.get("node") is not None:
            return self.chain(cut["node"])
        return f"[{self.argument(cut['argument'])}]" if cut.get("argument") is not None else "[a tensor]"

    def cut_subject(self, cut: dict) -> str:
        """``the output of MeanBackward0``, or the argument's name."""
        if cut.get("node") is not None:
            return f"the output of {self.nodes[cut['node']]['name']}"
        return self.argument(cut["argument"]) if cut.get("argument") is not None else "a tensor"

    def chain(self, start: int) -> str:
        """``MulBackward0 <- SumBackward1 <- [X (5, 2), W (2,)]``: the longest path from ``start``, then its leaves."""
        steps = _folded([self.nodes[index]["name"] for index in self._longest_path(start) if not self._is_leaf(index)])
        if len(steps) > SHOWN_STEPS:
            steps = steps[:SHOWN_STEPS - 1] + [f"... ({len(steps) - SHOWN_STEPS + 1} more)"]
        leaves = sorted(self._leaves(start), key=lambda index: (self.nodes[index].get("argument") is None,
                                                                 self.nodes[index].get("argument") or 0, index))
        shown = [self.leaf(self.nodes[index]) for index in leaves] + (["..."] if self.graph.get("truncated") else [])
        return " <- ".join(steps + [f"[{', '.join(shown)}]"])

    def _is_leaf(self, index: int) -> bool:
        return self.nodes[index]["name"] == "AccumulateGrad"

    def _longest_path(self, start: int) -> list[int]:
        longest: dict[int, tuple[int, ...]] = {}

        def path(index: int, visiting: frozenset[int]) -> tuple[int, ...]:
            if index not in longest:
                inputs = [path(child, visiting | {index}) for child in self.inputs.get(index, []) if child not in visiting]
                longest[index] = (index, *max(inputs, key=len, default=()))
            return longest[index]
        return list(path(start, frozenset()))

    def _leaves(self, start: int) -> set[int]:
        found, stack, visited = set(), [start], {start}
        while stack:
            index = stack.pop()
            if self._is_leaf(index):
                found.add(index)
            for child in self.inputs.get(index, []):
                if child not in visited:
                    visited.add(child)
                    stack.append(child)
        return found


def _folded(names: list[str]) -> list[str]:
    """Runs of one name as ``SubBackward0 x3``."""
    runs: list[list] = []
    for name in names:
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
        else:
            runs.append([name, 1])
    return [name if count == 1 else f"{name} x{count}" for name, count in runs]


def _shape(described: dict) -> str:
    return str(tuple(described.get("shape", [])))


def _labelled(label: str, lines: list[str]) -> list[str]:
    return [f"{label if number == 0 else '':<{_WIDTH}}{line}" for number, line in enumerate(lines)]
