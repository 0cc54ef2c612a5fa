"""Correct solutions written differently pass; classic mistakes are caught with the right diagnosis."""

from __future__ import annotations

import pytest

from examples.variants import CORRECT_VARIANTS, WRONG_VARIANTS
from tests.conftest import by_function


@pytest.mark.parametrize("name", sorted(CORRECT_VARIANTS))
def test_correct_variant_written_differently_passes(name, session, make_submission):
    result = session.grade(make_submission(CORRECT_VARIANTS[name]))
    failing = [f"{t.name}: {t.message}" for t in result.tests if t.status != "pass"]
    assert not failing and result.score == result.max_score


@pytest.mark.parametrize("name", sorted(WRONG_VARIANTS))
def test_classic_mistake_is_caught_with_its_diagnosis(name, session, make_submission):
    changes, function, check, mistake = WRONG_VARIANTS[name]
    result = session.grade(make_submission(changes))
    caught = [t for t in by_function(result, function) if t.check == check]
    assert caught and caught[0].status != "pass", f"{function} {check} passed"
    assert caught[0].mistake == mistake, caught[0].message
    assert caught[0].score == 0


def test_a_function_using_a_failing_one_says_so(session, make_submission):
    changes, *_ = WRONG_VARIANTS["sigmoid derivative"]
    result = session.grade(make_submission(changes))
    gradient = by_function(result, "gradient")[0]
    assert gradient.status == "fail"
    assert any("uses your sigmoid_derivative, which fails its own checks" in line for line in gradient.details)
    assert all(t.status == "pass" for t in by_function(result, "model") + by_function(result, "backward"))


def test_timeout_costs_only_its_function(session, make_submission):
    changes, *_ = WRONG_VARIANTS["endless loop"]
    result = session.grade(make_submission(changes))
    assert all(t.status == "pass" for t in result.tests if t.function != "detached")
    (test,) = by_function(result, "detached")
    assert test.status == "error" and "did not finish within" in test.message


def test_a_difference_is_pinpointed_or_named_as_a_factor(session, make_submission):
    typo, *_ = WRONG_VARIANTS["lecture typo"]
    (dataset,) = by_function(session.grade(make_submission(typo)), "SimpleDataset")
    assert "dataset[idx]['input']: values differ (1 of 24, the largest at [7, 0]: got 4, expected -4)" in dataset.message
    summed, *_ = WRONG_VARIANTS["loss sum"]
    loss = by_function(session.grade(make_submission(summed)), "loss_fn")[0]
    assert "values differ (12 times the expected value)" in loss.message


def test_returned_items_are_named_as_the_contract_names_them(session, make_submission):
    never_zeroed, *_ = WRONG_VARIANTS["never zeroed"]
    (trajectory, _) = by_function(session.grade(make_submission(never_zeroed)), "learn_autograd")
    assert trajectory.status == "fail" and trajectory.message.startswith("learn_autograd(max_epochs=")
    assert "): W: values differ (" in trajectory.message
    factor, *_ = WRONG_VARIANTS["gradient factor 2"]
    returned, finite, *_ = by_function(session.grade(make_submission(factor)), "gradient")
    assert "W_grad: values differ (every value is 0.5 times the expected one)" in returned.message
    assert finite.check == "finite-difference" and "W_grad differs from central finite differences" in finite.message
