"""Single edits of one definition's syntax tree: the candidates of a located repair hint.

Each edit changes one place of the student's own definition the way a classic slip would be undone: a
reduction swapped (``sum`` and ``mean``), its ``dim`` or ``keepdim``, a sign, an operand order, a factor
dropped or a constant doubled or halved, a square added, a ``.detach()``, ``.item()``, ``.data``, ``.T``, a
reshape or a wrapping ``copy.deepcopy(...)`` / ``torch.tensor(...)`` removed, two call arguments swapped, or one training statement (``zero_grad``, ``backward``, ``step``, an
assignment to ``.grad``) moved or removed. Pure syntax: nothing here runs the code, and every edit's source
parses. The grading process owns the tree; the worker runs the edited copies (``grader.repair``).
"""

from __future__ import annotations

import ast
import copy
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from grader import pyparse

SWAPPED_CALLS = {"sum": "mean", "mean": "sum", "nansum": "nanmean", "nanmean": "nansum"}
REMOVABLE_CALLS = ("detach", "item", "clone", "float", "double", "numpy", "tolist")  # x.detach() -> x
REMOVABLE_ATTRIBUTES = ("data", "T", "mT")  # x.data -> x
WRAPPING_CALLS = ("copy.deepcopy", "deepcopy", "copy.copy", "torch.tensor", "torch.as_tensor", "torch.from_numpy",
                  "float", "np.array", "numpy.array")  # copy.deepcopy(model) -> model
RESHAPING_CALLS = ("reshape", "view", "unsqueeze", "squeeze", "flatten", "expand", "t")  # x.reshape(-1, 1) -> x
TRAINING_CALLS = ("zero_grad", "backward", "step", "zero_")  # statements whose place in a loop matters
TEXT_LIMIT = 80
MAX_NODES = 1500  # a definition larger than this (a few hundred lines) is not searched
ATTEMPTS = 3  # candidates built per edit kept, at most (same-as-the-original and repeated edits are dropped)
LARGEST_CONSTANT = 1e15  # constants beyond it are not doubled or halved (an int past a float's range cannot be)


@dataclass(frozen=True)
class Edit:
    """One candidate repair: where (a line of the definition's file), what (as the student would read it), and
    the whole edited definition's source."""

    line: int
    text: str
    source: str


def single_edits(definition: ast.stmt, limit: int = 80) -> list[Edit]:
    """Up to ``limit`` distinct single edits of a top-level definition, the likeliest kinds first, built from at
    most ``ATTEMPTS`` × ``limit`` candidates (each costs a copy, a print and a parse of the whole definition);
    none for a definition of more than ``MAX_NODES`` syntax nodes. Never raises on any tree ``ast.parse``
    gives (a definition too deep to copy or print gives none)."""
    edits: dict[str, Edit] = {}
    try:
        if sum(1 for _ in ast.walk(definition)) > MAX_NODES:
            return []
        original = pyparse.unparse(definition)
        for attempt, edit in enumerate(_candidates(definition)):
            if len(edits) >= limit or attempt >= ATTEMPTS * limit:
                break
            if edit is not None and edit.source != original and edit.source not in edits:
                edits[edit.source] = edit
    except (RecursionError, MemoryError):
        return []
    return list(edits.values())


def _candidates(definition: ast.stmt) -> Iterator[Edit | None]:
    """By kind, likeliest first (every place of one kind before the next kind); only inside the body, never in
    the signature's defaults or the decorators."""
    sites = list(ast.walk(definition))
    inside = {id(node) for statement in definition.body for node in ast.walk(statement)}
    working = _Working(definition)
    for rule in _EXPRESSION_RULES[:2]:
        yield from _expression_edits(working, sites, inside, rule)
    yield from _statement_edits(definition)
    for rule in _EXPRESSION_RULES[2:]:
        yield from _expression_edits(working, sites, inside, rule)


def _expression_edits(working: _Working, sites: list[ast.AST], inside: set[int],
                      rule: Callable[[ast.AST], Iterator[_Replacement]]) -> Iterator[Edit | None]:
    """The rule's edits at each place, then, for a key found at several places (the same slip made on parallel
    lines), the edit at all of them at once."""
    grouped: dict[str, list[tuple[int, ast.AST, ast.AST, str]]] = {}
    for index, node in enumerate(sites):
        if id(node) not in inside:
            continue
        for replacement, text, key in rule(node):
            edited = working.replaced({index: replacement})  # None (an attempt all the same) if it fails
            yield Edit(getattr(node, "lineno", working.line), _short(text), edited) if edited else None
            if key is not None:
                grouped.setdefault(text if key == "same" else key, []).append((index, node, replacement, text))
    for places in grouped.values():
        apart = _apart(places)
        if len(apart) < 2:
            continue
        edited = working.replaced({index: replacement for index, _, replacement, _ in apart})
        lines = sorted({getattr(node, "lineno", working.line) for _, node, _, _ in apart})
        where = f"lines {', '.join(map(str, lines))}" if len(lines) > 1 else "this line"
        yield Edit(lines[0], _short(f"{apart[0][3]}, at {len(apart)} places ({where})"), edited) if edited else None


def _apart(places: list[tuple[int, ast.AST, ast.AST, str]]) -> list[tuple[int, ast.AST, ast.AST, str]]:
    """The places none of which lies inside another (the outermost first), one edit each."""
    kept, covered = [], set()
    for place in places:
        inner = {id(node) for node in ast.walk(place[1])}
        if id(place[1]) in covered or any(id(other[1]) in inner for other in kept):
            continue
        kept.append(place)
        covered |= inner
    return kept


# --- expression edits: (replacement, text, key) for one node; the same key at several places is one edit too ---

_Replacement = tuple[ast.AST, str, "str | None"]  # key "same": the text says it all

def _reductions(node: ast.AST) -> Iterator[_Replacement]:
    if isinstance(node, ast.Attribute) and node.attr in SWAPPED_CALLS:
        swapped = ast.Attribute(node.value, SWAPPED_CALLS[node.attr], ast.Load())
        text = f"{_text(node)} → {_text(swapped)}" if isinstance(node.value, ast.Name) else \
            f".{node.attr}() → .{swapped.attr}()"
        yield swapped, text, f"reduce:{node.attr}"


def _reduction_arguments(node: ast.AST) -> Iterator[_Replacement]:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SWAPPED_CALLS):
        return
    keywords = {keyword.arg: keyword for keyword in node.keywords}
    dim = keywords.get("dim") or keywords.get("axis")
    if dim is not None:
        others = [k for k in node.keywords if k is not dim]
        changed = ast.Call(node.func, node.args, others)
        yield changed, f"{_text(node)} → {_text(changed)}", f"remove {dim.arg}={_text(dim.value)}"
        for value in (0, 1, -1):
            if not (isinstance(dim.value, ast.Constant) and dim.value.value == value):
                changed = ast.Call(node.func, node.args, [*others, ast.keyword(dim.arg, ast.Constant(value))])
                yield changed, f"{_text(node)} → {_text(changed)}", f"{dim.arg}={_text(dim.value)} → {value}"
    elif len(node.args) == 1:
        yield ast.Call(node.func, [], node.keywords), f"remove the dimension {_text(node.args[0])}", "same"
    else:
        for value in (0, 1, -1):
            yield ast.Call(node.func, node.args, [*node.keywords, ast.keyword("dim", ast.Constant(value))]), \
                f"{_text(node)} → reduce over dim={value}", None
    keepdim = keywords.get("keepdim")
    if keepdim is not None:
        changed = ast.Call(node.func, node.args, [k for k in node.keywords if k is not keepdim])
        yield changed, f"{_text(node)} → {_text(changed)}", "remove keepdim"
    elif dim is not None or node.args:
        changed = ast.Call(node.func, node.args, [*node.keywords, ast.keyword("keepdim", ast.Constant(True))])
        yield changed, f"{_text(node)} → {_text(changed)}", "add keepdim"


def _removals(node: ast.AST) -> Iterator[_Replacement]:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in REMOVABLE_CALLS
            and not node.args and not node.keywords):
        yield node.func.value, f"remove .{node.func.attr}()", "same"
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords and _text(node.func) in WRAPPING_CALLS:
        yield node.args[0], f"remove {_text(node.func)}(…)", "same"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RESHAPING_CALLS:
        call = _text(ast.Call(ast.Name("x", ast.Load()), node.args, node.keywords))[1:]
        yield node.func.value, f"remove .{node.func.attr}{call}", "same"
    if isinstance(node, ast.Attribute) and node.attr in REMOVABLE_ATTRIBUTES and isinstance(node.ctx, ast.Load):
        yield node.value, f"remove .{node.attr}", "same"


def _signs(node: ast.AST) -> Iterator[_Replacement]:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield node.operand, f"{_text(node)} → {_text(node.operand)}", "minus"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        flipped = ast.BinOp(node.left, ast.Sub() if isinstance(node.op, ast.Add) else ast.Add(), node.right)
        yield flipped, f"{_text(node)} → {_text(flipped)}", f"flip:{type(node.op).__name__}"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Sub, ast.Div, ast.MatMult)):
        swapped = ast.BinOp(node.right, node.op, node.left)
        yield swapped, f"{_text(node)} → {_text(swapped)}", None


def _factors(node: ast.AST) -> Iterator[_Replacement]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        yield node.right, f"{_text(node)} → {_text(node.right)}", f"drop:{_text(node.left)}"
        yield node.left, f"{_text(node)} → {_text(node.left)}", f"drop:{_text(node.right)}"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        yield node.left, f"{_text(node)} → {_text(node.left)}", f"drop:/{_text(node.right)}"
    if (isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value not in (0, 1)
            and abs(node.value) <= LARGEST_CONSTANT):
        for changed in (node.value * 2, node.value / 2):
            yield ast.Constant(changed), f"{node.value!r} → {changed!r}", None


def _squares(node: ast.AST) -> Iterator[_Replacement]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        squared = ast.BinOp(node, ast.Pow(), ast.Constant(2))
        yield squared, f"{_text(node)} → {_text(squared)}", None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        yield node.left, f"{_text(node)} → {_text(node.left)}", None


def _arguments(node: ast.AST) -> Iterator[_Replacement]:
    if isinstance(node, ast.Call) and len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args):
        for first in range(len(node.args) - 1):
            args = list(node.args)
            if _text(args[first]) == _text(args[first + 1]):
                continue  # f(1, 1): the same call
            args[first], args[first + 1] = args[first + 1], args[first]
            swapped = ast.Call(node.func, args, node.keywords)
            yield swapped, f"{_text(node)} → {_text(swapped)}", None


def _returned_items(node: ast.AST) -> Iterator[_Replacement]:
    """Two returned items in each other's place."""
    if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and len(node.value.elts) >= 2:
        items = node.value.elts
        for first in range(len(items) - 1):
            swapped = [*items[:first], items[first + 1], items[first], *items[first + 2:]]
            yield ast.copy_location(ast.Return(ast.Tuple(swapped, ast.Load())), node), \
                f"swap returned items {first + 1} and {first + 2}", None


def _assigned_factors(node: ast.AST) -> Iterator[_Replacement]:
    """A factor 2 added to (or taken from) a whole assigned or returned value, or one returned item."""
    if not isinstance(node, (ast.Assign, ast.AugAssign, ast.Return)) or node.value is None \
            or isinstance(node, ast.Assign) and not isinstance(node.targets[0], (ast.Name, ast.Attribute, ast.Subscript)):
        return
    values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
    for position, value in enumerate(values):
        if not isinstance(value, (ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Attribute)):
            continue
        for op, verb in ((ast.Mult(), "multiply"), (ast.Div(), "divide")):
            changed = copy.copy(node)
            scaled = ast.BinOp(value, op, ast.Constant(2))
            changed.value = ast.Tuple([scaled if i == position else v for i, v in enumerate(values)], ast.Load()) \
                if isinstance(node.value, ast.Tuple) else scaled
            yield changed, f"{verb} {_named(node, position, len(values))} by 2", None


def _named(node: ast.AST, position: int, count: int) -> str:
    """What a statement's value is, in words: ``d``, ``the returned value``, ``returned item 2``."""
    if isinstance(node, ast.Return):
        return "the returned value" if count == 1 else f"returned item {position + 1}"
    target = node.targets[0] if isinstance(node, ast.Assign) else node.target
    name = _text(target)
    return name if count == 1 else f"item {position + 1} of {name}"


def _in_place(node: ast.AST) -> Iterator[_Replacement]:
    """``x = x - y`` and ``x -= y``: a new tensor, or the same one changed in place; ``p.grad = g`` and
    ``p.grad += g``: a gradient assigned, or accumulated."""
    if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.value, ast.BinOp)
            and _text(node.value.left) == _text(node.targets[0])):
        changed = ast.copy_location(ast.AugAssign(node.targets[0], node.value.op, node.value.right), node)
        yield changed, f"{_text(node)} → {_text(changed)}", "in place"
    if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Attribute)
            and node.targets[0].attr == "grad" and not isinstance(node.value, ast.Constant)):
        changed = ast.copy_location(ast.AugAssign(node.targets[0], ast.Add(), node.value), node)
        yield changed, f"{_text(node)} → {_text(changed)}", "accumulate"  # a gradient assigned, not accumulated
    if isinstance(node, ast.AugAssign):
        loaded = copy.deepcopy(node.target)
        for child in ast.walk(loaded):
            if hasattr(child, "ctx"):
                child.ctx = ast.Load()
        changed = ast.copy_location(ast.Assign([node.target], ast.BinOp(loaded, node.op, node.value)), node)
        yield changed, f"{_text(node)} → {_text(changed)}", "new tensor"


_EXPRESSION_RULES: tuple[Callable[[ast.AST], Iterator[_Replacement]], ...] = (
    _reductions, _removals, _signs, _in_place, _reduction_arguments, _factors, _squares, _arguments, _returned_items,
    _assigned_factors)
# (the first two kinds come before the statement edits)


class _Working:
    """A copy of a definition that each expression edit is made in, printed, and undone: the place of every node
    (in ``ast.walk`` order) is found once, so that an edit costs a print and a parse, not a copy of the tree."""

    def __init__(self, definition: ast.stmt):
        self.tree, self.line = copy.deepcopy(definition), definition.lineno
        self.places: list[tuple[ast.AST, str, int | None] | None] = []  # what holds each node: (parent, field, item)
        pending: deque[tuple[ast.AST, tuple[ast.AST, str, int | None] | None]] = deque([(self.tree, None)])
        while pending:  # the order of ast.walk
            node, place = pending.popleft()
            self.places.append(place)
            for name, value in ast.iter_fields(node):
                if isinstance(value, ast.AST):
                    pending.append((value, (node, name, None)))
                elif isinstance(value, list):
                    pending.extend((item, (node, name, position)) for position, item in enumerate(value)
                                   if isinstance(item, ast.AST))

    def replaced(self, replacements: dict[int, ast.AST]) -> str | None:
        """The definition's source with its nodes at these indices (in ``ast.walk`` order) replaced; None where one
        is the definition itself or the result does not compile. The copy is left as it was."""
        if any(self.places[index] is None for index in replacements):
            return None
        undo = [self._put(self.places[index], replacement) for index, replacement in replacements.items()]
        try:
            return _source(self.tree)
        finally:
            for place, original in reversed(undo):
                self._put(place, original)

    @staticmethod
    def _put(place: tuple[ast.AST, str, int | None], node: ast.AST) -> tuple[tuple[ast.AST, str, int | None], ast.AST]:
        """Put ``node`` in ``place``; return the place and what it held."""
        parent, name, position = place
        if position is None:
            held = getattr(parent, name)
            setattr(parent, name, node)
        else:
            held = getattr(parent, name)[position]
            getattr(parent, name)[position] = node
        return place, held


# --- statement edits: one training statement moved or removed ---

def _statement_edits(definition: ast.stmt) -> Iterator[Edit | None]:
    """Every training statement removed, then every one moved (a doubled ``step()`` is repaired where it is)."""
    edited = copy.deepcopy(definition)
    bodies = list(_bodies(edited))
    for body, _, _, _ in bodies:
        for position, statement in enumerate(list(body)):
            if _movable(statement):
                body.pop(position)
                source = _source(edited)
                body.insert(position, statement)
                yield Edit(statement.lineno, f"remove `{_short(_text(statement))}`", source) if source else None
    for body, holder, outer, at in bodies:
        for position, statement in enumerate(list(body)):
            if not _movable(statement):
                continue
            shown = _short(_text(statement))
            body.pop(position)
            for place, where, landing in _places(body, position, holder, outer, at):
                place.insert(where, statement)
                moved = _source(edited)
                place.pop(where)
                yield Edit(statement.lineno, f"move `{shown}` {landing}", moved) if moved else None
            body.insert(position, statement)


def _places(body: list[ast.stmt], removed_at: int, holder: ast.AST, outer: list[ast.stmt] | None,
            at: int) -> Iterator[tuple[list[ast.stmt], int, str]]:
    """Where a statement taken out of ``body`` (of ``holder``, which stands at ``at`` in ``outer``) at
    ``removed_at`` may go, and how to say it: elsewhere in the same body, first or last in the block of a compound
    statement in it, or just before or after ``holder``."""
    for where in range(len(body) + 1):
        if where != removed_at:
            yield body, where, (f"to after line {body[where - 1].end_lineno}" if where else
                                f"to before line {body[0].lineno}")
    for statement in body:
        for inner in _own_bodies(statement):
            yield inner, 0, f"to the start of the block of line {statement.lineno}"
            yield inner, len(inner), f"to the end of the block of line {statement.lineno}"
    if outer is not None:
        yield outer, at, f"to before line {holder.lineno}"
        yield outer, at + 1, f"to after the block of line {holder.lineno}"


def _bodies(definition: ast.stmt) -> Iterator[tuple[list[ast.stmt], ast.stmt, list[ast.stmt] | None, int]]:
    """Every statement list inside the definition, with the statement that holds it, and the list that holds
    that one and where."""
    pending: list[tuple[ast.stmt, list[ast.stmt] | None, int]] = [(definition, None, 0)]
    while pending:
        node, outer, at = pending.pop(0)
        for body in _own_bodies(node):
            yield body, node, outer, at
            pending += [(statement, body, index) for index, statement in enumerate(body)]


def _own_bodies(node: ast.AST) -> list[list[ast.stmt]]:
    return [value for name in ("body", "orelse", "finalbody") if isinstance(value := getattr(node, name, None), list)
            and value and isinstance(value[0], ast.stmt)]


def _movable(statement: ast.stmt) -> bool:
    """A statement whose place in a training loop matters: a call of zero_grad/backward/step, or ``x.grad = ...``."""
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        function = statement.value.func
        return isinstance(function, ast.Attribute) and function.attr in TRAINING_CALLS
    if isinstance(statement, ast.Assign):
        return any(isinstance(target, ast.Attribute) and target.attr == "grad" for target in statement.targets)
    return False


# --- text ---

def _source(definition: ast.stmt) -> str | None:
    """The definition's source, when it compiles."""
    source = pyparse.unparse(definition)
    if source is None:
        return None
    try:
        pyparse.parse(source)
    except SyntaxError:
        return None
    return source


def _text(node: ast.AST) -> str:
    return pyparse.unparse(node) or "…"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"
