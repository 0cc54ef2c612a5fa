"""The authoring API of a course's ``inputs.py``: what an input builder returns.

An input case is a top-level function of the course's ``inputs.py`` that takes a seeded
``torch.Generator`` and returns a list of ``Call``. Draw every random number from that generator:
the reference, the wrong variants and every student then get the same inputs in one run, and a
run's seed repeats them. A finite-difference target is a top-level function of the course's
``targets.py`` (kept from students, like the solutions) that takes a call's arguments and returns
a scalar tensor.

    import torch
    from grader.authoring import Call, size

    def relu_random(gen):
        return [Call([torch.randn(size(gen, 5, 30), generator=gen, dtype=torch.float64)])]

When the exercise is a class students write (their own ``Value`` of an autograd engine), a case may take
a second parameter: the class under test (the student's, the reference's or a wrong variant's). It
builds objects with it, and a call's ``run`` says what to do with them, in place of calling the
class: ``run`` is course code, called on the call's arguments, and whatever it raises, prints or
returns counts as the student's (it runs timed and captured, as the call would).

    import operator

    def product(gen, Value):
        return [Call([Value(2.0), Value(-3.0)], run=operator.mul, label="Value(2.0) * Value(-3.0)")]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Call:
    """One call of the function under test.

    ``args`` and ``kwargs`` are passed as they are (fresh objects for every process); ``label``
    replaces the printed arguments in messages; ``watch`` names objects (a dataset, a loader's
    data) whose tensors the call must leave unchanged, as ``{"the training data": dataset}``; ``run``, when
    given, is called with ``args`` and ``kwargs`` instead of the function or class under test.
    """

    args: list[Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    watch: dict[str, Any] = field(default_factory=dict)
    run: Callable[..., Any] | None = None


def size(gen: torch.Generator, low: int, high: int) -> int:
    """A random whole number in ``[low, high]`` drawn from the case's generator."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))
