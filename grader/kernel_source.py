"""Recover the code a live IPython/Jupyter kernel holds, as a submission folder, without running anything.

The kernel's executed cells (``In``, raw, in execution order) are read the way ``grader.notebook`` reads a
notebook's cells: IPython magics and shell lines are skipped, the bodies of ``%%time``-like cells kept
(``%%writefile`` bodies were not run by the kernel, so they are not code here). Of each cell, only the
top-level statements the contract's functions need are kept: the definition the kernel actually holds for
each name (the last one whose source matches the live function), the imports and globals they use, and so
on transitively. Calls, prints, training runs and ``grader.check(...)`` cells are dropped. Student modules
the kernel imported from files are copied beside it. The kept code is written, exactly as the kernel ran it,
as one module, with a map from its lines to the cells' (``In [N]``, line), for messages.

Nothing here executes student code: sources are read with ``ast``, ``symtable``, ``inspect`` and linecache.
"""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import symtable
import sys
import sysconfig
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

from grader import pyparse
from grader.notebook import _PYTHON_CELL_MAGICS, without_magics

FRESH_BINDINGS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)


class NotInKernel(RuntimeError):
    """There is no IPython kernel (nor a ``__main__`` script) to read code from."""


@dataclass
class Kernel:
    """What the kernel ran (raw cell text, index = execution count; 0 is empty) and what it holds now."""

    cells: list[str]
    namespace: dict
    folders: list[Path] = field(default_factory=list)  # where the student's own importable modules may live


@dataclass(eq=False)
class Statement:
    """A top-level statement of one cell: the module names it binds, the global names it reads when it runs
    (``now``: a decorator, a default value, a base class, a module-level expression) and those its functions
    read when called (``later``)."""

    cell: int
    node: ast.stmt
    text: str
    binds: set[str]
    now: set[str]
    later: set[str]


def current() -> Kernel:
    """The running kernel: the IPython shell's history and user namespace; outside IPython, the ``__main__``
    script's file and globals."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        return Kernel(list(shell.history_manager.input_hist_raw), shell.user_ns, [Path.cwd()])
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if not script:
        raise NotInKernel("grader.check() reads the code of a running Jupyter/IPython kernel (or a script); "
                          "outside one, run `autograde check PATH`")
    return Kernel(["", Path(script).read_text(encoding="utf-8")], vars(main), [Path(script).resolve().parent, Path.cwd()])


def cell_python(text: str) -> str | None:
    """A cell's Python text as the kernel ran it (magic and shell lines become ``pass``), or None for a cell
    in another language, a ``%%writefile`` cell, or one that does not parse."""
    lines = text.splitlines()
    if lines and lines[0].startswith("%%"):
        if lines[0].split()[0] not in _PYTHON_CELL_MAGICS:
            return None
        lines[0] = ""
    python = "\n".join(without_magics(lines))
    try:
        _parse(python)
    except (SyntaxError, ValueError):
        return None  # the kernel ran none of it either
    return python


def statements(cells: list[str]) -> list[Statement]:
    """Every top-level statement of the executed cells, in execution order; imports of the grader removed."""
    found = []
    for number, text in enumerate(cells):
        python = cell_python(text) if isinstance(text, str) and number else None
        if python is None:
            continue
        for node in _parse(python).body:
            node = _without_grader(node)
            if node is not None:
                found.append(_statement(number, node, python))
    return found


def _parse(python: str) -> ast.Module:
    """A cell's syntax tree; a cell may ``await`` at top level, as IPython allows."""
    return pyparse.parse(python, "<cell>", top_level_await=True)


def _without_grader(node: ast.stmt) -> ast.stmt | None:
    """The statement, minus any import of the grader itself (an import of only the grader is dropped)."""
    if isinstance(node, ast.ImportFrom):
        return None if node.level == 0 and _is_grader(node.module or "") else node
    if isinstance(node, ast.Import):
        kept = [alias for alias in node.names if not _is_grader(alias.name)]
        if not kept:
            return None
        if len(kept) < len(node.names):
            return ast.copy_location(ast.Import(names=kept), node)
    return node


def _is_grader(module: str) -> bool:
    return module == "grader" or module.startswith("grader.")


def _statement(cell: int, node: ast.stmt, python: str) -> Statement:
    segment = ast.get_source_segment(python, node) if not isinstance(node, ast.Import) else None
    text = segment if segment is not None else ast.unparse(node)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.decorator_list:
        first = min(decorator.lineno for decorator in node.decorator_list)
        lines = python.splitlines()[first - 1: node.end_lineno]
        text = textwrap.dedent("\n".join(lines))
    try:
        table = symtable.symtable(ast.unparse(node), "<cell>", "exec")
    except SyntaxError:  # a top-level ``await``: it binds nothing a function of the contract can be
        return Statement(cell, node, text, set(), set(), set())
    binds = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    now, later = _globals_used(table, immediate=True)
    return Statement(cell, node, text, binds, now, later)


_RUN_AT_ONCE = {"listcomp", "setcomp", "dictcomp", "genexpr"}


def _globals_used(table: symtable.SymbolTable, immediate: bool) -> tuple[set[str], set[str]]:
    """The module-level names a scope reads, split into those read when the statement runs and those read
    only when one of its functions is called."""
    top = table.get_type() == "module"
    used = {s.get_name() for s in table.get_symbols() if s.is_referenced() and (top or s.is_global())}
    now, later = (used, set()) if immediate else (set(), used)
    for child in table.get_children():
        runs = immediate and (child.get_type() == "class" or child.get_name() in _RUN_AT_ONCE)
        child_now, child_later = _globals_used(child, runs)
        now, later = now | child_now, later | child_later
    return now, later


def select(found: list[Statement], namespace: dict, roots: set[str]) -> list[Statement]:
    """The statements that make the kernel's ``roots`` (and what they use, transitively), in execution order.

    What a function reads when called is taken as the kernel holds it now; what a statement reads when it
    runs, as it was bound before that statement.
    """
    binders: dict[str, list[int]] = {}
    for index, statement in enumerate(found):
        for name in statement.binds:
            binders.setdefault(name, []).append(index)
    kept = {index for index, statement in enumerate(found) if _star_import(statement.node)}  # binds what it cannot say
    pending: list[tuple[str, int | None]] = [(name, None) for name in sorted(roots)]
    seen: set[tuple[str, int | None]] = set()
    while pending:
        name, before = pending.pop()
        if (name, before) in seen or (before is None and name not in namespace):
            continue
        seen.add((name, before))
        candidates = [index for index in binders.get(name, []) if before is None or index < before]
        live = namespace.get(name) if before is None else None
        for index in _making(name, [found[i] for i in candidates], live, candidates):
            if index not in kept:
                kept.add(index)
                pending += [(used, None) for used in sorted(found[index].later)]
                pending += [(used, index) for used in sorted(found[index].now)]
    return [statement for index, statement in enumerate(found) if index in kept]


def _star_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names)


def _making(name: str, candidates: list[Statement], live, indices: list[int]) -> list[int]:
    """Of the statements binding ``name`` (at ``indices``), those that gave it its value: the definition
    matching the live function or class (else the last one), or the statements from the last fresh binding
    of the name on."""
    if not candidates:
        return []
    definitions = [i for i, s in enumerate(candidates) if isinstance(s.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                   and s.node.name == name]
    if definitions and _defined_in_kernel(live):
        matching = [i for i in definitions if _same_definition(candidates[i].node, live) is not False]
        return [indices[(matching or definitions)[-1]]]
    fresh = [i for i, s in enumerate(candidates) if isinstance(s.node, FRESH_BINDINGS)]
    return indices[fresh[-1]:] if fresh else indices


def _defined_in_kernel(live) -> bool:
    """Whether ``live`` is a function or class defined in the kernel (read without calling its code)."""
    if type(live) is types.FunctionType:
        return live.__module__ == "__main__"
    return issubclass(type(live), type) and vars(live).get("__module__") == "__main__"


def _same_definition(node: ast.stmt, live) -> bool | None:
    """Whether a definition's code is the live object's (None: cannot tell)."""
    if type(live) is types.FunctionType:
        return _same_function(node, live)
    answers = []
    for member in node.body:
        if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
            attribute = vars(live).get(member.name)
            function = attribute.__func__ if type(attribute) in (staticmethod, classmethod) else attribute
            answers.append(_same_function(member, function) if type(function) is types.FunctionType else False)
    return None if not answers or None in answers else all(answers)


def _same_function(node: ast.stmt, function: types.FunctionType) -> bool | None:
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = pyparse.parse(source).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return None
    return ast.dump(tree) == ast.dump(node)


def local_modules(kept: list[Statement], folders: list[Path]) -> dict[str, Path]:
    """The student's own single-file modules that the kept imports load (and those import), by name."""
    excluded = [Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()}]
    excluded.append(Path(__file__).resolve().parent)
    roots = [folder.resolve() for folder in folders]
    pending = [name for s in kept for name in _imported(s.node)]
    found: dict[str, Path] = {}
    while pending:
        name = pending.pop()
        module = sys.modules.get(name)
        if name in found or not issubclass(type(module), types.ModuleType) or "__path__" in vars(module):
            continue  # read from the module's dict: a module's own __getattr__ is never called
        path = Path(vars(module).get("__file__") or "/").resolve()
        if (path.suffix != ".py" or not path.is_file() or any(path.is_relative_to(p) for p in excluded)
                or not any(path.is_relative_to(root) for root in roots)):
            continue
        found[name] = path
        try:
            tree = pyparse.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        pending += [imported for node in tree.body for imported in _imported(node)]
    return found


def _imported(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module.split(".")[0]]
    return []


def cell_texts(kept: list[Statement], cells: int) -> list[str]:
    """Per execution count, the kept statements of that cell, each at its original line."""
    texts: list[list[str]] = [[] for _ in range(cells)]
    for statement in kept:
        lines = texts[statement.cell]
        first = _first_line(statement.node)
        body = statement.text.splitlines() or [""]
        if len(lines) >= first:  # another kept statement ends on this line: `import torch; x = 1`
            lines[first - 1] += "; " + body[0]
            body = body[1:]
        else:
            lines += [""] * (first - 1 - len(lines)) + [body.pop(0)]
        lines += body
    return ["\n".join(lines) for lines in texts]


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", None)
    return min([node.lineno, *(d.lineno for d in decorators)]) if decorators else node.lineno


@dataclass
class Written:
    """A kernel's code written as a submission: the folder, and where each line of ``KERNEL_FILE`` came from."""

    folder: Path
    lines: dict[int, tuple[int, int]]  # line of KERNEL_FILE -> (execution count, line in that cell)

    def shown(self, text: str) -> str:
        """``text`` with the written file's places named as the student knows them: ``kernel.py:12`` and
        ``"kernel.py", line 12`` become ``In [5], line 2``."""
        def place(match: re.Match) -> str:
            line = int(match.group(1) or match.group(2))
            return "In [{}], line {}".format(*self.lines[line]) if line in self.lines else f"your notebook, line {line}"

        return _PLACE.sub(place, text).replace(KERNEL_FILE, "your notebook")


KERNEL_FILE = "notebook_kernel.py"
_PLACE = re.compile(rf'"{re.escape(KERNEL_FILE)}", line (\d+)|{re.escape(KERNEL_FILE)}:(\d+)')


def write_submission(kernel: Kernel, contract: set[str], folder: Path) -> Written:
    """Write what the kernel holds of the contract (``KERNEL_FILE``, and copies of the student's own modules
    it imported) into ``folder``."""
    kept = select(statements(kernel.cells), kernel.namespace, contract)
    written: list[str] = []
    places: dict[int, tuple[int, int]] = {}
    for number, text in enumerate(cell_texts(kept, len(kernel.cells))):
        if not text.strip():
            continue
        for line, row in enumerate(text.splitlines(), start=1):
            written.append(row)
            places[len(written)] = (number, line)
        written.append("")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / KERNEL_FILE).write_text("\n".join(written) + "\n", encoding="utf-8")
    for name, path in local_modules(kept, kernel.folders).items():
        if name != Path(KERNEL_FILE).stem:
            shutil.copyfile(path, folder / f"{name}.py")
    return Written(folder, places)
