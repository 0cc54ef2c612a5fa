"""The graph of a student's own engine: walked over the course's declared attributes (``_prev``, ``_op``), noted
with what the course reads of each node, written as the torch graphs are, so that the same text and the same
picture show it; a node that cannot be walked gives no graph, and a huge graph is cut at the cap."""

from __future__ import annotations

import importlib.util
import sys

from grader import graph_text
from grader.reporters import graph_figure
from grader.worker import object_graph
from grader.worker.reading import Reading
from tests.conftest import ROOT

READ = Reading(("data", "grad"))


def _engine():
    path = ROOT / "examples" / "scalar-engine" / "solutions" / "engine.py"
    spec = importlib.util.spec_from_file_location("object_graph_engine", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.Value


def _described(value):
    return graph_text.checked(object_graph.describe(value, "_prev", "_op", READ))


def test_the_graph_reads_as_a_chain_with_each_node_noted_and_leaves_named():
    Value = _engine()
    a, b = Value(2.0), Value(-3.0)
    out = (a * b).tanh() + a
    out.backward()
    described = _described({"out": out, "a": a, "b": b})
    (line,) = graph_text.chains(described, [], [])
    assert line.startswith("out <- + (data 1, grad 1) <- tanh (data -1, grad 1) <- * (data -6, grad 2.458e-05)")
    assert line.endswith("[a (data 2, grad 0.9999), b (data -3, grad 4.915e-05)]")
    assert graph_figure.figure({"yours": described, "reference": described}).startswith("<svg")
    layout = graph_figure._Layout(described, [], [])
    labels = {label for label, _, _ in layout.boxes.values()}
    assert {"out", "a\n(data 2\ngrad 0.9999)", "tanh\n(data -1\ngrad 1)"} <= labels  # one value a line


def test_a_huge_graph_is_cut_at_the_cap():
    Value = _engine()
    out = Value(1.0)
    for _ in range(5_000):
        out = out + 1
    described = _described(out)
    assert len(described["nodes"]) == object_graph.MAX_NODES and described["truncated"]
    assert graph_text.chains(described, [], [])[0].endswith("...]")


def test_an_object_that_cannot_be_walked_gives_no_graph_or_a_node_marked_unknown():
    class Hostile:
        data, grad = 1.0, 0.0

        @property
        def _prev(self):
            raise RuntimeError("no")

    assert object_graph.describe(Hostile(), "_prev", "_op", READ) is None  # no operands: nothing to draw

    class Strange:
        _op, data, grad = 42, "one", None  # an operation that is not text, values that are not numbers

        def __init__(self, children=()):
            self._prev = tuple(children)

    described = _described(Strange([Strange()]))
    assert described["nodes"][0]["name"] == "? (data ?, grad ?)" and described["nodes"][1]["name"] == object_graph.LEAF

    class Raising(Strange):
        def __getattribute__(self, name):
            if name == "_prev":
                return object.__getattribute__(self, name)
            raise KeyboardInterrupt

    assert _described(Raising([Raising()]))["nodes"][0]["name"] == "?"
