"""Class downloads in every layout are recognised, with the right student ids; nothing is silently skipped."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from grader.layouts import UnsafeArchive, discover, safe_extract


def _write(path: Path, text: str = "def model(X, W, b):\n    return X\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _ids(found) -> dict[str, str]:
    return {entry.student: entry.layout for entry in found.entries}


def test_plain_layout_with_files_zips_and_unrecognised_entries(tmp_path):
    root = tmp_path / "class"
    _write(root / "alice" / "neuron.py")
    _write(root / "bob.py")
    _write(root / "carol.ipynb", "{}")
    with zipfile.ZipFile(root / "dave.zip", "w") as bundle:
        bundle.writestr("dave/neuron.py", "x = 1\n")
    _write(root / "notes.txt", "hello")
    (root / "empty").mkdir()
    found = discover(root, tmp_path / "scratch")
    assert _ids(found) == {"alice": "plain", "bob": "plain", "carol": "plain", "dave": "plain-zip"}
    assert (next(e for e in found.entries if e.student == "dave").path / "neuron.py").is_file()
    assert sorted(found.unrecognised) == ["empty/: no .py or .ipynb file inside", "notes.txt: not a .py, .ipynb, .zip or folder"]


def test_github_classroom_folders(tmp_path):
    root = tmp_path / "class"
    for user in ("octocat", "hubot", "mona-lisa"):
        _write(root / f"autograd-hw-{user}" / "neuron.py")
    assert _ids(discover(root, tmp_path / "s")) == {"octocat": "github-classroom", "hubot": "github-classroom",
                                                    "mona-lisa": "github-classroom"}


def test_nbgrader_submitted_folder(tmp_path):
    root = tmp_path / "course"
    _write(root / "submitted" / "alice" / "ps1" / "ps1.ipynb", "{}")
    _write(root / "submitted" / "bob" / "ps1" / "neuron.py")
    found = discover(root, tmp_path / "s")
    assert _ids(found) == {"alice": "nbgrader", "bob": "nbgrader"}
    assert found.entries[0].path.name == "ps1"


def test_canvas_download_zip_groups_files_and_restores_names(tmp_path):
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as bundle:
        bundle.writestr("doejane_12345_900001_neuron.py", "from backprop import x\n")
        bundle.writestr("doejane_12345_900002_backprop-1.py", "x = 1\n")
        bundle.writestr("smithbob_LATE_67890_900003_solution.ipynb", "{}")
    found = discover(download, tmp_path / "s")
    assert _ids(found) == {"doejane_12345": "canvas", "smithbob_67890": "canvas"}
    jane = next(e for e in found.entries if e.student == "doejane_12345").path
    assert sorted(p.name for p in jane.iterdir()) == ["backprop.py", "neuron.py"]


def test_moodle_folders_and_loose_files(tmp_path):
    root = tmp_path / "moodle"
    _write(root / "Jane Doe_1234567_assignsubmission_file_" / "neuron.py")
    _write(root / "Bob Smith_7654321_assignsubmission_file_backprop.py")
    assert _ids(discover(root, tmp_path / "s")) == {"Jane_Doe_1234567": "moodle", "Bob_Smith_7654321": "moodle"}


@pytest.mark.parametrize("member", ["../evil.py", "/abs/evil.py", "a/../../evil.py"])
def test_zip_entries_cannot_escape_the_extraction_folder(tmp_path, member):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(member, "x = 1\n")
        bundle.writestr("student/neuron.py", "x = 1\n")
    (skipped,) = safe_extract(archive, tmp_path / "out")
    assert (skipped.name, skipped.reason) == (member, "its path leads outside the folder (absolute, or with '..')")
    assert not (tmp_path / "evil.py").exists() and not list(tmp_path.glob("**/evil.py"))
    assert (tmp_path / "out" / "student" / "neuron.py").is_file()


def test_symlinked_entries_are_listed_not_followed(tmp_path):
    root = tmp_path / "class"
    _write(root / "alice" / "neuron.py")
    (root / "mallory").symlink_to(tmp_path)
    found = discover(root, tmp_path / "s")
    assert _ids(found) == {"alice": "plain"}
    assert found.unrecognised == ["mallory: a symbolic link; not followed"]


def test_zip_with_a_symlink_member_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        member = zipfile.ZipInfo("student/neuron.py")
        member.external_attr = (0o120777 << 16)
        bundle.writestr(member, "/etc/passwd")
    (skipped,) = safe_extract(archive, tmp_path / "out")
    assert skipped.reason == "it is a symbolic link"
    assert not (tmp_path / "out" / "student" / "neuron.py").exists()


def test_a_zip_that_is_not_one_is_refused_whole(tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UnsafeArchive, match="broken.zip is not a readable zip"):
        safe_extract(archive, tmp_path / "out")
