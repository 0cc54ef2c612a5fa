"""Recognise who submitted what in a class download, in the layouts people actually have.

- plain: ``<student>/``, ``<student>.py``, ``<student>.ipynb`` or ``<student>.zip``;
- GitHub Classroom: ``<assignment>-<username>/`` (one common prefix);
- nbgrader: ``submitted/<student>/<assignment>/``;
- Canvas "Download Submissions": loose files ``<lastfirst>_[LATE_]<userid>_<attachmentid>_<name>``
  (resubmissions get ``-1``, ``-2`` before the extension);
- Moodle "Download all submissions": ``<Full Name>_<id>_assignsubmission_file_/`` folders, or loose
  files with that prefix.

A ``.zip`` (the whole download or one student's entry) is extracted safely first. Anything not
recognised is listed with the reason, never silently skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

CODE_SUFFIXES = (".py", ".ipynb")
MAX_ZIP_BYTES = 200 * 2**20
MAX_ZIP_MEMBERS = 10_000
_CANVAS = re.compile(r"^(?P<name>[a-z]+)_(?:LATE_)?(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>.+)$")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<user>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$")
_RESUBMISSION = re.compile(r"-\d+$")


@dataclass
class Entry:
    """One student's submission: an id and the folder or file holding the code."""

    student: str
    path: Path
    layout: str


@dataclass
class Discovery:
    """What was found: the submissions, and what was not recognised (with why)."""

    entries: list[Entry] = field(default_factory=list)
    unrecognised: list[str] = field(default_factory=list)


class UnsafeArchive(ValueError):
    """A zip that would write outside its folder, or is too large."""


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a zip, refusing absolute paths, ``..``, links and oversized content."""
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise UnsafeArchive(f"{archive.name} is too large to extract")
        for member in members:
            name = PurePosixPath(member.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or (member.external_attr >> 16) & stat.S_IFLNK == stat.S_IFLNK:
                raise UnsafeArchive(f"{archive.name} contains an unsafe entry: {member.filename!r}")
        for member in members:
            if member.filename.startswith("__MACOSX/"):
                continue
            destination = target.joinpath(*PurePosixPath(member.filename.replace("\\", "/")).parts)
            if member.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink)


def discover(root: Path, scratch: Path) -> Discovery:
    """Every student's submission under ``root`` (a folder or a ``.zip``)."""
    found = Discovery()
    if root.is_file() and root.suffix == ".zip":
        extracted = scratch / "download"
        try:
            safe_extract(root, extracted)
        except (UnsafeArchive, zipfile.BadZipFile) as error:
            found.unrecognised.append(f"{root.name}: {error}")
            return found
        root = _single_folder(extracted)
    if (root / "submitted").is_dir():
        return _nbgrader(root / "submitted", found)
    if root.name == "submitted":
        return _nbgrader(root, found)
    children = sorted(p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX")))
    loose = [p for p in children if p.is_file() and not p.is_symlink()]
    folders = [p for p in children if p.is_dir() and not p.is_symlink()]
    grouped = _group_lms_files(loose, scratch, found)
    loose = [p for p in loose if p not in grouped]
    prefix = _classroom_prefix(folders)
    for folder in folders:
        moodle = _MOODLE.match(folder.name)
        if moodle:
            found.entries.append(Entry(_slug(f"{moodle['name']}_{moodle['user']}"), folder, "moodle"))
        elif prefix:
            found.entries.append(Entry(folder.name[len(prefix):], folder, "github-classroom"))
        elif _has_code(folder):
            found.entries.append(Entry(folder.name, folder, "plain"))
        else:
            found.unrecognised.append(f"{folder.name}/: no .py or .ipynb file inside")
    for path in loose:
        _plain_file(path, scratch, found)
    for link in (p for p in children if p.is_symlink()):
        found.unrecognised.append(f"{link.name}: a symbolic link; not followed")
    found.entries.sort(key=lambda entry: entry.student)
    _reject_duplicates(found)
    return found


def _single_folder(folder: Path) -> Path:
    """The folder inside, when an archive wraps everything in one folder."""
    inner = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    return inner[0] if len(inner) == 1 and inner[0].is_dir() and not inner[0].is_symlink() else folder


def _nbgrader(submitted: Path, found: Discovery) -> Discovery:
    for student in sorted(p for p in submitted.iterdir() if p.is_dir()):
        assignments = sorted(p for p in student.iterdir() if p.is_dir())
        if len(assignments) == 1:
            found.entries.append(Entry(student.name, assignments[0], "nbgrader"))
        elif not assignments:
            found.unrecognised.append(f"submitted/{student.name}/: no assignment folder inside")
        else:
            for assignment in assignments:
                found.entries.append(Entry(f"{student.name}/{assignment.name}", assignment, "nbgrader"))
    return found


def _group_lms_files(loose: list[Path], scratch: Path, found: Discovery) -> set[Path]:
    """Collect Canvas/Moodle loose files per student into folders with the original file names."""
    students: dict[tuple[str, str], list[tuple[Path, str]]] = defaultdict(list)
    for path in loose:
        match = _MOODLE.match(path.name) or _CANVAS.match(path.name)
        if match and match["file"]:
            layout = "moodle" if "assignsubmission" in path.name else "canvas"
            students[(layout, _slug(f"{match['name']}_{match['user']}"))].append((path, match["file"]))
    grouped = set()
    for (layout, student), files in students.items():
        folder = scratch / "lms" / student
        folder.mkdir(parents=True, exist_ok=True)
        for path, original in files:
            stem, suffix = os.path.splitext(original)
            target = folder / (_RESUBMISSION.sub("", stem) + suffix)
            if suffix == ".zip":
                try:
                    safe_extract(path, folder)
                except (UnsafeArchive, zipfile.BadZipFile) as error:
                    found.unrecognised.append(f"{path.name}: {error}")
            else:
                shutil.copyfile(path, target)
            grouped.add(path)
        found.entries.append(Entry(student, folder, layout))
    return grouped


def _plain_file(path: Path, scratch: Path, found: Discovery) -> None:
    if path.suffix in CODE_SUFFIXES:
        found.entries.append(Entry(path.stem, path, "plain"))
    elif path.suffix == ".zip":
        folder = scratch / "zips" / path.stem
        try:
            safe_extract(path, folder)
        except (UnsafeArchive, zipfile.BadZipFile) as error:
            found.unrecognised.append(f"{path.name}: {error}")
            return
        found.entries.append(Entry(path.stem, _single_folder(folder), "plain-zip"))
    else:
        found.unrecognised.append(f"{path.name}: not a .py, .ipynb, .zip or folder")


def _classroom_prefix(folders: list[Path]) -> str:
    """``<assignment>-`` when every folder name starts with it (GitHub Classroom's download)."""
    if len(folders) < 2:
        return ""
    prefix = os.path.commonprefix([f.name for f in folders])
    prefix = prefix[: prefix.rfind("-") + 1]
    return prefix if prefix and all(len(f.name) > len(prefix) for f in folders) else ""


def _has_code(folder: Path) -> bool:
    return any(p.suffix in CODE_SUFFIXES for p in folder.glob("**/*"))


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_")


def _reject_duplicates(found: Discovery) -> None:
    seen: dict[str, Entry] = {}
    kept = []
    for entry in found.entries:
        if entry.student in seen:
            found.unrecognised.append(f"{entry.path.name}: a second submission for {entry.student}; graded the first "
                                      f"({seen[entry.student].path.name})")
            continue
        seen[entry.student] = entry
        kept.append(entry)
    found.entries = kept
