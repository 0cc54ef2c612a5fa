"""Transformed calls: the arguments a classic slip in the student's code would have computed with
(runs in the trusted process, where torch is imported).

The reference run on them tells what such a slip returns, with no instructor code: ``column-<i>``
(argument i, an (N,) vector, as an (N, 1) column), ``swap-<i>-<j>`` (two arguments of the same kind
swapped) and ``float32`` (float64 tensors cast to float32).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from grader.authoring import Call


def transformed(calls: list[Call], transform: str) -> list[Call] | None:
    """The calls with ``transform`` applied where it fits their arguments; None when it fits none."""
    changed = [_arguments(call.args, transform) for call in calls]
    if all(args is None for args in changed):
        return None
    return [call if args is None else replace(call, args=args) for call, args in zip(calls, changed)]


def _arguments(args: list, transform: str) -> list | None:
    name, *positions = transform.split("-")
    indices = [int(p) for p in positions]
    if any(index >= len(args) for index in indices):
        return None
    if name == "column":
        return _as_column(args, indices[0])
    if name == "swap":
        return _swapped(args, *indices)
    if name == "float32" and any(_is_float64(arg) for arg in args):
        return [_like(arg, arg.detach().to(torch.float32)) if _is_float64(arg) else arg for arg in args]
    return None


MAX_COLUMN = 2048  # an (N, 1) column against (N,) makes N x N values: the reference must not run out of memory


def _as_column(args: list, index: int) -> list | None:
    """Argument ``index`` as a column, when it is a vector as long as another tensor argument's first dimension."""
    vector = args[index]
    if not (isinstance(vector, torch.Tensor) and vector.dim() == 1 and 2 <= len(vector) <= MAX_COLUMN):
        return None
    if not any(isinstance(arg, torch.Tensor) and arg.dim() >= 1 and arg.shape[0] == len(vector)
               for position, arg in enumerate(args) if position != index):
        return None
    return [_like(vector, vector.detach().unsqueeze(1)) if position == index else arg for position, arg in enumerate(args)]


def _swapped(args: list, first: int, second: int) -> list | None:
    """The two arguments swapped, when they are of one kind (tensors of one shape and dtype, or two numbers) and differ."""
    a, b = args[first], args[second]
    tensors = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype
    numbers = all(type(value) in (int, float) for value in (a, b))
    if not (tensors and not torch.equal(a, b) or numbers and a != b):
        return None
    swapped = list(args)
    swapped[first], swapped[second] = b, a
    return swapped


def _is_float64(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype == torch.float64


def _like(original: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """``new`` as a leaf that requires grad when ``original`` does."""
    return new.clone().requires_grad_(original.requires_grad and new.is_floating_point())
