"""autograde: grade PyTorch autograd exercises with feedback a student can act on.

In a notebook: ``import grader`` then ``grader.check("gradient")`` (or ``grader.check()`` for everything), or
the line magic ``%autograde gradient``. This module stays light: the worker imports it too.
"""

import sys

__version__ = "0.1.0"


def check(name=None, **options):
    """Grade ``name`` (a function of the course, a list of them, or None for all) as this notebook's kernel has
    it; options: ``course``, ``sandbox``, ``seed``, ``device`` (see ``grader.notebook_check.check``)."""
    from grader import notebook_check

    return notebook_check.check(name, **options)


def load_ipython_extension(ipython) -> None:
    """Register the ``%autograde [NAME ...]`` line magic (``%load_ext grader``; done on ``import grader`` in IPython)."""
    def autograde(line: str):
        names = line.split()
        return check(names or None)

    ipython.register_magic_function(autograde, "line", "autograde")


def _register_in_ipython() -> None:
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    if shell is not None and hasattr(shell, "register_magic_function"):
        try:
            load_ipython_extension(shell)
        except Exception:  # noqa: BLE001 - the magic is a convenience; grader.check() works without it
            pass


_register_in_ipython()
