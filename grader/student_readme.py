"""The README a student release carries: what a student types to install, check everything, check one function,
and check from a notebook."""

from __future__ import annotations

from grader.assignment import Assignment
from grader.integrations import DEFAULT_TORCH, TORCH_CPU_INDEX


def text(assignment: Assignment) -> str:
    """The release's ``README.md``, for the course ``assignment``."""
    modules = sorted({spec.module for spec in assignment.functions})
    first = assignment.functions[0].name if assignment.functions else "NAME"
    return f"""# {assignment.name}

Fill in the functions in `exercises/` ({", ".join(f"`{module}.py`" for module in modules)}): each docstring
states the contract. Then check your work; the checks run your code on inputs you did not see and say, for
each function, what was expected, what you returned and which classic mistake it is.

With Python 3.11 or later, once:

```bash
pip install "{DEFAULT_TORCH}" --index-url {TORCH_CPU_INDEX}
pip install ./.autograde   # the copy of autograde in this repository (if it has one), or what your instructor names
```

Then, in this folder, after every edit:

```bash
autograde check exercises/                 # every function
autograde check exercises/ --only {first}   # one function
```

The first check starts a check server in the background (torch loaded, the reference ready): the checks after
it answer in a fraction of a second. It leaves after a few idle minutes; `autograde server stop` stops it now,
and `--no-server` checks without it.

From a Jupyter or Colab notebook in this folder, after running your cells:

```python
import grader
grader.check("{first}")   # one function; grader.check() for all of them
```

Exit status of `autograde check`: 0 all pass, 1 some check fails, 2 a usage error, 3 an internal grader
error (never your fault). On Linux with bubblewrap your code runs in a sandbox.
"""
