"""One student's odd input costs only that student; the rest of the class is graded, class view complete.

Two classes are graded for real, once each: a folder (odd folder names, odd source files and
notebooks, a student's zip with bad members, a zip that is not one) and a zip download (bad members
inside students' folders). In both, honest students get exactly what they get when graded alone,
each odd student is named with a clear message (a warning, or an unrecognised entry), no one hits an
internal error, and the class view still pairs the two students who copied each other (and, in the
folder, groups the two who gave the same wrong answer). Property tests check the readers on any
member name, any Python file, any notebook and any nesting.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.variants import CORRECT_VARIANTS, WRONG_VARIANTS, build_submission
from grader import batch, layouts, pyparse, submission
from grader.batch import UnreadableDownload, grade_class
from tests.conftest import ROOT, SEED

SOLUTIONS = ROOT / "solutions"
MODULES = ("neuron", "backprop", "autograd_loop", "autograd_basics")
COPIED_VARIANT = {"backprop": {**CORRECT_VARIANTS["gradient by matmul"]["backprop"],
                               **CORRECT_VARIANTS["numerical derivative written out"]["backprop"]},
                  **CORRECT_VARIANTS["zero_ instead of None, printing"],
                  **CORRECT_VARIANTS["sum of squares over the list of items"]}
SAME_WRONG_LOSS = [WRONG_VARIANTS["loss sum"][0], {"neuron": {"loss_fn": """
    def loss_fn(y_pred, y):
        squared = (y_pred - y) ** 2
        return torch.sum(squared)
    """}}]
LONG_SUM = " + ".join(["0"] * 450)
ODD_NAMES = ["l" * 254, "new\nline", "ctl\x01\x1b[31mred", "a::error file=x::b=c", "ünïcødé 学生",
             os.fsdecode(b"sur\xff\xferogate")]
STORED, DEFLATED, DEFLATE64 = 0, 8, 9
DEEP = 1200  # folders: deeper than the recursive walks of the stdlib (Path.rglob, os.walk) can go


# --- a zip writer that writes what zipfile will not: any name bytes, flags, methods and damaged data


@dataclass
class Member:
    """One member of a hand-written zip."""

    name: bytes | str
    data: bytes = b"x = 1\n"
    flags: int = 0  # 0x1 encrypted, 0x800 name is UTF-8
    method: int = DEFLATED
    payload: bytes | None = None  # the stored bytes, when not ``data`` compressed by ``method``
    crc: int | None = None


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def zip_bytes(members: list[Member]) -> bytes:
    """A zip archive of the members, exactly as described."""
    body, directory = b"", b""
    for member in members:
        name = member.name.encode() if isinstance(member.name, str) else member.name
        flags = member.flags | (0x800 if isinstance(member.name, str) and not member.name.isascii() else 0)
        payload = member.payload if member.payload is not None else (
            _deflate(member.data) if member.method in (DEFLATED, DEFLATE64) else member.data)
        crc = zlib.crc32(member.data) if member.crc is None else member.crc
        sizes = (crc, len(payload), len(member.data), len(name))
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, member.method, 0, 0x21, *sizes,
                                 0, 0, 0, 0, 0o100644 << 16, len(body)) + name
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, member.method, 0, 0x21, *sizes, 0) + name + payload
    count = len(members)
    return body + directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(directory), len(body), 0)


def honest_members(prefix: str, folder: Path = SOLUTIONS) -> list[Member]:
    """The modules of a submission folder as members under ``prefix``."""
    return [Member(f"{prefix}{module}.py", (folder / f"{module}.py").read_bytes()) for module in MODULES]


def bad_members(prefix: str) -> list[Member]:
    """Every kind of member that cannot be extracted (in MEMBER_REASONS' order), each an extra file beside
    the honest ones; the file ``both.py`` comes first, for the folder of that name to clash with."""
    good = b"def extra():\n    return 1\n"
    return [Member(f"{prefix}both.py", good), *{
        "encrypted": Member(f"{prefix}secret.py", good, flags=0x1),
        "deflate64": Member(f"{prefix}deflate64.py", good, method=DEFLATE64),
        "file and folder": Member(f"{prefix}both.py/inner.py", good),
        "long name": Member(f"{prefix}{'n' * 297}.py", good),
        "duplicate": Member(f"{prefix}neuron.py", b"def model(:\n"),
        "not UTF-8": Member(prefix.encode() + b"caf\xe9\xff.py", good, flags=0x800),
        "NUL": Member(prefix.encode() + b"nul\x00.py", good),
        "bad CRC": Member(f"{prefix}crc.py", good, crc=1),
        "zlib error": Member(f"{prefix}zlib.py", good, payload=b"\xff" * 16),
        "truncated": Member(f"{prefix}cut.py", good * 50, payload=_deflate(good * 50)[:10]),
        "deep": Member(f"{prefix}{'d/' * 100}deep.py", good),
        "bomb": Member(f"{prefix}bomb.py", b"0" * (layouts.MAX_MEMBER_BYTES + 1), payload=_deflate(b"0" * 2**20)),
    }.values()]


MEMBER_REASONS = {
    "encrypted": "secret.py: not extracted from the zip: it is encrypted (password-protected)",
    "deflate64": "deflate64.py: not extracted from the zip: it is compressed with deflate64",
    "file and folder": "both.py/inner.py: not extracted from the zip: a file and a folder of the zip have the same name",
    "long name": ".py: not extracted from the zip: a name in its path is longer than 255 bytes",
    "duplicate": "neuron.py: not extracted from the zip: the zip holds another member of the same name",
    "not UTF-8": "caf\\xe9\\xff.py: not extracted from the zip: its name is not valid UTF-8",
    "NUL": "nul\\x00.py: not extracted from the zip: its name holds a NUL character",
    "bad CRC": "crc.py: not extracted from the zip: it is corrupt or cannot be decompressed (Bad CRC-32",
    "zlib error": "zlib.py: not extracted from the zip: it is corrupt or cannot be decompressed (Error -3",
    "truncated": "cut.py: not extracted from the zip: it is corrupt or cannot be decompressed (Bad CRC-32",
    "deep": "d/deep.py: not extracted from the zip: its path is nested more than 64 folders deep",
    "bomb": "bomb.py: not extracted from the zip: it is larger than 8 MiB, more than grading reads of any file",
}


# --- the folder class


def _notebook(sources: list[str]) -> str:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{index}", "metadata": {}, "outputs": [],
              "source": source} for index, source in enumerate(sources)]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _class_view_students(root: Path) -> None:
    """Two honest copies of the solutions, and two students who copied each other's (right) code."""
    build_submission(SOLUTIONS, root / "alice")
    build_submission(SOLUTIONS, root / "bob")
    build_submission(SOLUTIONS, root / "gil", COPIED_VARIANT)
    build_submission(SOLUTIONS, root / "hal", COPIED_VARIANT)


def build_folder_class(root: Path) -> None:
    """A class folder: the class-view students, two who gave the same wrong loss in different code, odd folder
    names, odd files, a student zip with bad members and a zip that is not one."""
    _class_view_students(root)
    build_submission(SOLUTIONS, root / "wes", SAME_WRONG_LOSS[0])
    build_submission(SOLUTIONS, root / "xia", SAME_WRONG_LOSS[1])
    for name in ODD_NAMES:
        build_submission(SOLUTIONS, root / name)
    build_submission(SOLUTIONS, root / "dave", {"neuron": {"loss_fn": f"""
        def loss_fn(y_pred, y):
            return torch.mean((y_pred - y) ** 2) + ({LONG_SUM})
        """}})
    build_submission(SOLUTIONS, root / "jan")
    (root / "jan" / "deep.py").write_text("x = " + "-" * 5000 + "1\n")
    build_submission(SOLUTIONS, root / "erin")
    (root / "erin" / "parens.py").write_text("x = " + "(" * 250 + "1" + ")" * 250 + "\n")
    build_submission(SOLUTIONS, root / "fay")
    (root / "fay" / "notes.py").write_bytes(b"# caf\xe9\nx = 1\n")
    (root / "gus").mkdir()
    for module in MODULES[1:]:
        shutil.copy(SOLUTIONS / f"{module}.py", root / "gus")
    (root / "gus" / "neuron.ipynb").write_text(_notebook([(SOLUTIONS / "neuron.py").read_text() + "\n# \ud800\n"]))
    build_submission(SOLUTIONS, root / "hana")
    (root / "hana" / "deep.ipynb").write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    build_submission(SOLUTIONS, root / "ivo")
    (root / "ivo" / "odd.ipynb").write_text(json.dumps({"cells": [5, None, {"cell_type": "code", "source": 7}],
                                                        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (_deep_folder(build_submission(SOLUTIONS, root / "mia"), DEEP) / "helper.py").write_text("x = 1\n")
    (root / "kim.zip").write_bytes(zip_bytes(honest_members("") + bad_members("")))
    (root / "lou.zip").write_bytes(b"PK\x03\x04 this zip was cut short")


def _deep_folder(base: Path, depth: int) -> Path:
    """A chain of ``depth`` folders under ``base``, made one at a time (``mkdir(parents=True)`` recurses)."""
    for _ in range(depth):
        base = base / "d"
        base.mkdir()
    return base


def _remove_deep_folder(base: Path, depth: int) -> None:
    """Remove what ``_deep_folder`` made (as far as it got), from the bottom: pytest's ``shutil.rmtree`` of
    old temporary folders would recurse too deep for it."""
    folders = [folder for folder in (base.joinpath(*["d"] * level) for level in range(1, depth + 1)) if folder.is_dir()]
    for folder in reversed(folders):
        for path in folder.iterdir():
            if path.is_file():
                path.unlink()
        folder.rmdir()


@pytest.fixture(scope="module")
def folder_class(tmp_path_factory, course):
    """The folder class graded once: the summary, each student's record, and the class folder."""
    root = tmp_path_factory.mktemp("odd-folder-class")
    try:
        build_folder_class(root)
        out = tmp_path_factory.mktemp("odd-folder-grades")
        summary = grade_class(root, course, out, SEED, workers=1, sandbox="process")
        records = {record["id"]: record for record in json.loads((out / "results.json").read_text())["students"]}
        yield summary, records, root
    finally:
        _remove_deep_folder(root / "mia", DEEP)


def _warnings(records: dict, student: str) -> str:
    return "\n".join(records[student]["warnings"])


def test_folder_class_nobody_hits_an_internal_error(folder_class):
    summary, records, _ = folder_class
    assert summary.internal_errors == {}
    assert not any(record.get("internal_error") for record in records.values())
    assert len(records) == summary.count == 21


def test_honest_students_score_what_they_score_alone(folder_class, session, course):
    _, records, root = folder_class
    for student in ("gil", "wes"):
        assert records[student]["score"] == session.grade(root / student).score
    full_marks = ["alice", "bob", "gil", "hal", *ODD_NAMES, "dave", "jan", "erin", "hana", "ivo", "mia", "kim"]
    assert {student: records[student]["score"] for student in full_marks} == dict.fromkeys(full_marks, course.max_score)
    assert records["wes"]["score"] == records["xia"]["score"] < course.max_score


def test_folder_class_view_is_complete(folder_class):
    summary, _, _ = folder_class
    assert [pair.students for pair in summary.similar_code] == [("gil", "hal")]
    assert [(cluster.function, cluster.students, cluster.mistake) for cluster in summary.clusters] == [
        ("loss_fn", ["wes", "xia"], "sum-instead-of-mean")]
    assert summary.not_compared == {"dave": "loss_fn was not compared: its code is nested too deeply to tokenise"}
    assert summary.as_dict()["not_compared"] == summary.not_compared


def test_odd_files_are_named_in_the_students_warnings(folder_class, course):
    _, records, _ = folder_class
    assert "deep.py cannot be parsed: the code is nested too deeply for Python's parser" in _warnings(records, "jan")
    assert "syntax error at parens.py:1: too many nested parentheses" in _warnings(records, "erin")
    assert "notes.py is not UTF-8 text (byte 5); save it as UTF-8" in _warnings(records, "fay")
    assert ("neuron.ipynb is not read: cell 1, line 104 holds '\\ud800', a lone surrogate" in _warnings(records, "gus"))
    assert "deep.ipynb is not a readable notebook (RecursionError" in _warnings(records, "hana")
    assert "odd.ipynb is not a readable notebook" in _warnings(records, "ivo")
    neuron = {spec.name for spec in course.functions if spec.module == "neuron"}
    gus = [test for test in records["gus"]["tests"] if test["function"] in neuron]
    assert gus and all(test["status"] == "error" and "neuron.ipynb is not read" in test["message"] for test in gus)


def test_a_students_zip_loses_only_its_bad_members(folder_class):
    summary, records, _ = folder_class
    warnings = records["kim"]["warnings"]
    assert len(warnings) == len(MEMBER_REASONS)
    for reason in MEMBER_REASONS.values():
        assert sum(warning.startswith("kim.zip: ") and reason in warning for warning in warnings) == 1, reason
    assert summary.unrecognised == ["lou.zip is not a readable zip (BadZipFile: File is not a zip file)"]


# --- the zip download


ZIP_PROBLEMS = {  # student -> the member that cannot be extracted from their folder, and the reason given
    "carl": (Member("submissions/carl/neuron.py", (SOLUTIONS / "neuron.py").read_bytes(), flags=0x1),
             "submissions/carl/neuron.py: not extracted from the zip: it is encrypted"),
    "dan": (Member("submissions/dan/backprop.py", (SOLUTIONS / "backprop.py").read_bytes(), method=DEFLATE64),
            "submissions/dan/backprop.py: not extracted from the zip: it is compressed with deflate64"),
    "ed": (Member("submissions/ed/x.py/y.py"), "submissions/ed/x.py/y.py: not extracted from the zip: a file and a "
                                               "folder of the zip have the same name"),  # after the file x.py
    "fred": (Member(f"submissions/fred/{'n' * 297}.py"), "longer than 255 bytes"),
    "gina": (Member("submissions/gina/neuron.py", b"def model(:\n"),
             "submissions/gina/neuron.py: not extracted from the zip: the zip holds another member of the same name"),
    "hugo": (Member(b"submissions/hugo/\xff\xfe.py", flags=0x800),
             "submissions/hugo/\\xff\\xfe.py: not extracted from the zip: its name is not valid UTF-8"),
    "ian": (Member(b"submissions/ian/a\x00.py"), "submissions/ian/a\\x00.py: not extracted from the zip: its name "
                                                 "holds a NUL character"),
    "jon": (Member("submissions/jon/autograd_loop.py", (SOLUTIONS / "autograd_loop.py").read_bytes(), crc=7),
            "submissions/jon/autograd_loop.py: not extracted from the zip: it is corrupt or cannot be decompressed "
            "(Bad CRC-32"),
    "kai": (Member("submissions/kai/backprop.py", b"x = 1\n", payload=b"\xff" * 16),
            "submissions/kai/backprop.py: not extracted from the zip: it is corrupt"),
}
LOSES_A_MODULE = {"carl": "neuron", "dan": "backprop", "jon": "autograd_loop", "kai": "backprop"}


@pytest.fixture(scope="module")
def zip_class(tmp_path_factory, course):
    """The zip download graded once: the summary and each student's record."""
    folder = tmp_path_factory.mktemp("odd-zip-sources")
    _class_view_students(folder)
    members = [member for student in ("alice", "bob", "gil", "hal")
               for member in honest_members(f"submissions/{student}/", folder / student)]
    for student, (odd, _) in ZIP_PROBLEMS.items():
        honest = honest_members(f"submissions/{student}/")
        if student in LOSES_A_MODULE:  # the odd member replaces the honest one of its name
            honest = [member for member in honest if member.name != odd.name]
        members += honest + [Member("submissions/ed/x.py")] * (student == "ed") + [odd]
    members.append(Member("../evil.py"))
    download = tmp_path_factory.mktemp("odd-zip-class") / "download.zip"
    download.write_bytes(zip_bytes(members))
    out = tmp_path_factory.mktemp("odd-zip-grades")
    summary = grade_class(download, course, out, SEED, workers=1, sandbox="process")
    records = {record["id"]: record for record in json.loads((out / "results.json").read_text())["students"]}
    return summary, records


def test_zip_class_every_student_is_graded_and_the_odd_ones_are_told_why(zip_class, course):
    summary, records = zip_class
    assert summary.internal_errors == {} and set(records) == {"alice", "bob", "gil", "hal", *ZIP_PROBLEMS}
    for student, (_, reason) in ZIP_PROBLEMS.items():
        assert any(reason in warning for warning in records[student]["warnings"]), (student, records[student]["warnings"])
    full_marks = {student for student in records if student not in LOSES_A_MODULE}
    assert {student: records[student]["score"] for student in full_marks} == dict.fromkeys(full_marks, course.max_score)
    for student, module in LOSES_A_MODULE.items():
        lost = {spec.name for spec in course.functions if spec.module == module}
        assert 0 < records[student]["score"] < course.max_score
        assert all(points == 0 for name, points in records[student]["functions"].items() if name in lost)
    assert summary.unrecognised == ["../evil.py: not extracted from the zip: its path leads outside the folder "
                                    "(absolute, or with '..')"]
    assert [pair.students for pair in summary.similar_code] == [("gil", "hal")]


def test_a_download_that_cannot_be_read_is_refused_with_its_reason(tmp_path, course):
    download = tmp_path / "download.zip"
    download.write_bytes(zip_bytes(honest_members("alice/"))[:300])
    with pytest.raises(UnreadableDownload, match=r"download.zip is not a readable zip \(BadZipFile: .*\): nothing was graded"):
        grade_class(download, course, tmp_path / "out", SEED, workers=1, sandbox="process")
    assert not (tmp_path / "out").exists()


def test_a_bad_loose_file_of_an_lms_download_goes_to_its_student(tmp_path):
    download = tmp_path / "canvas.zip"
    download.write_bytes(zip_bytes([Member("doejane_12345_900001_neuron.py", flags=0x1),
                                    Member("doejane_12345_900002_backprop.py"),
                                    Member("smithbob_67890_900003_neuron.py", method=DEFLATE64)]))
    found = layouts.discover(download, tmp_path / "scratch")
    (jane,) = found.entries
    assert (jane.student, jane.problems) == ("doejane_12345", [
        "doejane_12345_900001_neuron.py: not extracted from the zip: it is encrypted (password-protected); zip it "
        "again without a password"])
    assert found.unrecognised == ["smithbob_67890_900003_neuron.py: not extracted from the zip: it is compressed "
                                  "with deflate64, which cannot be read here; zip it again with ordinary deflate"]


def test_what_is_neither_file_nor_folder_is_listed_and_a_file_is_no_download(tmp_path):
    root = tmp_path / "class"
    build_submission(SOLUTIONS, root / "alice")
    os.mkfifo(root / "pipe.py")
    found = layouts.discover(root, tmp_path / "scratch")
    assert [entry.student for entry in found.entries] == ["alice"]
    assert found.unrecognised == ["pipe.py: not a file or a folder (a device, a pipe or a socket)"]
    alone = layouts.discover(root / "alice" / "neuron.py", tmp_path / "scratch2")
    assert alone.entries == [] and alone.unreadable.startswith("neuron.py cannot be read (NotADirectoryError")


def test_an_odd_student_id_has_a_shard():
    assert sum(batch.Shard(index, 3).owns(ODD_NAMES[-1]) for index in (1, 2, 3)) == 1


# --- properties of the readers: any input gets a verdict, never an exception


def _written_files(folder: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in folder.rglob("*") if path.is_file() and not path.is_symlink()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.binary(min_size=0, max_size=300), utf8=st.booleans(),
       method=st.sampled_from([STORED, DEFLATED, DEFLATE64, 12, 14, 99]), encrypted=st.booleans())
def test_any_member_of_a_class_zip_gets_a_verdict(name, utf8, method, encrypted):
    marker = b"# the odd member's own text\n"
    odd = Member(name, marker, flags=(0x800 if utf8 else 0) | (0x1 if encrypted else 0), method=method,
                 payload=None if method in (DEFLATED, DEFLATE64) else marker)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        download = folder / "class.zip"
        download.write_bytes(zip_bytes(honest_members("alice/") + honest_members("bob/") + [odd]))
        found = layouts.discover(download, folder / "scratch")
        assert not found.unreadable
        entries = {entry.student: entry for entry in found.entries}
        for student in ("alice", "bob"):
            assert {path.name for path in submission.discover(entries[student].path)} >= {f"{m}.py" for m in MODULES}
        written = _written_files(folder)
        del written[str(download)]
        assert all(path.startswith(str(folder / "scratch") + os.sep) for path in written)  # nothing outside the scratch
        told = [*found.unrecognised, *(problem for entry in found.entries for problem in entry.problems)]
        extracted = marker in written.values()
        directory = name.endswith(b"/") or not name.strip(b"/")  # a folder, or nothing: no text to lose
        assert extracted or told or directory or name.startswith(b"__MACOSX/")


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=400) | st.text(max_size=400).map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_any_python_file_is_read_or_named_as_a_problem(raw):
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "student"
        folder.mkdir()
        (folder / "neuron.py").write_bytes(raw)
        code = submission.load(folder, {"model"}, Path(temporary) / "stage")
        (source,) = code.files
        assert (source.tree is None) == (source.problem is not None)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)
cells = st.fixed_dictionaries({"cell_type": st.sampled_from(["code", "markdown"]),
                               "source": st.text(max_size=60) | st.lists(st.text(max_size=20), max_size=3) | json_values})


@settings(max_examples=150, deadline=None)
@given(notebook=st.fixed_dictionaries({"cells": st.lists(cells | json_values, max_size=4), "metadata": json_values,
                                       "nbformat": st.sampled_from([4, 3, 5, "4"]), "nbformat_minor": st.integers(0, 5)})
       | json_values)
def test_any_notebook_is_read_or_named_as_a_problem(notebook):
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / "homework.ipynb"
        path.write_text(json.dumps(notebook))
        code = submission.load(path, {"model"}, Path(temporary) / "stage")
        (source,) = code.files
        assert (source.tree is None) == (source.problem is not None)
        assert source.tree is not None or "homework.ipynb" in source.problem


@given(st.text(max_size=300) | st.builds(lambda depth, part: "x = " + part * depth + "1", st.integers(0, 20_000),
                                          st.sampled_from(["-", "not ", "(", "[", "~", "await "])))
@settings(max_examples=100, deadline=None)
def test_the_parser_gives_a_tree_or_a_syntax_error(text):
    try:
        pyparse.parse(text)
    except SyntaxError as error:
        assert error.msg
