"""Find a student's code: every Python file and notebook of a submission, read without running it.

The result says where each contract function is defined (file and line, found with ``ast``),
which files could not be read or parsed and why, and stages the code as plain modules in a
folder that the process running it can see. What is read is capped per file and per submission
(bytes, Python tokens counted before parsing, files), so that no submission can make the grading
process slow or large; a file past a cap is named with the reason.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import re
import shutil
import time
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from grader import pyparse
from grader.notebook import ConvertedNotebook, NotebookError, convert

# What the grading process reads of a submission (see ``load``). Python's tokenize takes up to 0.35 s and
# 380 MB per MiB of code (a string of escapes), json up to 0.11 s and 25 MB per MiB of notebook (empty
# lists), and the parser about 1 KB per token, kept while the submission is graded. An exercise file
# holds a few thousand tokens.
MAX_FILE_BYTES = 512 * 2**10  # a .py file, or the code cells of a notebook
MAX_FILE_TOKENS = 100_000
MAX_NOTEBOOK_BYTES = 8 * 2**20  # notebooks carry outputs (plots, logs)
MAX_FILES = 200
MAX_SUBMISSION_BYTES = 16 * 2**20  # the files read, notebooks whole
MAX_SUBMISSION_CODE = 4 * 2**20  # their Python text
MAX_SUBMISSION_TOKENS = 200_000
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
    Files are read in that order until the submission's budget (``MAX_FILES``, ``MAX_SUBMISSION_BYTES``,
    ``MAX_SUBMISSION_CODE``, ``MAX_SUBMISSION_TOKENS``) is spent: the file that does not fit and every one
    after it are not read, and one problem names them.
    """
    stage.mkdir(parents=True, exist_ok=True)
    files: list[SourceFile] = []
    taken: set[str] = set()
    budget = _Budget()
    paths = sorted(discover(root), key=lambda p: (len(p.parts), str(p)))
    for index, path in enumerate(paths):
        module = module_name(path)
        if module in taken:
            continue
        taken.add(module)
        source = SourceFile(path, module)
        files.append(source)
        text = _read(source, budget)
        if budget.spent:
            source.problem = _not_read(paths[index:], budget.spent)
            break
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


@dataclass
class _Budget:
    """What is left to read of one submission; ``spent`` says why the file at hand does not fit."""

    files: int = MAX_FILES
    size: int = MAX_SUBMISSION_BYTES
    code: int = MAX_SUBMISSION_CODE
    tokens: int = MAX_SUBMISSION_TOKENS
    spent: str = ""

    def spend(self, what: str, amount: int, shown: str) -> bool:
        """Take ``amount`` of ``what``; False, with ``spent`` set, when less than that was left."""
        left = getattr(self, what) - amount
        setattr(self, what, left)
        if left < 0:
            self.spent = f"grading reads {shown} of a submission, and no more"
        return left >= 0


def _not_read(paths: list[Path], why: str) -> str:
    """The problem of the files left unread when the submission's budget is spent."""
    named = ", ".join(path.name for path in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return f"{named}: not read: {why}"


def _size(size: int) -> str:
    """``8 MiB``, ``512 KiB``."""
    return f"{size // 2**20} MiB" if size % 2**20 == 0 else f"{size // 2**10} KiB"


def _read(source: SourceFile, budget: _Budget) -> str | None:
    """The file's Python text, or None with ``source.problem`` set (or ``budget.spent``, when it does not
    fit in what is left of the submission's budget)."""
    name = source.path.name
    try:
        limit = MAX_NOTEBOOK_BYTES if source.path.suffix == ".ipynb" else MAX_FILE_BYTES
        size = source.path.stat().st_size
        if not budget.spend("files", 1, f"{MAX_FILES} Python files and notebooks"):
            return None
        if size > limit:
            cleared = " (clear its outputs and save it again)" if source.path.suffix == ".ipynb" else ""
            source.problem = f"{name} is larger than {_size(limit)}; not read{cleared}"
            return None
        if not budget.spend("size", size, f"{_size(MAX_SUBMISSION_BYTES)} of files"):
            return None
        if source.path.suffix == ".ipynb":
            source.notebook = convert(source.path, MAX_FILE_BYTES)
            text = source.notebook.source
        else:
            raw = source.path.read_bytes()
            if b"\x00" in raw:
                source.problem = f"{name} is a binary file, not Python source"
                return None
            text = raw.decode("utf-8-sig")  # a byte order mark, as some Windows editors write, is not code
    except NotebookError as error:
        source.problem = str(error)
        return None
    except UnicodeDecodeError as error:
        source.problem = f"{name} is not UTF-8 text (byte {error.start}); save it as UTF-8"
        return None
    except OSError as error:
        source.problem = f"{name} cannot be read: {error.strerror}"
        return None
    if not budget.spend("code", len(text.encode("utf-8")), f"{_size(MAX_SUBMISSION_CODE)} of Python code"):
        return None
    tokens = count_tokens(text, min(MAX_FILE_TOKENS, budget.tokens))
    if tokens > MAX_FILE_TOKENS:
        budget.tokens -= tokens  # counting them was work too
        source.problem = (f"{name} holds more than {MAX_FILE_TOKENS:,} Python tokens (names, numbers, operators), "
                          "far more than any exercise needs; not read")
        return None
    return text if budget.spend("tokens", tokens, f"{MAX_SUBMISSION_TOKENS:,} Python tokens") else None


def count_tokens(text: str, cap: int) -> int:
    """How many tokens Python's tokenizer finds in ``text``, counted up to ``cap + 1`` at most.

    Before Python 3.12 an f-string is one token, but each ``{`` in it is parsed as an expression (a few
    tokens from 3.12 on, and slower than that): it counts 4. Text the tokenizer stops on is counted up to
    there; the parser then names its error.
    """
    count = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            count += 1
            if token.type == tokenize.STRING and "f" in token.string[: token.string.find(token.string[-1])].lower():
                count += 4 * token.string.count("{")
            if count > cap:
                return cap + 1
    except (tokenize.TokenError, SyntaxError):  # SyntaxError: IndentationError and, from 3.12, the tokenizer's own
        pass
    return count


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
