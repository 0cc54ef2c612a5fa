"""Remove what a child left in its folders, however deep it nested them (student code can make a tree far
deeper than Python's recursion limit or ``PATH_MAX``), without following any link out of the folder.

The walk holds one open folder at a time and the names of the folders above it, never a path: each step is
relative to an open descriptor (``dir_fd``), and a folder the code made unreadable is made readable first.
Another file system mounted inside (under bwrap, the staged submissions are bound read-only into ``/tmp``)
is never entered, and the folders that hold it stay.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class CleanupFailed(OSError):
    """Something in the folder could not be removed."""


@dataclass
class _Level:
    """A folder entered: its name in the folder above, the folders inside it still to empty, and whether it
    holds something that stays."""

    name: str
    pending: list[str]
    holds_kept: bool = False


def empty(path: str, seconds: float = 60.0) -> None:
    """Remove everything inside the folder ``path`` (the folder itself stays), except other file systems
    mounted inside it. Each folder is read once: its files go at once, its folders one after the other.
    ``CleanupFailed`` past ``seconds`` (millions of files: the caller gives up on this folder)."""
    deadline = time.monotonic() + seconds
    folder = os.open(path, _FOLDER)
    device = os.fstat(folder).st_dev
    above: list[_Level] = []  # the folders entered, innermost last
    try:
        level = _Level("", *_sweep(folder, device, deadline))
        while True:
            if level.pending:
                name = level.pending.pop()
                inner = _enter(name, folder)
                os.close(folder)
                folder = inner
                above.append(level)
                level = _Level(name, *_sweep(folder, device, deadline))
                continue
            holds_kept = level.holds_kept
            if not above:
                return
            parent = os.open("..", _FOLDER, dir_fd=folder)
            os.close(folder)
            folder = parent
            finished, level = level, above.pop()
            if holds_kept:
                level.holds_kept = True
            else:
                os.rmdir(finished.name, dir_fd=folder)
    except OSError as error:
        raise CleanupFailed(error.errno, f"could not empty {path}: {error.strerror}") from error
    finally:
        os.close(folder)


def remove(path: str) -> None:
    """Remove the folder ``path`` and everything in it (nothing when it is already gone)."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        empty(path)
        os.rmdir(path)
    else:
        os.unlink(path)


def _sweep(folder: int, device: int, deadline: float) -> tuple[list[str], bool]:
    """Remove the files of one folder in one pass; return the names of its folders, and whether it holds another
    file system (left alone, so the folder stays)."""
    folders, kept = [], False
    with os.scandir(folder) as entries:
        for entry in entries:
            if time.monotonic() > deadline:
                raise CleanupFailed(errno.ETIMEDOUT, "too many entries to remove in time")
            status = entry.stat(follow_symlinks=False)
            if status.st_dev != device:
                kept = True
            elif entry.is_dir(follow_symlinks=False):
                folders.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=folder)
    return folders, kept


def _enter(name: str, folder: int) -> int:
    try:
        return os.open(name, _FOLDER, dir_fd=folder)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=folder)  # a folder the code made unreadable, of its own uid or ours
        return os.open(name, _FOLDER, dir_fd=folder)
