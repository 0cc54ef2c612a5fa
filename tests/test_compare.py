"""How differences are described: factors that point at a mistake, where values differ, readable tensors."""

from __future__ import annotations

import numpy as np

from grader.compare import compare, ratio_note, show


def _tensor(values, dtype="float32") -> dict:
    array = np.asarray(values, dtype=np.float64)
    return {"type": "tensor", "class": "torch.Tensor", "shape": list(array.shape), "dtype": dtype,
            "requires_grad": False, "grad_fn": None, "device": "cpu", "data": array.reshape(-1).tolist()}


def test_a_whole_factor_is_named_for_one_number_any_constant_factor_for_many():
    assert ratio_note(np.asarray(2.16), np.asarray(0.18)) == "12 times the expected value"
    assert ratio_note(np.asarray(1.5), np.asarray(3.0)) == "0.5 times the expected value"
    assert ratio_note(np.asarray(-2.0), np.asarray(3.0)) == ""
    assert ratio_note(np.array([0.3, 0.6]), np.array([0.2, 0.4])) == "every value is 1.5 times the expected one"
    assert ratio_note(np.array([0.3, 0.7]), np.array([0.2, 0.4])) == ""


def test_a_difference_says_how_many_values_and_where_the_largest_is():
    expected = np.arange(24.0).reshape(12, 2)
    got = expected.copy()
    got[7, 0], got[2, 1] = 4.0, 5.5
    mismatch = compare(_tensor(got), _tensor(expected), rtol=1e-4, atol=1e-6, where="X")
    assert mismatch.describe() == "X: values differ (2 of 24, the largest at [7, 0]: got 4, expected 14)"


def test_tensors_print_on_one_line_with_plain_numbers():
    shown = show(_tensor([-0.56, -650.0, 2.384e-07, 0.1586, 1, 2, 3, 4, 5]))
    assert shown == "tensor(shape=(9,), dtype=float32) [-0.56, -650, 2.384e-07, 0.1586, 1, 2, 3, 4, ...]"
