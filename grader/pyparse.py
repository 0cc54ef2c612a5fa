"""``ast.parse`` for the grading process, one thread at a time.

CPython 3.11 keeps the AST constructor's recursion depth per interpreter, not per thread: two
threads parsing at once can fail with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905). Grading a class parses submissions on several threads, so every parse of
the grading process goes through this lock.
"""

from __future__ import annotations

import ast
import threading

_ONE_AT_A_TIME = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """The module's syntax tree (raises SyntaxError or ValueError as ``ast.parse`` does)."""
    with _ONE_AT_A_TIME:
        return ast.parse(source, filename)
