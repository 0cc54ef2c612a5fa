"""Compare two encoded values (what a function returned, what the reference returned) with numpy.

Runs in the grader's own process, on plain data only. The first difference found is returned
as a ``Mismatch`` that says where (``[1]``, ``.grad``), what (shape, dtype, values, ...), and
both values in a form a student can read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

SHOWN_ELEMENTS = 8


@dataclass
class Mismatch:
    """The first difference between a result and the expected one."""

    where: str
    what: str
    got: str
    expected: str
    note: str = ""

    def describe(self) -> str:
        """One line: ``[0] values differ: ...``."""
        place = f"{self.where}: " if self.where else ""
        return f"{place}{self.what}" + (f" ({self.note})" if self.note else "")


def is_tensor(value: Any) -> bool:
    """Whether an encoded value is a tensor."""
    return isinstance(value, dict) and value.get("type") == "tensor"


def as_array(value: dict) -> np.ndarray | None:
    """The values of an encoded tensor as a float64 (or complex128) array, or None for a tensor too large to
    send its values (it sends a summary of them instead)."""
    if value.get("data") is None:
        return None
    numbers = np.asarray(value["data"], dtype=np.float64)
    if str(value.get("dtype", "")).startswith("complex") and numbers.size == 2 * int(np.prod(value["shape"])):
        numbers = numbers[0::2] + 1j * numbers[1::2]
    return numbers.reshape(value["shape"])


def show(value: Any) -> str:
    """A short, readable rendering of an encoded value."""
    if is_tensor(value):
        array = as_array(value)
        extras = ", requires_grad=True" if value["requires_grad"] else ""
        extras += f", grad_fn=<{value['grad_fn']}>" if value.get("grad_fn") else ""
        extras += f", device='{value['device']}'" if value["device"] != "cpu" else ""
        head = f"tensor(shape={tuple(value['shape'])}, dtype={value['dtype']}{extras})"
        if array is None:
            return head
        flat = array.reshape(-1)
        numbers = readable(flat[:SHOWN_ELEMENTS])
        numbers = numbers.rstrip("]") + (", ...]" if flat.size > SHOWN_ELEMENTS else "]")
        if array.ndim != 0:
            return f"{head} {numbers}"
        scalar = f"{complex(array):.6g}" if np.iscomplexobj(array) else f"{float(array):.6g}"
        return f"tensor({scalar}, dtype={value['dtype']}{extras})"
    if isinstance(value, dict) and value.get("type") in ("tuple", "list"):
        inner = ", ".join(show(item) for item in value["items"][:4])
        more = ", ..." if value["length"] > 4 else ""
        return f"({inner}{more})" if value["type"] == "tuple" else f"[{inner}{more}]"
    if isinstance(value, dict) and value.get("type") == "dict":
        return "{" + ", ".join(f"{k!r}: {show(v)}" for k, v in list(value["items"].items())[:4]) + "}"
    if isinstance(value, dict) and value.get("type") == "object" and isinstance(value.get("attributes"), dict):
        read = ", ".join(f"{name}={show(item)}" for name, item in list(value["attributes"].items())[:4])
        return f"{value['class'].rsplit('.', 1)[-1]}({read})"[:200]
    if isinstance(value, dict) and value.get("type") == "object":
        return f"<{value['class']}> {value.get('repr', '')}"[:200]
    if isinstance(value, dict) and value.get("type") == "module":
        return f"<{value['class']}> with state_dict " + show(value["state"])
    return repr(value)[:200]


def readable(values: np.ndarray) -> str:
    """``[0.5, -650, 2.3842e-07]``: six significant digits at most, on one line."""
    return np.array2string(values, separator=", ", max_line_width=10**6, formatter={"float_kind": lambda v: f"{v:.6g}"})


def items_of(value: Any) -> list:
    """The items of an encoded tuple or list; any other value as a list of one."""
    if isinstance(value, dict) and value.get("type") in ("tuple", "list") and isinstance(value.get("items"), list):
        return value["items"]
    return [value]


def is_whole_factor(factor: float) -> bool:
    """A whole factor or its inverse, up to 1000 (3, 2, 1/2): the only factors worth naming between two single
    numbers, which always have some ratio."""
    whole = factor if abs(factor) >= 1 else 1 / factor
    return abs(whole) <= 1000 and abs(whole - round(whole)) <= 1e-3 * abs(whole)


def numeric(value: Any) -> np.ndarray | None:
    """A number, or a tensor of one element, as an array; None for anything else.

    An integer too large for a float counts as an infinity of its sign.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return np.asarray(float(value))
        except OverflowError:
            return np.asarray(math.inf if value > 0 else -math.inf)
    if is_tensor(value) and value.get("data") is not None and int(np.prod(value["shape"])) == 1:
        return np.asarray(value["data"][0], dtype=np.float64)
    return None


def compare(got: Any, expected: Any, rtol: float, atol: float, attributes: tuple[str, ...] = (), where: str = "",
            nan_equal: bool = False) -> Mismatch | None:
    """The first difference between ``got`` and ``expected``, or None when they agree. With ``nan_equal``, a nan
    agrees with a nan in the same place (as when a wrong variant's result is compared with a student's)."""
    if is_tensor(expected):
        return _compare_tensor(got, expected, rtol, atol, attributes, where, nan_equal)
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        number = numeric(got)
        if number is None:
            return Mismatch(where, "not a number", show(got), show(expected))
        return _compare_values(number, numeric(expected), rtol, atol, where, got, expected, nan_equal)
    if isinstance(expected, dict) and expected.get("type") in ("tuple", "list"):
        if not (isinstance(got, dict) and got.get("type") in ("tuple", "list")):
            return Mismatch(where, f"not a {expected['type']}", show(got), show(expected))
        if got["length"] != expected["length"] or len(got["items"]) != len(expected["items"]):
            return Mismatch(where, f"{got['length']} items instead of {expected['length']}", show(got), show(expected))
        for index, (item, wanted) in enumerate(zip(got["items"], expected["items"])):
            mismatch = compare(item, wanted, rtol, atol, attributes, f"{where}[{index}]", nan_equal)
            if mismatch:
                return mismatch
        return None
    if isinstance(expected, dict) and expected.get("type") == "dict":
        if not (isinstance(got, dict) and got.get("type") == "dict"):
            return Mismatch(where, "not a dict", show(got), show(expected))
        if set(got["items"]) != set(expected["items"]):
            return Mismatch(where, "different keys", str(sorted(got["items"])), str(sorted(expected["items"])))
        for key, wanted in expected["items"].items():
            mismatch = compare(got["items"][key], wanted, rtol, atol, attributes, f"{where}[{key!r}]", nan_equal)
            if mismatch:
                return mismatch
        return None
    if isinstance(expected, dict) and expected.get("type") == "object" and "attributes" in expected:
        return _compare_object(got, expected, rtol, atol, where, nan_equal)
    if isinstance(expected, dict) and expected.get("type") == "module":
        if not (isinstance(got, dict) and got.get("type") == "module"):
            return Mismatch(where, "not an nn.Module", show(got), show(expected))
        return compare(got["state"], expected["state"], rtol, atol, attributes, where, nan_equal)  # its state_dict
    if got != expected:
        return Mismatch(where, "different value", show(got), show(expected))
    return None


def _compare_object(got: Any, expected: dict, rtol: float, atol: float, where: str, nan_equal: bool) -> Mismatch | None:
    """An object of the course's own class, attribute by attribute as the course declared to read them."""
    if not (isinstance(got, dict) and got.get("type") == "object" and isinstance(got.get("attributes"), dict)):
        return Mismatch(where, f"not a {expected['class'].rsplit('.', 1)[-1]}", show(got), show(expected))
    for name, wanted in expected["attributes"].items():
        if name not in got["attributes"]:
            return Mismatch(f"{where}.{name}", "was not read", show(got), show(expected))
        mismatch = compare(got["attributes"][name], wanted, rtol, atol, (), f"{where}.{name}", nan_equal)
        if mismatch:
            return mismatch
    return None


def _compare_tensor(got: Any, expected: dict, rtol: float, atol: float, attributes: tuple[str, ...], where: str,
                    nan_equal: bool = False) -> Mismatch | None:
    if not is_tensor(got):
        number, wanted = numeric(got), as_array(expected)
        right = (number is not None and wanted is not None and wanted.size == 1
                 and bool(np.isclose(number, wanted.reshape(()), rtol=rtol, atol=atol)))
        note = "the value is right, but a Python number: return the tensor (no .item() or float())" if right else ""
        return Mismatch(where, "not a tensor", show(got), show(expected), note)
    if got["class"] != "torch.Tensor" and got["class"] != expected["class"]:
        return Mismatch(where, f"a {got['class']} instead of a torch.Tensor", show(got), show(expected))
    if got["shape"] != expected["shape"]:
        return Mismatch(where, f"shape {tuple(got['shape'])} instead of {tuple(expected['shape'])}", show(got), show(expected))
    if got["dtype"] != expected["dtype"]:
        return Mismatch(where, f"dtype {got['dtype']} instead of {expected['dtype']}", show(got), show(expected))
    for attribute in attributes:
        mismatch = _compare_attribute(attribute, got, expected, rtol, atol, where)
        if mismatch:
            return mismatch
    got_values, expected_values = as_array(got), as_array(expected)
    if got_values is None and expected_values is None:  # both too large to send: compare their summaries
        got_values, expected_values = np.asarray(got["summary"], dtype=np.float64), np.asarray(expected["summary"], dtype=np.float64)
    if got_values is None or expected_values is None:
        return Mismatch(where, "values not received", show(got), show(expected))
    return _compare_values(got_values, expected_values, rtol, atol, where, got, expected, nan_equal)


def _compare_attribute(attribute: str, got: dict, expected: dict, rtol: float, atol: float, where: str) -> Mismatch | None:
    if attribute == "requires_grad" and got["requires_grad"] != expected["requires_grad"]:
        return Mismatch(where, f"requires_grad is {got['requires_grad']}, expected {expected['requires_grad']}", show(got), show(expected))
    if attribute == "grad_fn" and (got["grad_fn"] is None) != (expected["grad_fn"] is None):
        wanted = f"a grad_fn (like <{expected['grad_fn']}>)" if expected["grad_fn"] else "no grad_fn (not part of a graph)"
        return Mismatch(where, f"expected {wanted}, got {got['grad_fn'] or 'none'}", show(got), show(expected))
    if attribute == "grad":
        if (got.get("grad") is None) != (expected.get("grad") is None):
            state = "no .grad (did you call retain_grad() before backward()?)" if got.get("grad") is None else "a .grad it should not have"
            return Mismatch(f"{where}.grad", f"has {state}", show(got.get("grad")), show(expected.get("grad")))
        if expected.get("grad") is not None:
            return compare(got["grad"], expected["grad"], rtol, atol, (), f"{where}.grad")
    return None


def _compare_values(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float, where: str, got_raw: Any,
                    expected_raw: Any, nan_equal: bool = False) -> Mismatch | None:
    with np.errstate(all="ignore"):  # huge values overflow in the tolerance arithmetic: they differ, nothing more
        if np.shape(got) == np.shape(expected) and np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=nan_equal):
            return None
        if not np.all(np.isfinite(got)):
            note = "your result contains nan or inf"
        elif np.iscomplexobj(got) or np.iscomplexobj(expected):
            note = ""
        else:
            note = ratio_note(got, expected) or difference_note(got, expected, rtol, atol)
    return Mismatch(where, "values differ", show(got_raw), show(expected_raw), note)


def difference_note(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str:
    """``2 of 24, the largest at [7, 0]: got 4, expected -4`` for tensors of several values."""
    if got.size < 2:
        return ""
    with np.errstate(all="ignore"):
        wrong = ~np.isclose(got, expected, rtol=rtol, atol=atol)
        gap = np.where(wrong, np.abs(got - expected), -1.0)
    index = np.unravel_index(int(np.argmax(gap)), got.shape)
    position = ", ".join(str(int(i)) for i in index)
    return (f"{int(wrong.sum())} of {got.size}, the largest at [{position}]: "
            f"got {got[index]:.6g}, expected {expected[index]:.6g}")


def ratio_note(got: np.ndarray, expected: np.ndarray) -> str:
    """``every value is 3 times the expected one`` when the two differ by one constant factor.

    For a single number, only a whole factor or its inverse (``is_whole_factor``) is named: any two
    numbers have some ratio, and only such factors point at a mistake (a sum over N samples, a missing 2).
    A factor of 0 (a result of zeros) or one that is not finite is never named.
    """
    factor = constant_factor(got, expected)
    if factor is None:
        return ""
    if got.size > 1:
        return f"every value is {factor:.4g} times the expected one"
    return f"{factor:.4g} times the expected value" if is_whole_factor(factor) else ""


def constant_factor(got: np.ndarray, expected: np.ndarray) -> float | None:
    """The one factor k (not 0, not 1, finite) with ``got == k * expected`` everywhere, or None."""
    if np.iscomplexobj(got) or np.iscomplexobj(expected):
        return None
    with np.errstate(all="ignore"):
        mask = np.abs(expected) > 1e-12
        if not mask.any() or not np.all(np.isfinite(got)) or not np.all(np.isfinite(expected)):
            return None
        ratios = got[mask] / expected[mask]
        factor = float(np.median(ratios))
        if not math.isfinite(factor) or abs(factor) < 1e-9 or abs(factor - 1) <= 1e-3:
            return None
        if not np.allclose(ratios, factor, rtol=1e-3) or not np.allclose(got[~mask], 0, atol=1e-9):
            return None
    return factor


def nearest_slope(got: np.ndarray, central: np.ndarray, forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Per element, the finite difference closest to ``got`` among the values between the one-sided
    differences: at a kink (a ReLU or a clamp crossing between x - h and x + h) either slope is right,
    elsewhere the three agree to within the step's error."""
    low = np.minimum(np.minimum(forward, backward), central)
    high = np.maximum(np.maximum(forward, backward), central)
    with np.errstate(all="ignore"):
        return np.where(np.isfinite(got), np.clip(got, low, high), central)


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """``|got - expected| / max(|got| + |expected|, tiny)`` over all elements (Euclidean norms); inf when
    either holds a nan or an infinity."""
    with np.errstate(all="ignore"):
        if not (np.all(np.isfinite(got)) and np.all(np.isfinite(expected))):
            return math.inf
        scale = max(float(np.linalg.norm(got) + np.linalg.norm(expected)), 1e-300)
        return float(np.linalg.norm(got - expected)) / scale
