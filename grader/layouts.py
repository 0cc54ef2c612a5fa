"""Recognise who submitted what in a class download, in the layouts people actually have.

- plain: ``<student>/``, ``<student>.py``, ``<student>.ipynb`` or ``<student>.zip``;
- GitHub Classroom: ``<assignment>-<username>/`` (one common prefix);
- nbgrader: ``submitted/<student>/<assignment>/``, in a course folder holding nothing but nbgrader's own
  entries (elsewhere ``submitted/`` is a student's folder like any other);
- Canvas "Download Submissions": loose files ``<lastfirst>_[LATE_]<userid>_<attachmentid>_<name>``
  (resubmissions get ``-1``, ``-2`` before the extension);
- Moodle "Download all submissions": ``<Full Name>_<id>_assignsubmission_file_/`` folders, or loose
  files with that prefix.

A ``.zip`` (the whole download or one student's entry) is extracted safely first, member by
member: a member that cannot be extracted (unsafe, encrypted, corrupt, an unsupported compression,
a name that cannot be a file) is skipped, and the reason goes to the student it belongs to. Anything
not recognised is listed with the reason, never silently skipped, and no student's odd entry stops
the others from being found. Two entries with one id are both listed, and neither is graded.
"""

from __future__ import annotations

import errno
import io
import os
import re
import shutil
import stat
import struct
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader import submission

CODE_SUFFIXES = (".py", ".ipynb")
MAX_ZIP_BYTES = 200 * 2**20
MAX_MEMBER_BYTES = submission.MAX_NOTEBOOK_BYTES  # a larger member is skipped: grading reads no file that large
MAX_ZIP_MEMBERS = 10_000
MAX_NAME_BYTES = 255  # one file or folder name, on the file systems graders run on
MAX_ZIP_DEPTH = 64  # folders in a member's path: deeper trees defeat the recursive walks and removals of the stdlib
_READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_UTF8_NAME = 0x800  # general purpose flag: the member's name is UTF-8
_CANVAS = re.compile(r"^(?P<name>[a-z]+)_(?:LATE_)?(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>.+)$")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<user>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$")
_RESUBMISSION = re.compile(r"-\d+$")
_NBGRADER_ENTRIES = {"submitted", "source", "release", "autograded", "feedback", "gradebook.db", "nbgrader_config.py"}


@dataclass
class Entry:
    """One student's submission: an id, the folder or file holding the code, and what of it could not
    be taken from the download (each a sentence naming the file and why)."""

    student: str
    path: Path
    layout: str
    problems: list[str] = field(default_factory=list)


@dataclass
class Discovery:
    """What was found: the submissions, what was not recognised (with why), and, when the download
    itself could not be read at all, why (then nothing was found)."""

    entries: list[Entry] = field(default_factory=list)
    unrecognised: list[str] = field(default_factory=list)
    unreadable: str = ""


class UnsafeArchive(ValueError):
    """A zip that cannot be extracted at all: not a readable zip, or too large."""


@dataclass(frozen=True)
class Skipped:
    """A zip member that was not extracted: its name, where it would have gone, and why not."""

    name: str
    parts: tuple[str, ...]  # its path under the extraction folder
    reason: str

    def describe(self) -> str:
        """One sentence for the report."""
        return f"{self.name}: not extracted from the zip: {self.reason}"


def safe_extract(archive: Path, target: Path) -> list[Skipped]:
    """Extract a zip member by member into ``target``; return the members skipped, with why.

    A member is skipped when it is unsafe (an absolute path, ``..``, a link), cannot be read
    (encrypted, an unsupported compression, corrupt, a name that is not UTF-8 or holds a NUL) or
    cannot be written (a name too long, a path too deep, a file and a folder of the same name, a
    repeated name), or is larger than any file grading reads. Raises UnsafeArchive only when the zip
    as a whole cannot be read, or holds too many members or bytes.
    """
    bundle, misnamed = _open_zip(archive)
    with bundle:
        members = bundle.infolist()
        kept_bytes = sum(m.file_size for m in members if m.file_size <= MAX_MEMBER_BYTES)
        if len(members) > MAX_ZIP_MEMBERS or kept_bytes > MAX_ZIP_BYTES:
            raise UnsafeArchive(f"{archive.name} is too large to extract")
        target.mkdir(parents=True, exist_ok=True)
        skipped = []
        written: set[tuple[str, ...]] = set()
        for index, member in enumerate(members):
            parts = PurePosixPath(member.filename.replace("\\", "/")).parts
            if parts[:1] == ("__MACOSX",):
                continue
            reason = "its name is not valid UTF-8" if index in misnamed else _refused(member, parts, written)
            if reason is None:
                reason = _extract(bundle, member, target.joinpath(*parts))
            if reason is None:
                written.add(parts)
            else:
                skipped.append(Skipped(_shown(member.orig_filename, index in misnamed), parts, reason))
        return skipped


def _open_zip(archive: Path) -> tuple[zipfile.ZipFile, set[int]]:
    """The open zip, and the positions of members whose name claims to be UTF-8 but is not.

    zipfile refuses a whole archive for one such name; those names are then read as the other
    encoding zips use (cp437, which decodes any bytes), from a copy whose flags say so.
    """
    try:
        try:
            return zipfile.ZipFile(archive), set()
        except UnicodeDecodeError:
            data = bytearray(archive.read_bytes()) if archive.stat().st_size <= MAX_ZIP_BYTES else None
            misnamed = _clear_false_utf8_flags(data) if data is not None else None
            if misnamed is None:
                raise
            return zipfile.ZipFile(io.BytesIO(bytes(data))), misnamed
    except Exception as error:  # noqa: BLE001 - zipfile raises many kinds for a broken file
        raise UnsafeArchive(f"{archive.name} is not a readable zip ({_first_line(error)})") from error


def _clear_false_utf8_flags(data: bytearray) -> set[int] | None:
    """Clear the UTF-8 flag of each central directory entry whose name is not UTF-8; return their
    positions, or None when the central directory cannot be walked."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(data):
        return None
    size, = struct.unpack_from("<I", data, end + 12)
    offset, cleared, index = end - size, set(), 0
    while 0 <= offset and offset + 46 <= end and data[offset:offset + 4] == b"PK\x01\x02":
        flags, = struct.unpack_from("<H", data, offset + 8)
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, offset + 28)
        name = bytes(data[offset + 46:offset + 46 + name_length])
        if flags & _UTF8_NAME:
            try:
                name.decode("utf-8")
            except UnicodeDecodeError:
                struct.pack_into("<H", data, offset + 8, flags & ~_UTF8_NAME)
                cleared.add(index)
        offset += 46 + name_length + extra_length + comment_length
        index += 1
    return cleared or None


def _refused(member: zipfile.ZipInfo, parts: tuple[str, ...], written: set[tuple[str, ...]]) -> str | None:
    """Why a member is not extracted, judged from the zip's directory alone; None when it may be."""
    mode = member.external_attr >> 16
    if "\x00" in member.orig_filename:
        return "its name holds a NUL character"
    if not parts:
        return None if _is_folder(member) else "it has no name"
    if PurePosixPath(*parts).is_absolute() or ".." in parts:
        return "its path leads outside the folder (absolute, or with '..')"
    if stat.S_ISLNK(mode):
        return "it is a symbolic link"
    if any(len(os.fsencode(part)) > MAX_NAME_BYTES for part in parts):
        return f"a name in its path is longer than {MAX_NAME_BYTES} bytes"
    if len(parts) > MAX_ZIP_DEPTH:
        return f"its path is nested more than {MAX_ZIP_DEPTH} folders deep"
    if member.file_size > MAX_MEMBER_BYTES:
        return f"it is larger than {MAX_MEMBER_BYTES // 2**20} MiB, more than grading reads of any file"
    if member.flag_bits & 0x1:
        return "it is encrypted (password-protected); zip it again without a password"
    if member.compress_type not in _READABLE_METHODS:
        method = zipfile.compressor_names.get(member.compress_type, f"method {member.compress_type}")
        return f"it is compressed with {method}, which cannot be read here; zip it again with ordinary deflate"
    if parts in written and not _is_folder(member):
        return "the zip holds another member of the same name (the first one is kept)"
    return None


def _is_folder(member: zipfile.ZipInfo) -> bool:
    """Whether a member is a folder (``ZipInfo.is_dir`` fails on an empty name)."""
    return member.filename.endswith("/")


def _extract(bundle: zipfile.ZipFile, member: zipfile.ZipInfo, destination: Path) -> str | None:
    """Write one member; None when written, else why not (nothing is left of it on disk)."""
    try:
        if _is_folder(member):
            destination.mkdir(parents=True, exist_ok=True)
            return None
        destination.parent.mkdir(parents=True, exist_ok=True)
        with bundle.open(member) as source, open(destination, "xb") as sink:  # "x": never through an existing path
            try:
                shutil.copyfileobj(source, sink)
            except BaseException:
                destination.unlink()
                raise
        return None
    except OSError as error:
        if error.errno == errno.EEXIST and destination.is_file():
            return "a file of that name was already extracted (the first one is kept)"
        if error.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            return "a file and a folder of the zip have the same name"
        if error.errno == errno.ENAMETOOLONG:
            return "its path is too long for the file system"
        return f"it cannot be written ({error.strerror or _first_line(error)})"
    except Exception as error:  # noqa: BLE001 - BadZipFile (CRC), zlib.error, EOFError, lzma errors: a damaged member
        return f"it is corrupt or cannot be decompressed ({str(error)[:200] or type(error).__name__})"


def _first_line(error: BaseException) -> str:
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _shown(name: str, misnamed: bool = False) -> str:
    """A member's name as stored, control characters and NUL written as escapes (and, for a name that is
    not the UTF-8 it claims, its bytes that are not UTF-8)."""
    if misnamed:
        name = name.encode("cp437").decode("utf-8", errors="backslashreplace")
    return "".join(character if character.isprintable() else ascii(character)[1:-1]
                   for character in name)


def discover(root: Path, scratch: Path) -> Discovery:
    """Every student's submission under ``root`` (a folder or a ``.zip``). Never raises: an entry that
    cannot be read is listed in ``unrecognised``, a download that cannot be read at all in ``unreadable``."""
    found = Discovery()
    try:
        _discover(root, scratch, found)
    except Exception as error:  # noqa: BLE001 - a failure reading the download itself, not one student's entry
        if found.entries:  # what was found is still graded
            found.unrecognised.append(f"{root.name}: reading it stopped early ({_first_line(error)})")
        else:
            found.unreadable = f"{root.name} cannot be read ({_first_line(error)})"
    found.entries.sort(key=lambda entry: entry.student)
    _reject_duplicates(found)
    return found


def _discover(root: Path, scratch: Path, found: Discovery) -> None:
    skipped: list[tuple[Path, Skipped]] = []
    if root.is_file() and root.suffix == ".zip":
        extracted = scratch / "download"
        try:
            skipped = [(extracted.joinpath(*item.parts), item) for item in safe_extract(root, extracted)]
        except UnsafeArchive as error:
            found.unreadable = str(error)
            return
        root = _single_folder(extracted)
    if _is_nbgrader_course(root):
        _nbgrader(root / "submitted", found)
    elif root.name == "submitted":
        _nbgrader(root, found)
    else:
        _top_level(root, scratch, found)
    for where, item in skipped:
        _attach(found, root, where, item.describe())


def _top_level(root: Path, scratch: Path, found: Discovery) -> None:
    """The entries of a folder of submissions, one student's odd entry costing only that entry."""
    children = sorted(p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX")))
    links = [p for p in children if p.is_symlink()]
    loose = [p for p in children if p.is_file() and p not in links]
    folders = [p for p in children if p.is_dir() and p not in links]
    for other in (p for p in children if p not in links and p not in loose and p not in folders):
        found.unrecognised.append(f"{other.name}: not a file or a folder (a device, a pipe or a socket)")
    grouped = _group_lms_files(loose, scratch, found)
    prefix = _classroom_prefix(folders)
    for folder in folders:
        _guarded(found, folder, _folder, folder, prefix, found)
    for path in (p for p in loose if p not in grouped):
        _guarded(found, path, _plain_file, path, scratch, found)
    for link in links:
        found.unrecognised.append(f"{link.name}: a symbolic link; not followed")


def _guarded(found: Discovery, path: Path, read, *arguments) -> None:
    """``read(*arguments)`` for one entry; an error reading it lists it as unrecognised instead of ending the search."""
    try:
        read(*arguments)
    except Exception as error:  # noqa: BLE001 - one odd entry must not cost the class
        found.unrecognised.append(f"{path.name}: cannot be read ({_first_line(error)})")


def _folder(folder: Path, prefix: str, found: Discovery) -> None:
    moodle = _MOODLE.match(folder.name)
    if moodle:
        found.entries.append(Entry(_slug(f"{moodle['name']}_{moodle['user']}"), folder, "moodle"))
    elif prefix:
        found.entries.append(Entry(folder.name[len(prefix):], folder, "github-classroom"))
    elif _has_code(folder):
        found.entries.append(Entry(folder.name, folder, "plain"))
    else:
        found.unrecognised.append(f"{folder.name}/: no .py or .ipynb file inside")


def _attach(found: Discovery, root: Path, where: Path, problem: str) -> None:
    """Give a skipped member's problem to the student whose entry it belongs to, else list it."""
    try:
        top = root / where.relative_to(root).parts[0]
    except (ValueError, IndexError):
        found.unrecognised.append(problem)
        return
    owner, ancestors = _lms_or_plain_id(top.name), {where, *where.parents}
    for entry in found.entries:
        if entry.path in ancestors or (owner is not None and entry.student == owner):
            entry.problems.append(problem)
            return
    found.unrecognised.append(problem)


def _lms_or_plain_id(name: str) -> str | None:
    """The student id a loose file's name gives (Canvas, Moodle, or ``<student>.py``), if any."""
    match = _MOODLE.match(name) or _CANVAS.match(name)
    if match and match["file"]:
        return _slug(f"{match['name']}_{match['user']}")
    stem, suffix = os.path.splitext(name)
    return stem if suffix in (*CODE_SUFFIXES, ".zip") else None


def _single_folder(folder: Path) -> Path:
    """The folder inside, when an archive wraps everything in one folder."""
    inner = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    return inner[0] if len(inner) == 1 and inner[0].is_dir() and not inner[0].is_symlink() else folder


def _is_nbgrader_course(root: Path) -> bool:
    """Whether ``root`` is an nbgrader course folder: a real ``submitted`` folder beside nothing but
    nbgrader's own entries (a student's folder named ``submitted`` in a class download is not one)."""
    submitted = root / "submitted"
    if not submitted.is_dir() or submitted.is_symlink():
        return False
    return all(p.name in _NBGRADER_ENTRIES for p in root.iterdir() if not p.name.startswith((".", "__MACOSX")))


def _nbgrader(submitted: Path, found: Discovery) -> None:
    for student in sorted(p for p in submitted.iterdir() if p.is_dir() and not p.is_symlink()):
        try:
            assignments = sorted(p for p in student.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError as error:
            found.unrecognised.append(f"submitted/{student.name}/: cannot be read ({_first_line(error)})")
            continue
        if len(assignments) == 1:
            found.entries.append(Entry(student.name, assignments[0], "nbgrader"))
        elif not assignments:
            found.unrecognised.append(f"submitted/{student.name}/: no assignment folder inside")
        else:
            for assignment in assignments:
                found.entries.append(Entry(f"{student.name}/{assignment.name}", assignment, "nbgrader"))


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
        entry = Entry(student, folder, layout)
        for path, original in files:
            grouped.add(path)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                stem, suffix = os.path.splitext(original)
                if suffix == ".zip":
                    entry.problems += [f"{path.name}: {item.describe()}" for item in safe_extract(path, folder)]
                else:
                    shutil.copyfile(path, folder / (_RESUBMISSION.sub("", stem) + suffix))
            except UnsafeArchive as error:
                entry.problems.append(str(error))
            except OSError as error:
                entry.problems.append(f"{path.name}: not read ({error.strerror or _first_line(error)})")
        found.entries.append(entry)
    return grouped


def _plain_file(path: Path, scratch: Path, found: Discovery) -> None:
    if path.suffix in CODE_SUFFIXES:
        found.entries.append(Entry(path.stem, path, "plain"))
    elif path.suffix == ".zip":
        folder = scratch / "zips" / path.stem
        try:
            skipped = safe_extract(path, folder)
        except UnsafeArchive as error:
            found.unrecognised.append(str(error))
            return
        found.entries.append(Entry(path.stem, _single_folder(folder), "plain-zip",
                                   [f"{path.name}: {item.describe()}" for item in skipped]))
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
    """Whether the folder holds a file that grading reads."""
    return bool(submission.discover(folder))


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_")


def _reject_duplicates(found: Discovery) -> None:
    """Grade no entry whose id another entry also has: which one is the student's cannot be told (a folder
    ``alice/`` beside ``alice.py``, a plain folder named like an LMS id), so each such id is listed instead."""
    claims: dict[str, list[Entry]] = defaultdict(list)
    for entry in found.entries:
        claims[entry.student].append(entry)
    for student, entries in claims.items():
        if len(entries) > 1:
            shown = ", ".join(f"{entry.path.name} ({entry.layout})" for entry in entries)
            found.unrecognised.append(f"{shown}: {len(entries)} submissions for the id {student}; none graded "
                                      "(keep only the student's own)")
    found.entries = [entry for entry in found.entries if len(claims[entry.student]) == 1]
