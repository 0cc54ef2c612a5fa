"""``ast.parse`` for the grading process, one thread at a time, and never more than a SyntaxError.

CPython 3.11 keeps the AST constructor's recursion depth per interpreter, not per thread: two
threads parsing at once can fail with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905). Grading a class parses submissions on several threads, so every parse of
the grading process goes through this lock.

A student's file can also be more than the parser takes: an expression nested thousands deep makes
it raise RecursionError or MemoryError, and text holding a lone surrogate (a notebook's JSON can
carry one) cannot be encoded for it. Each becomes a SyntaxError that says so, so that the file is
reported like any other that does not parse.
"""

from __future__ import annotations

import ast
import threading

_ONE_AT_A_TIME = threading.Lock()


def parse(source: str, filename: str = "<unknown>", top_level_await: bool = False) -> ast.Module:
    """The module's syntax tree; SyntaxError (with a message for the student) when there is none.
    ``top_level_await``: a notebook cell's, where IPython lets ``await`` stand at top level."""
    flags = ast.PyCF_ONLY_AST | (ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if top_level_await else 0)
    try:
        with _ONE_AT_A_TIME:
            return compile(source, filename, "exec", flags, dont_inherit=True)
    except (RecursionError, MemoryError) as error:
        raise SyntaxError(f"the code is nested too deeply for Python's parser ({type(error).__name__})") from None
    except ValueError as error:  # a NUL character, or a lone surrogate (UnicodeEncodeError)
        raise SyntaxError(f"the text cannot be parsed as Python ({error})") from None


def unparse(node: ast.AST) -> str | None:
    """``ast.unparse(node)``, or None where the tree is too deep for it (it recurses once per level) or holds an
    integer too long to print (past Python's limit on int-to-text conversion)."""
    try:
        return ast.unparse(node)
    except (RecursionError, MemoryError, ValueError):
        return None
