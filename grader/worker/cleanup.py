"""Remove what a child left in its folders, however deep it nested them (student code can make a tree far
deeper than Python's recursion limit or ``PATH_MAX``), without following any link out of the folder.

The walk holds one open folder at a time and the names of the folders above it, never a path: each step is
relative to an open descriptor (``dir_fd``), and a folder the code made unreadable is made readable first.
Another file system mounted inside (under bwrap, the staged submissions are bound read-only into ``/tmp``)
is never entered, and the folders that hold it stay.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class CleanupFailed(OSError):
    """Something in the folder could not be removed."""


@dataclass
class _Level:
    """A folder entered: its name in the folder above, and whether it holds something that stays."""

    name: str
    holds_kept: bool = False


def empty(path: str) -> None:
    """Remove everything inside the folder ``path`` (the folder itself stays), except other file systems
    mounted inside it."""
    folder = os.open(path, _FOLDER)
    device = os.fstat(folder).st_dev
    kept: set[tuple[int, int]] = set()  # what stays: mount points, and the folders that hold them
    above: list[_Level] = []  # the folders entered, innermost last
    holds_kept = False
    try:
        while True:
            entry = _first_entry(folder, kept)
            if entry is None:
                if not above:
                    return
                level = above.pop()
                parent = os.open("..", _FOLDER, dir_fd=folder)
                here = os.fstat(folder)
                os.close(folder)
                folder = parent
                if holds_kept:
                    kept.add((here.st_dev, here.st_ino))
                else:
                    os.rmdir(level.name, dir_fd=folder)
                holds_kept = level.holds_kept or holds_kept
                continue
            name, is_folder, key = entry
            if key[0] != device:
                kept.add(key)
                holds_kept = True
            elif not is_folder:
                os.unlink(name, dir_fd=folder)
            else:
                inner = _enter(name, folder)
                os.close(folder)
                folder = inner
                above.append(_Level(name, holds_kept))
                holds_kept = False
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


def _first_entry(folder: int, kept: set[tuple[int, int]]) -> tuple[str, bool, tuple[int, int]] | None:
    """The first entry of the folder that is not kept: its name, whether it is a folder, its (device, inode)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            status = entry.stat(follow_symlinks=False)
            key = (status.st_dev, status.st_ino)
            if key not in kept:
                return entry.name, entry.is_dir(follow_symlinks=False), key
    return None


def _enter(name: str, folder: int) -> int:
    try:
        return os.open(name, _FOLDER, dir_fd=folder)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=folder)  # a folder the code made unreadable, of its own uid or ours
        return os.open(name, _FOLDER, dir_fd=folder)
