"""Run probes (calls of one function on one input case) and record what happened, as plain data.

Runs inside the process that executes the code, student's or reference's: the same harness
observes both, so both are measured the same way. Nothing here judges: the grader compares
the observations in its own process.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from grader.authoring import Call
from grader.protocol import UNREADABLE_RESULT, Probe, ProbeKind
from grader.worker import cases, encoding, gradients, graph, object_graph, transforms
from grader.worker.cases import CourseFiles
from grader.worker.loader import SubmissionFinder, describe, student_traceback
from grader.worker.reading import Reading, Unreadable

OUTPUT_LIMIT = 4_000
DIFFERENTIABLE_EPS = 1e-4


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
    """No graph is built, ``backward()`` / ``torch.autograd.grad`` raise, and forward-mode autograd (dual tensors,
    what ``torch.func.jvp`` and ``jacfwd`` run on) is refused too."""
    forward = torch.autograd.forward_ad
    saved = (torch.Tensor.backward, torch.autograd.backward, torch.autograd.grad, forward.make_dual,
             forward.enter_dual_level)
    torch.Tensor.backward = torch.autograd.backward = torch.autograd.grad = _refuse_autograd
    forward.make_dual = forward.enter_dual_level = _refuse_autograd
    forward_enabled = torch._C._is_fwd_grad_enabled()
    torch._C._set_fwd_grad_enabled(False)
    try:
        with torch.no_grad():
            yield
    finally:
        torch._C._set_fwd_grad_enabled(forward_enabled)
        (torch.Tensor.backward, torch.autograd.backward, torch.autograd.grad, forward.make_dual,
         forward.enter_dual_level) = saved


class Resolver:
    """Finds the contract functions of one source (the student's, the reference or a wrong variant)."""

    def __init__(self, finder: SubmissionFinder, functions: dict[str, tuple[str, str]]):
        self.finder, self.functions = finder, functions

    def get(self, name: str, use: tuple[str, str] | None = None) -> Any:
        """The callable behind a contract name (or the ``(module, attribute)`` given); LookupError with a reason.

        A ``torch.autograd.Function`` subclass is called the way PyTorch means it: through ``.apply``.
        """
        module_name, attribute = use or self.functions[name]
        module = sys.modules.get(module_name) or __import__(module_name)
        if not hasattr(module, attribute):
            raise LookupError(f"{attribute} is not defined in {module_name}")
        found = getattr(module, attribute)
        if isinstance(found, type) and issubclass(found, torch.autograd.Function):
            return found.apply
        return found


def run_probe(probe: Probe, resolver: Resolver, course: CourseFiles, seed: int, trusted: bool) -> dict:
    """Run one probe and return its observation."""
    try:
        target = resolver.get(probe.function, probe.use)
    except BaseException as error:  # noqa: BLE001
        return {"status": "missing", "error": _error(error, resolver.finder)}
    seed_global_generators(seed, probe.case)
    if probe.kind == ProbeKind.DATASET:
        return _observe_dataset(target, resolver.finder)
    if course.takes_tested(probe.case):  # built with the code under test: what it raises is its own
        built = _call(lambda: course.build(probe.case, seed, target), Call([]), resolver.finder)
        if "error" in built:
            error = built["error"]
            error["message"] = f"building the inputs of case {probe.case} with it raised {error['message']}"
            return {"status": "missing", "error": error}
        calls = built["value"]
    else:
        calls = course.build(probe.case, seed)
    calls = calls[:probe.calls] if probe.calls is not None else calls
    seed_global_generators(seed, probe.case)  # the same draws whatever building the inputs took
    if probe.transform:  # the reference on calls transformed as a classic slip would
        calls = transforms.transformed(calls, probe.transform)
        if calls is None:
            return {"status": "not-applicable", "transform": probe.transform}
    if probe.kind == ProbeKind.DIFFERENTIABLE:
        return {"status": "ok", "calls": [_observe_differentiable(target, call, resolver.finder) for call in calls]}
    if probe.kind == ProbeKind.BACKWARD:
        observed = [_observe_backward(target, call, resolver.finder) for call in calls]
        if trusted:
            for record, call in zip(observed, calls):
                record["finite_difference"] = _forward_differences(target, call)
        return {"status": "ok", "calls": observed}
    switched_off = probe.kind == ProbeKind.NO_AUTOGRAD
    read = _reading(probe, course)
    observed = [_observe_call(target, call, resolver.finder, switched_off, read, probe.graph) for call in calls]
    if trusted and probe.fd_target:
        scalar = course.target(probe.fd_target)
        for record, call in zip(observed, calls):
            record["finite_difference"] = target_differences(scalar, call, list(probe.wrt))
    return {"status": "ok", "calls": observed, **({"transform": probe.transform} if probe.transform else {})}


def _reading(probe: Probe, course: CourseFiles) -> Reading | None:
    """How the probe's function declares its returned objects are read, if it does."""
    if probe.reader:
        return Reading(reader=course.reader(probe.reader))
    return Reading(probe.attributes) if probe.attributes else None


def seed_global_generators(seed: int, case: str) -> None:
    """Seed the generators code may draw from on its own (torch's, Python's, numpy's when loaded) from the
    run's seed and the case, so that the reference and the student draw the same numbers."""
    value = int(cases.generator_for(seed, case).initial_seed()) % 2**32
    if _only_the_cpu():
        torch.default_generator.manual_seed(value)
    else:
        torch.manual_seed(value)
    random.seed(value)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(value)


@functools.cache
def _only_the_cpu() -> bool:
    """Whether the CPU's is the only generator of torch's that code can draw from: CUDA hidden (a run on the CPU)
    and no other accelerator available. ``torch.manual_seed`` then seeds nothing more, but still queues a seed for
    each accelerator torch knows, formatting a stack trace each time: a quarter of a small probe's time."""
    others = [getattr(torch, name, None) for name in ("xpu", "mtia")]  # not in every torch this runs with
    return (os.environ.get("CUDA_VISIBLE_DEVICES") == "" and not torch.backends.mps.is_available()
            and not any(other is not None and other.is_available() for other in others))


def _error(error: BaseException, finder: SubmissionFinder) -> dict:
    return {"type": type(error).__name__, "message": describe(error), "traceback": student_traceback(error, finder)}


def _encode_args(args: list, kwargs: dict, read: Reading | None = None) -> dict:
    """The call's arguments encoded; objects of the course's class read as it declares (as what they return is)."""
    return {"args": [_argument(arg, read) for arg in args], "kwargs": {k: _argument(v, read) for k, v in kwargs.items()}}


def _argument(value: Any, read: Reading | None) -> Any:
    """One argument encoded, read as the course declares where it can be (else described as any object: an
    argument whose read raises is the call's to report, not this description's)."""
    if read is not None:
        try:
            return encoding.encode(value, reading=read)
        except Exception:  # noqa: BLE001 - the student's object: described without its attributes
            pass
    return encoding.encode(value)


def _call(function: Callable, call: Call, finder: SubmissionFinder, switched_off: bool = False) -> dict:
    """Call, capturing output, time and any exception (including SystemExit and KeyboardInterrupt)."""
    record: dict[str, Any] = {"label": call.label, **({"ran": True} if call.run else {})}
    started = time.perf_counter()
    with captured_output() as output, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            context = autograd_switched_off() if switched_off else contextlib.nullcontext()
            with context:
                record["value"] = (call.run or function)(*call.args, **call.kwargs)
        except BaseException as error:  # noqa: BLE001 - everything a student raises is feedback
            record["error"] = _error(error, finder)
    record["seconds"] = time.perf_counter() - started
    record["output"] = output.getvalue()
    return record


def _observe_call(function: Callable, call: Call, finder: SubmissionFinder, switched_off: bool,
                  read: Reading | None = None, graph_of: tuple[str, ...] = ()) -> dict:
    before = _encode_args(call.args, call.kwargs, read)
    watched = {name: _tensors_of(value) for name, value in call.watch.items()}
    parameters = [_parameter_ids(arg) for arg in call.args]
    record = _call(function, call, finder, switched_off)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record["inputs"] = before
        record["inputs_after"] = _encode_args(call.args, call.kwargs, read)
        record["parameters_kept"] = [ids is None or ids == _parameter_ids(arg) for ids, arg in zip(parameters, call.args)]
        if "value" in record:
            value = record.pop("value")
            result, unreadable = _encoded(value, read)
            if unreadable:
                record["error"] = unreadable
            else:
                record["identity"] = _identity(value, call.args)
                record["result"] = result
                described = (object_graph.describe(value, *graph_of, read) if graph_of  # a student's own engine
                             else graph.describe_returned(value, call.args))  # a training's parameters: still leaves?
                if described:
                    record["graph"] = described
        record["changed"] = [name for name, tensors in watched.items() if not _same(tensors, _tensors_of(call.watch[name]))]
    return record


def _encoded(value: Any, read: Reading | None = None) -> tuple[Any, dict | None]:
    """The encoding of what the code returned, or the error record of a value the encoder cannot read (a sparse
    or meta tensor, an object whose attributes raise): the student's, said as such, never the grader's."""
    try:
        return encoding.encode(value, reading=read), None
    except Unreadable as error:
        return None, {"type": UNREADABLE_RESULT, "message": f"returned an object the grader cannot read: {error}",
                      "traceback": ""}
    except Exception as error:  # noqa: BLE001 - any value a student returns
        message = f"returned a value the grader cannot read ({type(error).__name__}: {str(error)[:200]})"
        return None, {"type": UNREADABLE_RESULT, "message": message, "traceback": ""}


def _identity(value: Any, args: list) -> list:
    """For each top-level returned item: the index of the argument it *is*, or None."""
    items = value if type(value) in (tuple, list) else [value]
    return [next((i for i, arg in enumerate(args) if item is arg), None) for item in items]


def _parameter_ids(value: Any) -> list[int] | None:
    """The identities of an ``nn.Module``'s parameters (None for anything else)."""
    if not isinstance(value, torch.nn.Module):
        return None
    return [id(parameter) for parameter in torch.nn.Module.parameters(value)]


def _tensors_of(value: Any, depth: int = 0) -> list[torch.Tensor]:
    """Copies of the tensors an object holds: itself, its items, its attributes (two levels deep)."""
    if isinstance(value, torch.Tensor):
        return [torch.Tensor.clone(torch.Tensor.detach(value))]
    if depth > 2:
        return []
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, dict):
        items = list(value.values())
    else:
        items = list(getattr(value, "__dict__", {}).values())
    return [tensor for item in items for tensor in _tensors_of(item, depth + 1)]


def _same(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return len(before) == len(after) and all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(before, after))


def _observe_dataset(cls: Any, finder: SubmissionFinder) -> dict:
    """Instantiate the dataset class and read its length, string and every item."""
    record = _call(cls, Call([]), finder)
    if "error" in record:
        return {"status": "ok", "calls": [record]}
    dataset = record.pop("value")
    observed: dict[str, Any] = {}
    for field, read in (("len", lambda: len(dataset)), ("str", lambda: str(dataset)), ("items", lambda: _items(dataset))):
        probe = _call(read, Call([]), finder)
        result, unreadable = _encoded(probe["value"]) if "error" not in probe else (None, probe["error"])
        observed[field] = {"error": unreadable} if unreadable else {"result": result}
    record["dataset"] = observed
    return {"status": "ok", "calls": [record]}


def _items(dataset) -> Any:
    """Every item (the first 1,000), stacked along a first dimension where the items allow it:
    tensors into one tensor, dicts and tuples of tensors field by field."""
    items = [dataset[i] for i in range(min(len(dataset), 1000))]
    return _stacked(items)


def _stacked(items: list) -> Any:
    if items and all(isinstance(item, torch.Tensor) for item in items):
        try:
            return torch.stack(items)
        except RuntimeError:
            return items
    if items and all(type(item) is dict and item.keys() == items[0].keys() for item in items):
        return {key: _stacked([item[key] for item in items]) for key in items[0]}
    if items and all(type(item) is tuple and len(item) == len(items[0]) for item in items):
        return tuple(_stacked([item[i] for item in items]) for i in range(len(items[0])))
    return items


def _observe_differentiable(function: Callable, call: Call, finder: SubmissionFinder) -> dict:
    """Autograd's gradient of a weighted sum of the outputs against finite differences of the same function,
    and the graph of the outputs (where it is cut, by which operation)."""
    args = gradients.as_float64(call.args)
    positions = [i for i, a in enumerate(args) if gradients.is_float_tensor(a)]
    described: dict[str, Any] = {}

    def scalar(values: list) -> torch.Tensor:
        return gradients.weighted_sum(function(*values, **call.kwargs))

    def measure() -> dict:
        leaves = [a.requires_grad_(True) if i in positions else a for i, a in enumerate(args)]
        with graph.CutRecorder() as recorder:
            output = function(*leaves, **call.kwargs)
        described["graph"] = graph.describe(output, leaves, positions, recorder.cuts)
        if not isinstance(output, torch.Tensor):  # a number or an array: nothing autograd can flow through
            return {"graph": "not-a-tensor", "returned": type(output).__name__}
        total = gradients.weighted_sum(output)
        if not total.requires_grad:
            return {"graph": "broken"}
        inputs = [leaves[i] for i in positions]
        grads = torch.autograd.grad(total, inputs, allow_unused=True)
        autograd = encoding.encode(tuple(g if g is not None else torch.zeros_like(t) for g, t in zip(grads, inputs)))
        plain = [a.detach() if gradients.is_float_tensor(a) else a for a in leaves]
        return {"graph": "ok", "autograd": autograd, **gradients.finite_differences(scalar, plain, positions, DIFFERENTIABLE_EPS)}

    record = _call(measure, Call([], label=call.label), finder)
    if "value" in record:
        record["result"] = record.pop("value")
    record["inputs"] = _encode_args(call.args, call.kwargs)
    if described.get("graph"):
        record["graph"] = described["graph"]
    return record


def _observe_backward(function: Callable, call: Call, finder: SubmissionFinder) -> dict:
    """The gradients a custom ``backward`` gives for a weighted sum of the forward's output, in float64, and
    the graph of that output."""
    args = gradients.as_float64(call.args)
    positions = [i for i, a in enumerate(args) if gradients.is_float_tensor(a)]
    described: dict[str, Any] = {}

    def measure() -> tuple:
        leaves = [a.requires_grad_(True) if i in positions else a for i, a in enumerate(args)]
        output = function(*leaves, **call.kwargs)
        described["graph"] = graph.describe(output, leaves, positions)
        total = gradients.weighted_sum(output)
        if not total.requires_grad:
            raise RuntimeError("the output does not require grad: forward's result is cut from the graph")
        return torch.autograd.grad(total, [leaves[i] for i in positions], allow_unused=True)

    record = _call(measure, Call([], label=call.label), finder)
    if "value" in record:
        record["result"] = encoding.encode(tuple(record.pop("value")))
    record["inputs"] = _encode_args(call.args, call.kwargs)
    if described.get("graph"):
        record["graph"] = described["graph"]
    return record


def _forward_differences(function: Callable, call: Call) -> dict:
    """Finite differences of the (reference's) forward, weighted as in ``_observe_backward``."""
    args = gradients.as_float64(call.args)
    positions = [i for i, a in enumerate(args) if gradients.is_float_tensor(a)]
    return gradients.finite_differences(lambda values: gradients.weighted_sum(function(*values, **call.kwargs)), args, positions)


def target_differences(scalar: Callable, call: Call, wrt: list[int]) -> dict:
    """Finite differences, in float64, of the course's scalar target with respect to the arguments ``wrt``."""
    args = gradients.as_float64(call.args)
    return gradients.finite_differences(lambda values: scalar(*values, **call.kwargs), args, wrt)
