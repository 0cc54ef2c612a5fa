"""What a child leaves is removed however it is nested, and nothing outside is touched."""

from __future__ import annotations

import os

from grader.worker import cleanup


def test_a_tree_deeper_than_the_recursion_limit_and_path_max_is_removed(tmp_path):
    folder = tmp_path / "left"
    folder.mkdir()
    here = os.getcwd()
    os.chdir(folder)
    try:
        for _ in range(3_000):  # 3,000 levels: past Python's recursion limit and PATH_MAX
            os.mkdir("d")
            os.chdir("d")
        open("file", "w").close()
        os.mkdir("locked")
        os.chmod("locked", 0)
    finally:
        os.chdir(here)
    cleanup.empty(str(folder))
    assert os.listdir(folder) == []


def test_links_out_of_the_folder_are_removed_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("the instructor's")
    folder = tmp_path / "left"
    folder.mkdir()
    (folder / "link").symlink_to(outside)
    (folder / "file-link").symlink_to(outside / "keep.txt")
    cleanup.remove(str(folder))
    assert not folder.exists() and (outside / "keep.txt").read_text() == "the instructor's"


def test_past_its_time_cleanup_gives_up_and_says_so(tmp_path):
    """Millions of files must not hold a worker: past its time the walk stops (the worker then retires)."""
    folder = tmp_path / "left"
    folder.mkdir()
    for index in range(100):
        (folder / f"file{index}").touch()
    try:
        cleanup.empty(str(folder), seconds=0.0)
    except cleanup.CleanupFailed as failure:
        assert "in time" in str(failure)
    else:
        raise AssertionError("an empty() past its time went on")
