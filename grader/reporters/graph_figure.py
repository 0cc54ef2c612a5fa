"""A failing autograd check's graphs as a picture for the class report, drawn as torchviz draws them:
leaves (blue) at the top, ``grad_fn`` nodes (grey) below, the output (green) at the bottom, the
student's graph beside the reference's. A cut is a red box, an argument that never reaches the output a
dashed red one. Returned as inline SVG.
"""

from __future__ import annotations

from grader.graph_text import Names
from grader.reporters import svg

MAX_LAYERS = 12
LEAF, OPERATION, OUTPUT, CUT = "#cfe2f3", "#e0e0e0", "#c8e6c9", "#f4c7c3"
FONT, LINE, PAD = 10, 12, 4  # a box's font size, line height and padding, in pixels
GAP, TITLE = 22, 34  # between two layers, and above the first


def figure(graphs: dict) -> str:
    """The student's graph (``graphs["yours"]``) beside the reference's, when known, as an ``<svg>`` element."""
    panels = [("your graph", graphs["yours"])] + ([("reference graph", graphs["reference"])] if graphs.get("reference") else [])
    laid_out = [(title, _Layout(graph, graphs.get("arguments", []), graphs.get("outputs", []))) for title, graph in panels]
    row = GAP + max((_size(label)[1] for _, layout in laid_out for label, _, _ in layout.boxes.values()), default=0)
    picture = svg.Picture(0, TITLE + row * max(layout.height for _, layout in laid_out) + 4)
    for title, layout in laid_out:
        width = layout.draw(picture, picture.width, row)
        picture.text(picture.width + width / 2, 14, title, 13, "middle", bold=True)
        picture.width += width
    return picture.svg()


class _Layout:
    """Boxes in layers (0: the outputs, at the bottom) and the arrows between them, for one graph."""

    def __init__(self, graph: dict, arguments: list[str], outputs: list[str]):
        self.names = Names(graph, arguments, outputs)
        self.boxes: dict[str, tuple[str, str, bool]] = {}  # key -> label, colour, dashed
        self.layer: dict[str, int] = {}
        self.rank: dict[str, int] = {}  # the order within a layer: arguments by position, then nodes as numbered
        self.arrows: list[tuple[str, str, bool]] = []  # from an input to what uses it; red dashed across a cut
        untracked = []
        for root in graph.get("roots", []):
            key = self._output(root)
            if not root.get("requires_grad") and root.get("node") is None:
                untracked.append(key)
        for number, cut in enumerate(graph.get("cuts", [])):
            self._cut(number, cut, untracked if number == 0 else [])
        self.arrows += [(f"n{end}", f"n{start}", False) for start, end in graph.get("edges", [])]
        self._missing(graph.get("missing", []))
        self.height = max(self.layer.values(), default=0) + 1

    def _output(self, root: dict) -> str:
        key, name, shape = f"r{root.get('output', 0)}", self.names.output(root), tuple(root.get("shape", []))
        shape = "" if self.names.graph.get("names") else shape  # a student's own engine: objects, not shapes
        if root.get("node") is None and root.get("requires_grad"):
            self._box(key, f"{name}: a leaf\n{shape}", LEAF, 0)
        else:
            self._box(key, f"{name}\n{shape}".strip(), OUTPUT if root.get("requires_grad") else CUT, 0)
        if root.get("node") is not None:
            self._nodes(root["node"], 1)
            self.arrows.append((f"n{root['node']}", key, False))
        return key

    def _cut(self, number: int, cut: dict, outputs: list[str]) -> None:
        """A cut's box, under the graph of the tensor it cut, above the outputs it cut off (right of their chains)."""
        key = f"cut{number}"
        self._box(key, f"cut: {cut['operation']}", CUT, 1, rank=2000 + number)
        self.arrows += [(key, output, True) for output in outputs]
        if cut.get("node") is not None:
            self._nodes(cut["node"], 2)
            self.arrows.append((f"n{cut['node']}", key, True))

    def _missing(self, positions: list[int]) -> None:
        """Mark the arguments that never reach an output: their leaf box where drawn, else a box of their own."""
        top = max(self.layer.values(), default=0) + 1
        for position in positions:
            drawn = [key for key in self.boxes if key.startswith("n")
                     and self.names.nodes[int(key[1:])].get("argument") == position]
            for key in drawn or [f"m{position}"]:
                label = self.boxes[key][0] if key in self.boxes else self.names.argument(position)
                self._box(key, f"{label}\nnever reaches\nthe output", CUT, self.layer.get(key, top), dashed=True,
                          rank=position)

    def _nodes(self, start: int, layer: int) -> None:
        """``start`` and what it reaches, each in the layer of its longest path from the output (up to ``MAX_LAYERS``)."""
        frontier = [(start, layer)]
        while frontier:
            index, depth = frontier.pop()
            key = f"n{index}"
            if depth >= MAX_LAYERS or self.layer.get(key, -1) >= depth:
                continue
            node = self.names.nodes[index]
            if node["name"] == "AccumulateGrad":
                position = node.get("argument")
                self._box(key, _lines(self.names.leaf(node), bool(node.get("note"))), LEAF, depth,
                          rank=position if position is not None else 1000 + index)
            else:
                self._box(key, _lines(node["name"], self.names.graph.get("names") is not None), OPERATION, depth,
                          rank=1000 + index)
            frontier += [(child, depth + 1) for child in self.names.inputs.get(index, [])]

    def _box(self, key: str, label: str, colour: str, layer: int, dashed: bool = False, rank: int = 0) -> None:
        self.boxes[key] = (label, colour, dashed)
        self.layer[key] = layer
        self.rank[key] = rank

    def draw(self, picture: svg.Picture, left: float, row: float) -> float:
        """Boxes centred in their layer (each layer ``row`` pixels high, the outputs' at the bottom), arrows from
        each input to what uses it, from ``left``; the width taken."""
        rows: dict[int, list[str]] = {}
        for key in sorted(self.boxes, key=self.rank.get):
            rows.setdefault(self.layer[key], []).append(key)
        width = max([200, *(len(keys) * (16 + max(_size(self.boxes[key][0])[0] for key in keys)) for keys in rows.values())])
        placed = {}  # key -> the centre of its box, and half its height
        for layer, keys in rows.items():
            for column, key in enumerate(keys):
                label, colour, dashed = self.boxes[key]
                (box_width, box_height), x = _size(label), left + width * (column + 0.5) / len(keys)
                y = TITLE + row * (self.height - layer - 0.5)
                picture.rect(x - box_width / 2, y - box_height / 2, box_width, box_height, colour, "#111111", 4, dashed)
                picture.text(x, y, label, FONT, "middle", mono=True)
                placed[key] = x, y, box_height / 2
        for source, target, across_cut in self.arrows:
            if source in placed and target in placed:
                (x0, y0, h0), (x1, y1, h1) = placed[source], placed[target]
                picture.arrow((x0, y0 + h0), (x1, y1 - h1), "#c53030" if across_cut else "#444444", across_cut)
        return width


def _size(label: str) -> tuple[float, float]:
    """A box's width and height around ``label``."""
    return svg.width_of(label, FONT) + 2 * PAD, LINE * (label.count("\n") + 1) + 2 * PAD


def _lines(label: str, noted: bool) -> str:
    """``W (2, 3)`` as ``W`` over ``(2, 3)``; a student's own engine's ``* (data 2, grad 1)`` one value a line."""
    head, separator, rest = label.partition(" (")
    if not separator:
        return label
    return f"{head}\n({rest.replace(', ', chr(10)) if noted else rest}"
