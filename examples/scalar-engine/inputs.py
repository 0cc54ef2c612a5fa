"""The input cases of the scalar-engine course: expression graphs built with the ``Value`` under test.

Each case takes the case's seeded generator and the class under test (the student's ``Value``, the
reference's or a wrong variant's) and returns calls whose ``run`` builds a graph with that class and
returns ``Value`` objects, which the engine reads through ``attributes = ["data", "grad"]``. A random
expression is a ``Program``: plain data drawn from the generator, so every engine gets the same one,
and its label spells it out for the student to replay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from grader.authoring import Call, size

BINARY = ("+", "*", "-")
WITH_NUMBER = ("x + c", "c + x", "x * c", "c * x")
UNARY = ("tanh", "relu", "exp", "neg", "**2", "**3")
NAMES = "abcdefghijklmnopqrstuvwxyz"
KINK_MARGIN = 1e-3  # relu's input is kept this far from 0, where its two one-sided slopes differ


@dataclass(frozen=True)
class Step:
    """One operation: ``op`` on node ``first`` and node ``second`` (binary) or the number ``number``."""

    op: str
    first: int
    second: int = -1
    number: float = 0.0


@dataclass(frozen=True)
class Program:
    """Leaves (their values) and the steps that compute one node each from earlier ones; the last is the output."""

    leaves: tuple[float, ...]
    steps: tuple[Step, ...]

    def build(self, value_class) -> list:
        """Every node, leaves first, computed with ``value_class`` (a ``Value``) or any number-like type."""
        nodes = [value_class(x) for x in self.leaves]
        for step in self.steps:
            nodes.append(apply(step, nodes))
        return nodes

    def text(self) -> str:
        """``a = Value(0.5), b = Value(-1.25); c = a * b; out = c.tanh()``, the program as a student can replay it."""
        names = [_name(i) for i in range(len(self.leaves) + len(self.steps) - 1)] + ["out"]
        given = ", ".join(f"{names[i]} = Value({x:.6g})" for i, x in enumerate(self.leaves))
        computed = "; ".join(f"{names[len(self.leaves) + i]} = {_spelled(step, names)}"
                             for i, step in enumerate(self.steps))
        return f"{given}; {computed}"


def apply(step: Step, nodes: list):
    """The node ``step`` computes from ``nodes`` (Values, or plain floats for the generator's own evaluation)."""
    x, c = nodes[step.first], step.number
    if step.op in BINARY:
        y = nodes[step.second]
        return x + y if step.op == "+" else x * y if step.op == "*" else x - y
    operations = {"x + c": lambda: x + c, "c + x": lambda: c + x, "x * c": lambda: x * c, "c * x": lambda: c * x,
                  "neg": lambda: -x, "**2": lambda: x ** 2, "**3": lambda: x ** 3}
    if step.op in operations:
        return operations[step.op]()
    if isinstance(x, float):
        return {"tanh": math.tanh, "relu": lambda v: max(v, 0.0), "exp": math.exp}[step.op](x)
    return getattr(x, step.op)()


def _spelled(step: Step, names: list[str]) -> str:
    x, c = names[step.first], f"{step.number:g}"
    if step.op in BINARY:
        return f"{x} {step.op} {names[step.second]}"
    if step.op in WITH_NUMBER:
        return " ".join({"x": x, "c": c}.get(part, part) for part in step.op.split())
    if step.op == "neg":
        return f"-{x}"
    if step.op.startswith("**"):
        return f"{x} ** {step.op[2:]}"
    return f"{x}.{step.op}()"


def _name(index: int) -> str:
    return NAMES[index] if index < len(NAMES) else f"n{index}"


def random_program(gen: torch.Generator, leaves: int, steps: int) -> Program:
    """A random expression: sums, products, differences, powers, tanh, relu and exp of earlier nodes, numbers
    on either side, nodes used more than once. Operations whose input leaves a tame range (exp of a large
    value, relu at its kink) become tanh, so every value stays finite and every slope is the same on both sides."""
    values = [round(float(torch.rand((), generator=gen, dtype=torch.float64)) * 4 - 2, 3) for _ in range(leaves)]
    chosen: list[Step] = []
    for index in range(steps):
        last = len(values) - 1
        first = last if index and _draw(gen, 2) else _draw(gen, len(values))  # often the newest node: a deep graph
        kind = _draw(gen, 3)
        if index == steps - 1:  # the output uses an earlier node again
            step = Step(BINARY[_draw(gen, 2)], last, _draw(gen, last))
        elif kind == 0:
            step = Step(BINARY[_draw(gen, 3)], first, _draw(gen, len(values)))
        elif kind == 1:
            step = Step(WITH_NUMBER[_draw(gen, 4)], first, number=float(_draw(gen, 7) - 3) or 0.5)
        else:
            step = Step(UNARY[_draw(gen, len(UNARY))], first)
        if not _tame(step, values):
            step = Step("tanh", step.first)
        chosen.append(step)
        values.append(apply(step, values))
    return Program(tuple(values[:leaves]), tuple(chosen))


def _tame(step: Step, values: list[float]) -> bool:
    x = values[step.first]
    if step.op == "exp":
        return abs(x) <= 2.5
    if step.op == "relu":
        return abs(x) > KINK_MARGIN
    if step.op.startswith("**"):
        return abs(x) <= 4
    result = apply(step, values)
    return abs(result) <= 1e3


def _draw(gen: torch.Generator, count: int) -> int:
    return int(torch.randint(0, count, (1,), generator=gen))


def _programs(gen: torch.Generator, count: int) -> list[Program]:
    return [random_program(gen, size(gen, 2, 4), size(gen, 4, 9)) for _ in range(count)]


# --- the cases ----------------------------------------------------------------------------------------------


def operations(gen, Value):
    """Each operation once on two random Values: its result (data; grad still 0)."""
    a, b = (round(float(torch.rand((), generator=gen, dtype=torch.float64)) * 3 - 1.5, 3) for _ in range(2))
    b = b if abs(b) > KINK_MARGIN else 0.5
    shown = {"+": "x + y", "*": "x * y", "-": "x - y", "**2": "x ** 2", "**3": "x ** 3", "neg": "-x",
             "tanh": "x.tanh()", "relu": "y.relu()", "exp": "x.exp()", "x + c": "x + 2", "x * c": "x * 3"}
    steps = {"+": Step("+", 0, 1), "*": Step("*", 0, 1), "-": Step("-", 0, 1), "**2": Step("**2", 0),
             "**3": Step("**3", 0), "neg": Step("neg", 0), "tanh": Step("tanh", 0), "relu": Step("relu", 1),
             "exp": Step("exp", 0), "x + c": Step("x + c", 0, number=2.0), "x * c": Step("x * c", 0, number=3.0)}
    return [Call([], run=_forward(Value, Program((a, b), (step,))), label=f"{shown[op]} with x = Value({a:g}), "
                 f"y = Value({b:g})") for op, step in steps.items()]


def number_on_the_left(gen, Value):
    """``2 + x`` and ``3 * x``: a plain number on the left of a Value."""
    x = round(float(torch.rand((), generator=gen, dtype=torch.float64)) * 3 - 1.5, 3)
    return [Call([], run=_reflected(Value, Program((x,), (Step(op, 0, number=c),))),
                 label=" ".join({"x": f"Value({x:g})", "c": f"{c:g}"}.get(part, part) for part in op.split()))
            for op, c in (("c + x", 2.0), ("c * x", 3.0))]


def expressions(gen, Value):
    """Random expressions: the output's value (forward only)."""
    return [Call([], run=_forward(Value, program), label=program.text()) for program in _programs(gen, 4)]


def gradients(gen, Value):
    """Random expressions, then ``out.backward()``: the output and every leaf, with its grad. The first one has
    a node used three times, a leaf used twice and a power, whatever the draw."""
    a, b = (round(float(torch.rand((), generator=gen, dtype=torch.float64)) * 2 - 1, 3) or 0.5 for _ in range(2))
    shared = Program((a, b), (Step("*", 0, 1), Step("**2", 2), Step("tanh", 2), Step("+", 3, 4), Step("*", 5, 0),
                              Step("+", 6, 2)))
    return [Call([], run=_backward(Value, program), label=f"{program.text()}; out.backward()")
            for program in [shared, *_programs(gen, 5)]]


def backward_twice(gen, Value):
    """A random expression, ``out.backward()``, ``out.zero_grad()``, ``out.backward()``: every leaf's grad is
    that of one backward."""
    program = _programs(gen, 1)[0]
    return [Call([], run=_backward(Value, program, twice=True),
                 label=f"{program.text()}; out.backward(); out.zero_grad(); out.backward()")]


def relu_at_zero(gen, Value):
    """relu exactly at its kink: x.grad may be either one-sided slope (checked as "one of them")."""
    scale = float(size(gen, 2, 5))
    return [Call([], run=_kink(Value, scale), label=f"x = Value(0.0); out = x.relu() * {scale:g} + x; out.backward(); "
                                                    f"is x.grad 1 or {scale + 1:g}?")]


# --- what the calls run (with the class under test) ------------------------------------------------------


def _forward(Value, program: Program):
    def run():
        return program.build(Value)[-1]
    return run


def _backward(Value, program: Program, twice: bool = False):
    def run():
        nodes = program.build(Value)
        out = nodes[-1]
        out.backward()
        if twice:
            out.zero_grad()
            out.backward()
        names = [_name(i) for i in range(len(program.leaves))]
        return {"out": out, **dict(zip(names, nodes))}
    return run


def _reflected(Value, program: Program):
    def run():
        try:
            return program.build(Value)[-1]
        except TypeError:  # int + Value: Python asks Value.__radd__, which is missing
            return "TypeError: a number on the left of a Value is not supported"
    return run


def _kink(Value, scale: float):
    def run():
        x = Value(0.0)
        out = x.relu() * scale + x
        out.backward()
        slope = float(x.grad)
        if slope in (1.0, scale + 1.0):
            return "x.grad is one of the two"
        return f"x.grad is {slope:.6g}, neither 1 nor {scale + 1:g}"
    return run
