"""Find a student's code: every Python file and notebook of a submission, read without running it.

The result says where each contract function is defined (file and line, found with ``ast``),
which files could not be read or parsed and why, and stages the code as plain modules in a
folder that the process running it can see.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import pyparse
from grader.notebook import ConvertedNotebook, NotebookError, convert

MAX_FILE_BYTES = 2 * 2**20  # a .py file, or the code cells of a notebook
MAX_NOTEBOOK_BYTES = 64 * 2**20  # notebooks carry outputs (plots, logs)
IGNORED_FOLDERS = {"__pycache__", ".ipynb_checkpoints", ".git", ".venv", "venv", "site-packages", "node_modules"}
MAX_MODULE_BYTES = 120  # a staged module's name, within the 255 bytes a file name may have


@dataclass
class SourceFile:
    """One file of the submission and its staged module."""

    path: Path
    module: str
    staged: Path | None = None
    problem: str | None = None
    notebook: ConvertedNotebook | None = None
    tree: ast.Module | None = None

    def locate(self, line: int) -> str:
        """``file:line``, or ``file (cell N, line M)`` for notebooks."""
        if self.notebook is not None:
            return f"{self.path.name} ({self.notebook.locate(line)})"
        return f"{self.path.name}:{line}"


@dataclass
class Definition:
    """Where a contract function is defined and what it looks like."""

    name: str
    source: SourceFile
    line: int
    node: ast.AST | None = None
    calls: set[str] = field(default_factory=set)

    @property
    def location(self) -> str:
        """``file:line`` of the definition."""
        return self.source.locate(self.line)


@dataclass
class Submission:
    """A student's code, read and staged."""

    root: Path
    files: list[SourceFile]
    definitions: dict[str, Definition]
    stage: Path
    repeated: dict[str, list[Definition]] = field(default_factory=dict)  # names defined in several files

    @property
    def repetition_notes(self) -> list[str]:
        """One line per contract name defined in several files, saying which definition is graded."""
        return [f"{name} is defined in {len(found)} places ({', '.join(d.location for d in found)}): "
                f"the one graded is {found[0].location}" for name, found in self.repeated.items()]

    @property
    def problems(self) -> list[SourceFile]:
        """Files that could not be read or parsed."""
        return [source for source in self.files if source.problem]

    def module_files(self) -> dict[str, str]:
        """Module name to staged file, for the process that runs the code."""
        return {source.module: str(source.staged) for source in self.files if source.staged}

    def by_staged_path(self, staged: str) -> SourceFile | None:
        """The source file a staged path came from."""
        return next((source for source in self.files if str(source.staged) == staged), None)


def discover(root: Path) -> list[Path]:
    """The Python files and notebooks of a submission: the file itself, or those under the folder.

    Hidden and tool folders are skipped and links not followed. The walk keeps its own list of
    folders, so a tree nested thousands deep is walked, not a RecursionError; a folder that cannot
    be listed is skipped.
    """
    if root.is_file():
        return [root]
    found = []
    folders = [root]
    while folders:
        try:
            with os.scandir(folders.pop()) as listing:
                children = list(listing)
        except OSError:
            continue
        for child in children:
            try:
                if child.is_dir(follow_symlinks=False):
                    if child.name not in IGNORED_FOLDERS and not child.name.startswith("."):
                        folders.append(Path(child.path))
                elif Path(child.name).suffix in (".py", ".ipynb") and child.is_file(follow_symlinks=False):
                    found.append(Path(child.path))
            except OSError:
                continue
    return sorted(found)


def module_name(path: Path) -> str:
    """A valid module name for a file (``My Notebook.ipynb`` -> ``My_Notebook``); a name too long for a
    file is cut and given a hash of the whole name."""
    name = re.sub(r"\W", "_", path.stem)
    name = name if name and not name[0].isdigit() else f"m_{name}"
    if len(name.encode("utf-8")) <= MAX_MODULE_BYTES:
        return name
    return f"{name[:40]}_{hashlib.sha256(name.encode('utf-8')).hexdigest()[:16]}"


def load(root: Path, contract: set[str], stage: Path, modules: dict[str, str] | None = None) -> Submission:
    """Read every file of the submission, find the contract's definitions and stage the modules.

    A name defined in several files is taken from the module the exercise names for it (``modules``:
    name -> module, ``layers`` for ``layers.py``), else from the first file (shallowest, then by name).
    """
    stage.mkdir(parents=True, exist_ok=True)
    files: list[SourceFile] = []
    taken: set[str] = set()
    for path in sorted(discover(root), key=lambda p: (len(p.parts), str(p))):
        module = module_name(path)
        if module in taken:
            continue
        taken.add(module)
        source = SourceFile(path, module)
        files.append(source)
        text = _read(source)
        if text is None:
            continue
        try:
            source.tree = pyparse.parse(text, str(path))
        except SyntaxError as error:
            source.problem = (f"syntax error at {source.locate(error.lineno)}: {error.msg}" if error.lineno
                              else f"{path.name} cannot be parsed: {error.msg}")
        source.staged = stage / f"{module}.py"
        source.staged.write_text(text, encoding="utf-8")
    every = {name: sorted(found, key=lambda d: d.source.module != (modules or {}).get(name))
             for name, found in _definitions(files, contract).items()}
    return Submission(root, files, {name: found[0] for name, found in every.items()}, stage,
                      {name: found for name, found in every.items() if len({d.source.path for d in found}) > 1})


def _read(source: SourceFile) -> str | None:
    """The file's Python text, or None with ``source.problem`` set."""
    try:
        limit = MAX_NOTEBOOK_BYTES if source.path.suffix == ".ipynb" else MAX_FILE_BYTES
        if source.path.stat().st_size > limit:
            source.problem = f"{source.path.name} is larger than {limit // 2**20} MiB; not read"
            return None
        if source.path.suffix == ".ipynb":
            source.notebook = convert(source.path)
            if len(source.notebook.source.encode("utf-8")) > MAX_FILE_BYTES:
                source.problem = (f"{source.path.name}: its code cells hold more than {MAX_FILE_BYTES // 2**20} MiB "
                                  "of text; not read")
                return None
            return source.notebook.source
        raw = source.path.read_bytes()
        if b"\x00" in raw:
            source.problem = f"{source.path.name} is a binary file, not Python source"
            return None
        return raw.decode("utf-8-sig")  # a byte order mark, as some Windows editors write, is not code
    except NotebookError as error:
        source.problem = str(error)
    except UnicodeDecodeError as error:
        source.problem = f"{source.path.name} is not UTF-8 text (byte {error.start}); save it as UTF-8"
    except OSError as error:
        source.problem = f"{source.path.name} cannot be read: {error.strerror}"
    return None


def _definitions(files: list[SourceFile], contract: set[str]) -> dict[str, list[Definition]]:
    """Every top-level definition of each contract name, in file order (the first one is graded)."""
    found: dict[str, list[Definition]] = {}
    for source in files:
        if source.tree is None:
            continue
        for node in source.tree.body:
            for name, target in _defined_names(node):
                if name in contract:
                    calls = {n.id for n in ast.walk(target) if isinstance(n, ast.Name)} & contract - {name}
                    found.setdefault(name, []).append(Definition(name, source, node.lineno, target, calls))
    return found


def _defined_names(node: ast.AST):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name, node
    elif isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Name):
                yield target.id, node
    elif isinstance(node, (ast.If, ast.Try)):
        for child in node.body:
            yield from _defined_names(child)


def fingerprint(root: Path) -> dict[str, tuple[int, int]]:
    """Modification time and size of every file of a submission."""
    found = {}
    for path in discover(root):
        try:
            status = path.stat()
        except OSError:
            continue
        found[str(path)] = (status.st_mtime_ns, status.st_size)
    return found


def wait_for_change(root: Path, since: dict[str, tuple[int, int]], interval: float = 0.3) -> None:
    """Block until the submission's files differ from the fingerprint ``since`` (added, removed or modified)."""
    while fingerprint(root) == since:
        time.sleep(interval)


def clear(stage: Path) -> None:
    """Remove a staged folder."""
    shutil.rmtree(stage, ignore_errors=True)
