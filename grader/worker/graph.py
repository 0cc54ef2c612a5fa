"""A result's autograd graph as plain data, for feedback: the ``grad_fn`` nodes from an output back to its
leaves, and where the graph was cut (runs where torch is imported).

``describe`` walks ``grad_fn.next_functions`` breadth-first, at most ``MAX_NODES`` nodes. ``CutRecorder``
watches the code under test for the operations that leave the graph (``.item()``, ``float()``,
``.detach()``, ``.numpy()``, ``.data``, ``torch.tensor(t)``, ...) when applied to a tensor that requires grad.
Arguments and outputs are named by position; the grader names them from the contract.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

MAX_NODES = 40
MAX_ROOTS = 4
MAX_CUTS = 3
NAME_LIMIT = 60
_CUTTING = {"item": ".item()", "__float__": "float()", "__int__": "int()", "detach": ".detach()",
            "detach_": ".detach_()", "numpy": ".numpy()", "tolist": ".tolist()", "tensor": "torch.tensor()",
            "new_tensor": ".new_tensor()"}


def _inputs_of(node: Any) -> list:
    """An autograd node's input nodes."""
    return [child for child, _ in node.next_functions if child is not None]


def breadth_first(start: Any, children, add, index: dict[int, int], edges: list[list[int]]) -> int | None:
    """Number ``start`` and everything it reaches through ``children``, breadth first: ``add`` numbers a node
    (None past the walker's limit), ``index`` maps a node's id to its number, ``edges`` gets [parent, child]."""
    first = add(start)
    queue = deque([start] if first is not None else [])
    while queue:
        current = queue.popleft()
        for child in children(current):
            known = id(child) in index
            number = add(child)
            if number is None:
                continue
            edges.append([index[id(current)], number])
            if not known:
                queue.append(child)
    return first


class CutRecorder(TorchFunctionMode):
    """While active, notes (at most ``MAX_CUTS``) operations that leave the graph, with the tensor they cut."""

    def __init__(self):
        super().__init__()
        self.cuts: list[tuple[str, torch.Tensor]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        operation = _operation(func)
        if operation and len(self.cuts) < MAX_CUTS and args and isinstance(args[0], torch.Tensor) \
                and args[0].requires_grad:
            self.cuts.append((operation, args[0]))
        return func(*args, **(kwargs or {}))


def _operation(func: Any) -> str | None:
    name = getattr(func, "__name__", "")
    if name == "__get__":  # an attribute read: only ``.data`` leaves the graph
        return ".data" if getattr(getattr(func, "__self__", None), "__name__", "") == "data" else None
    return _CUTTING.get(name)


def describe(output: Any, arguments: list, expected: list[int] = (), cuts: list[tuple[str, torch.Tensor]] = ()) -> dict | None:
    """The graph behind ``output`` (a tensor, or a tuple or list of them) as JSON data; None if it cannot be read.

    ``{"roots": [{"output", "shape", "requires_grad", "leaf", "node", "argument"}], "nodes": [{"name", ...}],
    "edges": [[from, to]], "cuts": [{"operation", "node" | "argument"}], "missing": [positions], "truncated"}``:
    edges go from a node to the nodes of its inputs; ``AccumulateGrad`` nodes are leaves, with their
    tensor's shape, ``requires_grad`` and the position of the argument they are; ``missing`` lists the
    positions in ``expected`` (arguments that should reach the output) that no output reaches (none
    when the walk stopped at ``MAX_NODES``: then it is not known).
    """
    try:
        walker = _Walker(arguments)
        roots = [walker.root(index, tensor) for index, tensor in _returned_tensors(output)[:MAX_ROOTS]]
        reached = walker.arguments_reached() if not walker.truncated else set(expected)  # unknown past the cap
        described_cuts = [{"operation": operation, **walker.origin(tensor)} for operation, tensor in cuts]
        return {"roots": roots, "nodes": walker.nodes, "edges": walker.edges, "cuts": described_cuts,
                "missing": [position for position in expected if position not in reached], "truncated": walker.truncated}
    except Exception:  # noqa: BLE001 - a graph that cannot be read is no feedback, never a failure of the code
        return None


def describe_returned(value: Any, arguments: list) -> dict | None:
    """The graph of what a call returned, when some returned tensor requires grad (a training's parameters)."""
    if not any(tensor.requires_grad for _, tensor in _returned_tensors(value)):
        return None
    return describe(value, arguments)


def _returned_tensors(value: Any) -> list[tuple[int, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        return [(0, value)]
    if type(value) in (tuple, list):
        return [(index, item) for index, item in enumerate(value) if isinstance(item, torch.Tensor)]
    return []


class _Walker:
    """Collects nodes and edges, numbering each ``grad_fn`` once."""

    def __init__(self, arguments: list):
        self.arguments = arguments
        self.nodes: list[dict] = []
        self.edges: list[list[int]] = []
        self.truncated = False
        self._index: dict[int, int] = {}  # id(grad_fn) -> node number
        self._kept: list[Any] = []  # the grad_fn objects, alive so their ids stay unique

    def root(self, index: int, tensor: torch.Tensor) -> dict:
        """One output: its shape and flags, and its node (its ``grad_fn``), or the argument it is."""
        described = {"output": index, "shape": list(tensor.shape), "requires_grad": bool(tensor.requires_grad),
                     "leaf": bool(tensor.is_leaf)}
        return {**described, **self.origin(tensor)}

    def origin(self, tensor: torch.Tensor) -> dict:
        """Where a tensor comes from: ``{"node": n}`` for its ``grad_fn``, ``{"argument": p}`` for an argument."""
        if tensor.grad_fn is not None:
            return {"node": self.walk(tensor.grad_fn)}
        position = self._argument(tensor)
        return {"argument": position} if position is not None else {}

    def walk(self, start: Any) -> int | None:
        """The number of ``start``'s node, after adding it and what it reaches (None past ``MAX_NODES``)."""
        if id(start) in self._index:
            return self._index[id(start)]
        return breadth_first(start, _inputs_of, self._add, self._index, self.edges)

    def arguments_reached(self) -> set[int]:
        """The positions of the arguments whose ``AccumulateGrad`` is among the nodes so far."""
        return {node["argument"] for node in self.nodes if node.get("argument") is not None}

    def _add(self, grad_fn: Any) -> int | None:
        if id(grad_fn) in self._index:
            return self._index[id(grad_fn)]
        if len(self.nodes) >= MAX_NODES:
            self.truncated = True
            return None
        node: dict[str, Any] = {"name": type(grad_fn).__name__[:NAME_LIMIT]}
        variable = getattr(grad_fn, "variable", None)
        if isinstance(variable, torch.Tensor):
            node.update(shape=list(variable.shape), requires_grad=bool(variable.requires_grad),
                        argument=self._argument(variable))
        self._index[id(grad_fn)] = len(self.nodes)
        self._kept.append(grad_fn)
        self.nodes.append(node)
        return self._index[id(grad_fn)]

    def _argument(self, tensor: torch.Tensor) -> int | None:
        return next((position for position, argument in enumerate(self.arguments) if argument is tensor), None)
