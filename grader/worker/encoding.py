"""Turn whatever a function returned into plain JSON data (runs where torch is imported).

Only plain data crosses from a process running student code to the grader: tensors become
dicts of dtype, shape, device, flat values and autograd attributes. Every tensor is read as a plain
``torch.Tensor``, through ``torch.Tensor``'s own accessors with ``__torch_function__`` switched off, so a
subclass can neither change what is reported about it nor pass as a ``torch.Tensor``: its class is
reported as what it is. A tensor always carries its values (complex ones as (real, imaginary) pairs);
one too large to send carries a summary of them instead. An object of another class is its class name
and a bounded repr, or, when the course declares how to read its objects (``grader.worker.reading``), the
values read from it, each a plain number, text, tensor or a sequence of them.
"""

from __future__ import annotations

import math
import reprlib
import sys
from typing import Any

import torch

from grader.worker.reading import Reading

MAX_ELEMENTS = 100_000
MAX_ITEMS = 1_000
MAX_DEPTH = 6
MAX_TEXT = 2_000
_repr = reprlib.Repr()
_repr.maxstring = 200
_repr.maxother = 200


def encode(value: Any, depth: int = 0, reading: Reading | None = None) -> Any:
    """A JSON-able description of ``value`` (objects read as ``reading`` says, when given)."""
    if value is None or isinstance(value, bool):
        return value
    if type(value) is int and abs(value) >= 2**1024:  # past any float, and past what JSON may print of an int
        return math.inf if value > 0 else -math.inf
    if type(value) in (int, float):
        return value
    if type(value) is str:
        return value[:MAX_TEXT]
    if isinstance(value, torch.Tensor):
        return encode_tensor(value, depth)
    if isinstance(value, torch.nn.Module):
        return encode_module(value, depth)
    if depth >= MAX_DEPTH:
        return {"type": "object", "class": "too deeply nested", "repr": ""}
    if type(value) in (list, tuple):
        items = [encode(item, depth + 1, reading) for item in value[:MAX_ITEMS]]
        return {"type": type(value).__name__, "items": items, "length": len(value)}
    if type(value) is dict:
        items = {str(key)[:200]: encode(item, depth + 1, reading) for key, item in list(value.items())[:MAX_ITEMS]}
        return {"type": "dict", "items": items}
    if reading is not None:
        read = reading.read(value)
        return {"type": "object", "class": _class_name(value), "repr": "",
                "attributes": {str(name)[:200]: encode_plain(item, depth + 1) for name, item in read.items()}}
    return {"type": "object", "class": _class_name(value), "repr": _safe_repr(value)}


def encode_plain(value: Any, depth: int = 0) -> Any:
    """What was read from a student's object: numbers, text and tensors as ``encode`` writes them, numpy's own
    numbers and arrays as plain numbers and tensors, sequences of them, and anything else as its class name alone
    (no code of the object runs)."""
    if value is None or type(value) in (bool, int, float, str) or isinstance(value, torch.Tensor):
        return encode(value, depth)
    numpy = sys.modules.get("numpy")
    if numpy is not None and type(value).__module__ == "numpy" and getattr(value, "dtype", None) is not None \
            and isinstance(value, (numpy.generic, numpy.ndarray)) and value.dtype.kind in "biuf":
        return encode(value.item() if isinstance(value, numpy.generic) else torch.from_numpy(numpy.array(value)), depth)
    if type(value) in (list, tuple) and depth < MAX_DEPTH:
        items = [encode_plain(item, depth + 1) for item in value[:MAX_ITEMS]]
        return {"type": type(value).__name__, "items": items, "length": len(value)}
    return {"type": "object", "class": _class_name(value), "repr": ""}


def encode_tensor(tensor: torch.Tensor, depth: int = 0) -> dict[str, Any]:
    """Describe a tensor: dtype, shape, device, values on the CPU and its autograd state."""
    with torch._C.DisableTorchFunction():
        return _tensor_record(tensor, depth)


def _tensor_record(tensor: torch.Tensor, depth: int) -> dict[str, Any]:
    base = torch.Tensor
    values = base.to(base.as_subclass(base.detach(tensor), base), "cpu")
    numel = base.numel(values)
    if base.is_complex(values):
        values = torch.view_as_real(base.resolve_conj(values))
    flat = base.reshape(base.to(values, torch.float64) if values.dtype != torch.bool else values, (-1,))
    data = [float(v) for v in base.tolist(flat)] if numel <= MAX_ELEMENTS else None
    is_leaf = base.is_leaf.__get__(tensor)
    grad = base.grad.__get__(tensor) if depth < 2 and (is_leaf or base.retains_grad.__get__(tensor)) else None
    grad_fn = base.grad_fn.__get__(tensor)
    record = {
        "type": "tensor",
        "class": tensor_class(tensor),
        "dtype": str(base.dtype.__get__(tensor)).removeprefix("torch."),
        "shape": list(base.shape.__get__(tensor)),
        "device": base.device.__get__(tensor).type,
        "data": data,
        "requires_grad": base.requires_grad.__get__(tensor),
        "is_leaf": is_leaf,
        "grad_fn": type(grad_fn).__name__ if grad_fn is not None else None,
        "grad": _tensor_record(grad, depth + 1) if grad is not None else None,
    }
    if data is None:
        record["summary"] = summary(flat)
    return record


def tensor_class(tensor: torch.Tensor) -> str:
    """``torch.Tensor`` or ``torch.nn.parameter.Parameter`` for exactly those classes; any subclass by its own name,
    marked as one, whatever it calls itself."""
    cls = type(tensor)
    if cls is torch.Tensor:
        return "torch.Tensor"
    if cls is torch.nn.Parameter:
        return "torch.nn.parameter.Parameter"
    return f"subclass {str(getattr(cls, '__qualname__', '?'))[:80]}"


def summary(flat: torch.Tensor) -> list[float]:
    """What stands for the values of a tensor too large to send: their sum, sum of squares, minimum and maximum
    (as float64; a bool tensor counts its True values)."""
    numbers = torch.Tensor.to(flat, torch.float64)
    if torch.Tensor.numel(numbers) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(torch.sum(numbers)), float(torch.sum(numbers * numbers)), float(torch.min(numbers)),
            float(torch.max(numbers))]


def encode_module(module: torch.nn.Module, depth: int = 0) -> dict[str, Any]:
    """Describe an ``nn.Module`` by what training changes: its ``state_dict`` (parameters and buffers),
    and whether each parameter is still a leaf that requires grad."""
    state = {str(name)[:200]: encode_tensor(tensor, depth + 1)
             for name, tensor in list(torch.nn.Module.state_dict(module, keep_vars=True).items())[:MAX_ITEMS]}
    parameters = {name: {"is_leaf": torch.Tensor.is_leaf.__get__(p), "requires_grad": torch.Tensor.requires_grad.__get__(p)}
                  for name, p in list(torch.nn.Module.named_parameters(module))[:MAX_ITEMS]}
    return {"type": "module", "class": _class_name(module), "training": bool(module.training),
            "state": {"type": "dict", "items": state}, "parameters": parameters}


def _class_name(value: Any) -> str:
    cls = type(value)
    name = f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__
    return name[:200]


def _safe_repr(value: Any) -> str:
    try:
        return _repr.repr(value)[:MAX_TEXT]
    except BaseException as error:  # noqa: BLE001 - a student's __repr__ may raise anything
        return f"<repr raised {type(error).__name__}>"
