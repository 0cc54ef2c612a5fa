"""The release's starter notebook: the stubs of every module as notebook cells, checked from inside the notebook.

The first cell imports the grader and says how to use it; then, module by module, a Markdown cell with the
module's docstring, the stub code split into one cell per top-level function or class, and a
``grader.check("name")`` cell after each function of the contract. All the modules share the notebook's one
namespace, so imports between the course's own modules are left out, as are ``if __name__ == "__main__"``
blocks; each module's ``main()`` becomes ``<module>_main()``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grader.release import stub_source

NAME = "exercises.ipynb"
INSTRUCTIONS = """# {course}: fill in each function, run its cell, then run the grader.check cell under it.
# The check grades the function as this notebook's kernel has it, saved or not: after changing a
# function, run its cell again. grader.check() checks every function at once.
import grader"""


def cells(source: str, module: str, modules: set[str], contract: set[str]) -> list[tuple[str, str]]:
    """A stub module as ``(cell type, text)`` pairs: the docstring, code cells and check cells."""
    tree = ast.parse(source)
    lines = source.splitlines()
    body = tree.body
    found = [("markdown", f"## `{module}.py`" + (f"\n\n{ast.get_docstring(tree)}" if ast.get_docstring(tree) else ""))]
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        start, body = body[0].end_lineno + 1, body[1:]
    else:
        start = 1
    prelude: list[str] = []
    for node in body:
        end = node.end_lineno  # with the indented comments that follow it (``### END SOLUTION`` in a solution)
        while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
            end += 1
        rows = lines[start - 1: end]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main":
            rows[node.lineno - start] = rows[node.lineno - start].replace("def main(", f"def {module}_main(", 1)
        text = "\n".join(rows)
        start = end + 1
        if _left_out(node, modules):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if prelude:
                found.append(("code", "\n".join(prelude).strip("\n")))
                prelude = []
            found.append(("code", text.strip("\n")))
            if node.name in contract:
                found.append(("code", f'grader.check("{node.name}")'))
        else:
            prelude.append(text)
    if prelude:
        found.append(("code", "\n".join(prelude).strip("\n")))
    return found


def _left_out(node: ast.stmt, modules: set[str]) -> bool:
    """Imports of the course's own modules, and ``if __name__ == "__main__":`` blocks."""
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] in modules
    if isinstance(node, ast.Import):
        return all(alias.name.split(".")[0] in modules for alias in node.names)
    if isinstance(node, ast.If):
        test = node.test
        return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__")
    return False


def write(course, target: Path) -> Path | None:
    """Write the starter notebook of ``course`` (an ``Assignment``) to ``target``; None when it has no ``.py``
    solutions."""
    import nbformat  # only releases pay for it

    sources = {path.stem: path for path in sorted(course.solutions.glob("*.py"))}
    if not sources:
        return None
    order = list(dict.fromkeys([spec.module for spec in course.functions if spec.module in sources] + list(sources)))
    contract = {spec.name for spec in course.functions}
    notebook = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    notebook.cells.append(nbformat.v4.new_code_cell(INSTRUCTIONS.format(course=course.name)))
    for module in order:
        stub = stub_source(sources[module].read_text(encoding="utf-8"), str(sources[module]))
        for kind, text in cells(stub, module, set(sources), contract):
            notebook.cells.append(nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text))
    nbformat.write(notebook, str(target))
    return target
