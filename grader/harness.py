"""Run probes (calls of one function on one input case) and record what happened, as plain data.

Runs inside the process that executes the code, student's or reference's: the same harness
observes both, so both are measured the same way. Nothing here judges: the grader compares
the observations in its own process.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from grader import cases, encoding
from grader.loader import SubmissionFinder, describe, student_traceback

OUTPUT_LIMIT = 4_000
DIFFERENTIABLE_EPS = 1e-4
FINITE_DIFFERENCE_EPS = 1e-6


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int = OUTPUT_LIMIT):
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def getvalue(self) -> str:
        """What was kept, with a note of how much was dropped."""
        text = "".join(self.parts)
        return text + (f"\n... ({self.dropped:,} more characters not shown)" if self.dropped else "")


@contextlib.contextmanager
def captured_output() -> Iterator[CappedText]:
    """Send ``print`` output of the code under test to a capped buffer."""
    buffer = CappedText()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = buffer
    try:
        yield buffer
    finally:
        sys.stdout, sys.stderr = saved


def _refuse_autograd(*args, **kwargs):
    raise RuntimeError("autograd is switched off for this check: compute the gradient by the chain rule, by hand")


@contextlib.contextmanager
def autograd_switched_off() -> Iterator[None]:
    """No graph is built and ``backward()`` / ``torch.autograd.grad`` raise."""
    saved = torch.Tensor.backward, torch.autograd.backward, torch.autograd.grad
    torch.Tensor.backward = torch.autograd.backward = torch.autograd.grad = _refuse_autograd
    try:
        with torch.no_grad():
            yield
    finally:
        torch.Tensor.backward, torch.autograd.backward, torch.autograd.grad = saved


class Resolver:
    """Finds the contract functions of one source (the student's, the reference or a wrong variant)."""

    def __init__(self, finder: SubmissionFinder, functions: dict[str, list[str]]):
        self.finder, self.functions = finder, functions

    def get(self, name: str, use: list[str] | None = None) -> Any:
        """The object behind a contract name (or the ``[module, attribute]`` given); LookupError with a reason."""
        module_name, attribute = use or self.functions[name]
        module = sys.modules.get(module_name) or __import__(module_name)
        if not hasattr(module, attribute):
            raise LookupError(f"{attribute} is not defined in {module_name}")
        return getattr(module, attribute)


def run_probe(probe: dict, resolver: Resolver, seed: int, trusted: bool) -> dict:
    """Run one probe and return its observation."""
    try:
        target = resolver.get(probe["function"], probe.get("use"))
    except BaseException as error:  # noqa: BLE001
        return {"status": "missing", "error": _error(error, resolver.finder)}
    kind = probe["kind"]
    if kind == "dataset":
        return _observe_dataset(target, resolver.finder)
    calls = cases.build(probe["case"], seed)
    if kind == "differentiable":
        return {"status": "ok", "calls": [_observe_differentiable(target, call, resolver.finder) for call in calls]}
    switched_off = kind == "no-autograd"
    observed = [_observe_call(target, call, resolver.finder, switched_off) for call in calls]
    if trusted and probe.get("fd_target"):
        for record, call in zip(observed, calls):
            record["finite_difference"] = finite_difference_target(probe["fd_target"], call)
    return {"status": "ok", "calls": observed}


def _error(error: BaseException, finder: SubmissionFinder) -> dict:
    return {"type": type(error).__name__, "message": describe(error), "traceback": student_traceback(error, finder)}


def _encode_args(args: list, kwargs: dict) -> dict:
    return {"args": [encoding.encode(arg) for arg in args], "kwargs": {k: encoding.encode(v) for k, v in kwargs.items()}}


def _call(function: Callable, call: cases.Call, finder: SubmissionFinder, switched_off: bool = False) -> dict:
    """Call, capturing output, time and any exception (including SystemExit and KeyboardInterrupt)."""
    record: dict[str, Any] = {"label": call.label}
    started = time.perf_counter()
    with captured_output() as output, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            context = autograd_switched_off() if switched_off else contextlib.nullcontext()
            with context:
                record["value"] = function(*call.args, **call.kwargs)
        except BaseException as error:  # noqa: BLE001 - everything a student raises is feedback
            record["error"] = _error(error, finder)
    record["seconds"] = time.perf_counter() - started
    record["output"] = output.getvalue()
    return record


def _observe_call(function: Callable, call: cases.Call, finder: SubmissionFinder, switched_off: bool) -> dict:
    before = _encode_args(call.args, call.kwargs)
    dataset_before = _dataset_snapshot(call.dataset)
    record = _call(function, call, finder, switched_off)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record["inputs"] = before
        record["inputs_after"] = _encode_args(call.args, call.kwargs)
        if "value" in record:
            value = record.pop("value")
            record["identity"] = _identity(value, call.args)
            record["result"] = encoding.encode(value)
        if dataset_before is not None:
            record["data_unchanged"] = all(torch.equal(a, b) for a, b in zip(dataset_before, _dataset_snapshot(call.dataset)))
    return record


def _identity(value: Any, args: list) -> list:
    """For each top-level returned item: the index of the argument it *is*, or None."""
    items = value if type(value) in (tuple, list) else [value]
    return [next((i for i, arg in enumerate(args) if item is arg), None) for item in items]


def _dataset_snapshot(dataset) -> tuple | None:
    if dataset is None:
        return None
    return dataset.X.clone(), dataset.y.clone()


def _observe_dataset(cls: Any, finder: SubmissionFinder) -> dict:
    """Instantiate the dataset class and read its length, string and every item."""
    record = _call(cls, cases.Call([]), finder)
    if "error" in record:
        return {"status": "ok", "calls": [record]}
    dataset = record.pop("value")
    observed: dict[str, Any] = {}
    for field, read in (("len", lambda: len(dataset)), ("str", lambda: str(dataset)), ("items", lambda: _items(dataset))):
        probe = _call(read, cases.Call([]), finder)
        observed[field] = {"error": probe["error"]} if "error" in probe else {"result": encoding.encode(probe["value"])}
    record["dataset"] = observed
    return {"status": "ok", "calls": [record]}


def _items(dataset) -> dict:
    count = len(dataset)
    items = [dataset[i] for i in range(min(count, 1000))]
    if not all(isinstance(item, dict) and {"input", "target"} <= set(item) for item in items):
        keys = sorted(items[0]) if items and isinstance(items[0], dict) else type(items[0]).__name__ if items else "nothing"
        raise TypeError(f"dataset[idx] must be {{'input': ..., 'target': ...}}; got {keys}")
    return {"input": torch.stack([item["input"] for item in items]), "target": torch.stack([item["target"] for item in items])}


def _observe_differentiable(function: Callable, call: cases.Call, finder: SubmissionFinder) -> dict:
    """Autograd's gradient of a weighted sum of the outputs against central differences of the same function."""
    args = [a.detach().double().requires_grad_(True) if _is_float_tensor(a) else a for a in call.args]
    inputs = [a for a in args if _is_float_tensor(a)]

    def weighted_sum(values: list) -> torch.Tensor:
        out = function(*values)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"returned {type(out).__name__}, not a tensor")
        weights = torch.linspace(0.5, 1.5, out.numel(), dtype=torch.float64).reshape(out.shape)
        return (torch.Tensor.as_subclass(out, torch.Tensor).double() * weights).sum()

    def measure() -> dict:
        total = weighted_sum(args)
        if not total.requires_grad:
            return {"graph": "broken"}
        grads = torch.autograd.grad(total, inputs, allow_unused=True)
        differences = []
        with torch.no_grad():
            for index, tensor in enumerate(inputs):
                flat = torch.zeros(tensor.numel(), dtype=torch.float64)
                for j in range(tensor.numel()):
                    shifted = []
                    for sign in (1.0, -1.0):
                        values = [a.detach().clone() if _is_float_tensor(a) else a for a in args]
                        position = [k for k, a in enumerate(args) if _is_float_tensor(a)][index]
                        values[position].view(-1)[j] += sign * DIFFERENTIABLE_EPS
                        shifted.append(float(weighted_sum(values)))
                    flat[j] = (shifted[0] - shifted[1]) / (2 * DIFFERENTIABLE_EPS)
                differences.append(flat.reshape(tensor.shape))
        return {"graph": "ok", "autograd": [encoding.encode(g if g is not None else torch.zeros_like(t)) for g, t in zip(grads, inputs)],
                "finite_difference": [encoding.encode(d) for d in differences]}

    record = _call(measure, cases.Call([]), finder)
    if "value" in record:
        record["result"] = record.pop("value")
    record["inputs"] = _encode_args(call.args, {})
    return record


def _is_float_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def finite_difference_target(target: str, call: cases.Call) -> Any:
    """Central differences, in float64, of the quantity the function under test must differentiate."""
    if target == "sigmoid":
        (z,) = call.args
        z = z.double()
        return encoding.encode((torch.sigmoid(z + FINITE_DIFFERENCE_EPS) - torch.sigmoid(z - FINITE_DIFFERENCE_EPS))
                               / (2 * FINITE_DIFFERENCE_EPS))
    if target == "mse_of_sigmoid_neuron":
        W, b, X, y = (a.double() for a in call.args)

        def loss(W_, b_):
            return torch.mean((torch.sigmoid(X @ W_ + b_) - y) ** 2)

        grads = []
        for index in range(2):
            params = [W.clone(), b.clone()]
            flat = torch.zeros(params[index].numel(), dtype=torch.float64)
            for j in range(flat.numel()):
                up, down = [p.clone() for p in params], [p.clone() for p in params]
                up[index].view(-1)[j] += FINITE_DIFFERENCE_EPS
                down[index].view(-1)[j] -= FINITE_DIFFERENCE_EPS
                flat[j] = (loss(*up) - loss(*down)) / (2 * FINITE_DIFFERENCE_EPS)
            grads.append(flat.reshape(params[index].shape))
        return encoding.encode(tuple(grads))
    raise LookupError(f"unknown finite-difference target {target!r}")
