"""Objects of a course's own class (a student's ``Value``) are read through the declared attributes or the
course's reader, encoded as plain numbers and tensors, and compared attribute by attribute; whatever the
object does on being read (a property that raises, a ``__getattr__`` answering junk) is said, never trusted."""

from __future__ import annotations

import pytest
import torch

from grader import compare, records
from grader.worker import encoding
from grader.worker.reading import Reading, Unreadable

READ = Reading(("data", "grad"))


class Node:
    def __init__(self, data, grad=0.0):
        self.data, self.grad = data, grad


def _encoded(value, reading=READ):
    return records.value(encoding.encode(value, reading=reading))


def test_an_object_is_its_declared_attributes_and_compares_by_them():
    got, expected = _encoded([Node(1.0, 2.0), Node(3.0)]), _encoded([Node(1.0, 2.5), Node(3.0)])
    assert got["items"][0] == {"type": "object", "class": f"{__name__}.Node", "repr": "",
                               "attributes": {"data": 1.0, "grad": 2.0}}
    mismatch = compare.compare(got, expected, 1e-4, 1e-6)
    assert mismatch.where == "[0].grad" and mismatch.what == "values differ"
    assert compare.show(got["items"][0]) == "Node(data=1.0, grad=2.0)"
    assert compare.compare(_encoded({"a": Node(1.0, torch.tensor([1.0, 2.0]))}),
                           _encoded({"a": Node(1.0, torch.tensor([1.0, 2.0]))}), 1e-4, 1e-6) is None


def test_a_property_that_raises_is_unreadable_and_named():
    class Raising:
        @property
        def data(self):
            raise KeyboardInterrupt("no")

    with pytest.raises(Unreadable, match=r"reading \.data raised KeyboardInterrupt: no"):
        encoding.encode(Raising(), reading=READ)


def test_junk_from_getattr_is_its_class_alone_and_is_not_a_number():
    class Junk:
        def __getattr__(self, name):
            return self

        def __repr__(self):
            raise AssertionError("repr is never asked")

        def __float__(self):
            return 1.0

    got, expected = _encoded(Junk()), _encoded(Node(1.0, 1.0))
    assert got["attributes"]["data"] == {"type": "object", "class": f"{__name__}.{Junk.__qualname__}", "repr": ""}
    mismatch = compare.compare(got, expected, 1e-4, 1e-6)
    assert mismatch.where == ".data" and mismatch.what == "not a number"


def test_a_float_subclass_or_a_plain_object_is_not_a_value():
    class Sneaky(float):
        pass

    mismatch = compare.compare(_encoded(Node(Sneaky(1.0))), _encoded(Node(1.0)), 1e-4, 1e-6)
    assert mismatch.where == ".data" and mismatch.what == "not a number"
    mismatch = compare.compare(_encoded(3.0), _encoded(Node(3.0)), 1e-4, 1e-6)
    assert mismatch.what == "not a Node"


def test_a_course_reader_returns_named_values_or_the_object_is_unreadable():
    reader = Reading(reader=lambda node: {"value": node.data})
    assert _encoded(Node(2.0), reader)["attributes"] == {"value": 2.0}
    with pytest.raises(Unreadable, match="not a dict of named values"):
        encoding.encode(Node(2.0), reading=Reading(reader=lambda node: node.data))
    with pytest.raises(Unreadable, match="reading it raised AttributeError"):
        encoding.encode(object(), reading=reader)


def test_what_is_read_is_bounded():
    long = _encoded(Node(list(range(5_000))))
    assert long["attributes"]["data"]["length"] == 5_000 and len(long["attributes"]["data"]["items"]) == encoding.MAX_ITEMS
    nested: list = [1.0]
    for _ in range(100):
        nested = [nested]
    deep = _encoded(Node(nested))  # cut at the encoder's depth, and still a record the grader reads
    assert deep["type"] == "object"


def test_numpys_own_numbers_and_arrays_read_as_numbers_and_tensors():
    numpy = pytest.importorskip("numpy")
    got = _encoded(Node(numpy.float64(0.5), numpy.array([1.0, 2.0])))
    assert got["attributes"]["data"] == 0.5 and got["attributes"]["grad"]["type"] == "tensor"
    assert compare.compare(got, _encoded(Node(0.5, torch.tensor([1.0, 2.0], dtype=torch.float64))), 1e-4, 1e-6) is None
    texts = _encoded(Node(numpy.array(["a"]), numpy.array([object()])))["attributes"]
    assert texts["data"]["type"] == texts["grad"]["type"] == "object"  # not numbers: the class name alone
