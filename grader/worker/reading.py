"""Read an object of a course's own class (a student's ``Value``) through what the course declares: named
attributes, or a reader function of its ``inputs.py`` (runs where the code under test runs).

What an object holds is the student's: an attribute may be a property that raises, a ``__getattr__`` may
answer anything. A read that raises becomes ``Unreadable``, naming the attribute; what is read is encoded
by ``grader.worker.encoding`` as plain numbers, tensors and sequences of them only, so nothing of the
object's own code (its ``__repr__``, ``__float__``, ``__eq__``) decides how it compares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_READ = 100  # the most named values one object may give


class Unreadable(ValueError):
    """Reading an object raised, or its reader returned something else than named values."""


@dataclass(frozen=True)
class Reading:
    """How to read an object: its ``attributes``, or ``reader(obj)``, which returns ``{name: value}``."""

    attributes: tuple[str, ...] = ()
    reader: Callable[[Any], Any] | None = None

    def read(self, value: Any) -> dict[str, Any]:
        """The named values of ``value``; ``Unreadable`` with the reason when they cannot be had."""
        if self.reader is None:
            return {name: _attribute(value, name) for name in self.attributes}
        try:
            read = self.reader(value)
        except BaseException as error:  # noqa: BLE001 - the reader calls the student's code
            raise Unreadable(f"reading it raised {type(error).__name__}: {_message(error)}") from None
        if type(read) is not dict or len(read) > MAX_READ or not all(type(key) is str for key in read):
            raise Unreadable(f"the course's reader returned a {type(read).__name__}, not a dict of named values")
        return read


def _attribute(value: Any, name: str) -> Any:
    try:
        return getattr(value, name)
    except BaseException as error:  # noqa: BLE001 - a property or __getattr__ may raise anything
        raise Unreadable(f"reading .{name} raised {type(error).__name__}: {_message(error)}") from None


def _message(error: BaseException) -> str:
    try:
        return str(error)[:200]
    except BaseException:  # noqa: BLE001 - an exception's __str__ is the student's too
        return "(its message cannot be read)"
