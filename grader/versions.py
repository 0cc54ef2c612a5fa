"""What a grader's measurements depend on, as digests: the course's files, the grader's own source, torch and
Python. The reference cache files its entries under them, and a warm check server is found by them: a change to
any of them makes a new entry, or a new server."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import grader
from grader.assignment import Assignment


def course_digest(assignment: Assignment) -> str:
    """A sha256 of every file that makes the reference's observations: the declarations read, the solutions, the
    wrong variants (``mistakes/``), ``inputs.py``, ``targets.py`` and a release's answer key, with their names."""
    files = [assignment.declarations or assignment.root / "assignment.toml", assignment.inputs, assignment.targets, assignment.answer_key]
    for folder in (assignment.solutions, assignment.mistakes):
        files += sorted(path for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts)
    digest = hashlib.sha256(repr(assignment.functions).encode())
    for path in files:
        if path is not None and path.is_file():
            content = path.read_bytes()
            digest.update(f"\0{path.relative_to(assignment.root) if path.is_relative_to(assignment.root) else path}"
                          f"\0{len(content)}\0".encode())
            digest.update(content)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def grader_digest() -> str:
    """A sha256 of the grader's own source: a changed harness or encoder measures differently."""
    digest = hashlib.sha256(grader.__version__.encode())
    root = Path(grader.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(f"\0{path.relative_to(root)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def torch_version() -> str:
    """The installed torch's version (read from its metadata, without importing it), or ``none``."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "none"


def python_version() -> str:
    """This interpreter's version, as ``3.12.3``."""
    return sys.version.split()[0]


def private_folder(folder: Path) -> Path | None:
    """``folder``, created if need be, as a folder of this user's own that no one else can read or write (its
    mode made 0700); None when it cannot be: it belongs to another user, or is not a folder (a link, a file)."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return None
        if info.st_mode & 0o077:
            folder.chmod(0o700)
    except OSError:
        return None
    return folder
