"""`autograde grade`: a mixed class, its gradebook, feedback and summary; resume after a kill; shards and merge."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from examples.variants import WRONG_VARIANTS, build_submission
from benchmarks.make_class import as_notebook, make_class
from grader.batch import grade_class
from tests.conftest import ROOT, SEED


def _rows(out):
    with open(out / "grades.csv") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def mixed_class(tmp_path_factory, course):
    root = tmp_path_factory.mktemp("class")
    scratch = tmp_path_factory.mktemp("scratch")
    build_submission(course.solutions, root / "alice")
    wrong = build_submission(course.solutions, scratch / "bob", WRONG_VARIANTS["loss sum"][0])
    (root / "bob.py").write_text("\n".join(
        line for module in ("neuron", "backprop", "autograd_loop", "autograd_basics")
        for line in (wrong / f"{module}.py").read_text().splitlines()
        if not line.startswith(("from neuron import", "from backprop import"))))
    as_notebook(build_submission(course.solutions, scratch / "carol"), root / "carol.ipynb")
    dave = build_submission(course.solutions, scratch / "dave", WRONG_VARIANTS["never zeroed"][0])
    with zipfile.ZipFile(root / "dave.zip", "w") as bundle:
        for path in dave.glob("*.py"):
            bundle.write(path, f"dave/{path.name}")
    build_submission(course.solutions, root / "erin", WRONG_VARIANTS["endless loop"][0])
    build_submission(course.solutions, root / "frank", {"backprop": {"backward": "def backward(x, y, z):\n    import os\n    os._exit(1)\n"}})
    (root / "notes.txt").write_text("not code")
    out = tmp_path_factory.mktemp("grades")
    summary = grade_class(root, course, out, SEED, workers=2, sandbox="process")
    return out, summary


def test_gradebook_has_one_row_per_student_with_points_per_function(mixed_class, course):
    out, _ = mixed_class
    rows = _rows(out)
    assert sorted(rows) == ["alice", "bob", "carol", "dave", "erin", "frank"]
    full = f"{course.max_score:g}"
    assert rows["alice"]["total"] == rows["carol"]["total"] == full
    assert float(rows["bob"]["loss_fn"]) < course.function("loss_fn").max_score
    assert rows["erin"]["detached"] == "0" and float(rows["erin"]["total"]) == course.max_score - 1
    assert rows["frank"]["backward"] == "0" and float(rows["frank"]["total"]) == course.max_score - 2
    assert float(rows["dave"]["learn_autograd"]) < course.function("learn_autograd").max_score


def test_results_and_feedback_files(mixed_class):
    out, _ = mixed_class
    students = json.loads((out / "results.json").read_text())["students"]
    assert {s["id"] for s in students} == {"alice", "bob", "carol", "dave", "erin", "frank"}
    assert {s["seed"] for s in students} == {SEED}
    assert all({"score", "max_score", "tests"} <= set(s) for s in students)
    feedback = (out / "feedback" / "bob.md").read_text()
    assert "sum-instead-of-mean" in feedback and feedback.startswith("# autograde")
    assert "crashed: the process exited with code 1" in (out / "feedback" / "frank.md").read_text()
    endless = (out / "feedback" / "erin.md").read_text()
    assert "did not finish within 1 s (1 s plus 50× the reference's" in endless  # not the course's 5 s


def test_class_summary_counts(mixed_class, course):
    _, summary = mixed_class
    assert summary.count == 6 and summary.errors == 0
    mistakes = dict(summary.mistakes)
    assert mistakes["sum-instead-of-mean"] == 1 and mistakes["grad-accumulation"] == 1 and mistakes["timeout"] == 1
    assert summary.pass_rates["loss_fn"] == pytest.approx(5 / 6)
    assert summary.pass_rates["backward"] == pytest.approx(5 / 6)
    assert summary.unrecognised == ["notes.txt: not a .py, .ipynb, .zip or folder"]
    assert sum(summary.histogram()) == 6 and summary.statistics()["max"] == course.max_score


def _cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "grader", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


def test_resume_after_a_killed_run_grades_only_what_is_missing(tmp_path):
    make_class(tmp_path / "class", 10, notebooks=False)
    out = tmp_path / "grades"
    run = _cli("grade", str(tmp_path / "class"), "--out", str(out), "--workers", "1", "--seed", "11", "--sandbox", "process")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lines = (out / "results.jsonl").read_text().splitlines() if (out / "results.jsonl").exists() else []
        if len(lines) >= 3:
            break
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    finished = [json.loads(line)["id"] for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    assert 3 <= len(finished) < 10
    resumed = _cli("grade", str(tmp_path / "class"), "--out", str(out), "--resume", "--workers", "1", "--sandbox", "process")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    ids = [json.loads(line)["id"] for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 10, "a finished grade was graded again or one is missing"
    assert ids[: len(finished)] == finished
    assert len(_rows(out)) == 10 and {json.loads(line)["seed"] for line in (out / "results.jsonl").read_text().splitlines()} == {11}


def test_shards_merge_into_the_same_gradebook_as_one_run(tmp_path):
    make_class(tmp_path / "class", 6, notebooks=False)
    (tmp_path / "class" / "notes.txt").write_text("not a submission")
    runs = []
    for shard in ("1/2", "2/2"):
        runs.append(_cli("grade", str(tmp_path / "class"), "--out", str(tmp_path / shard.replace("/", "of")),
                         "--shard", shard, "--seed", "3", "--workers", "1", "--sandbox", "process"))
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read()
    whole = _cli("grade", str(tmp_path / "class"), "--out", str(tmp_path / "whole"), "--seed", "3", "--sandbox", "process")
    assert whole.wait(timeout=300) == 0
    merged = _cli("merge", str(tmp_path / "1of2"), str(tmp_path / "2of2"), "--out", str(tmp_path / "merged"))
    assert merged.wait(timeout=60) == 0, merged.stderr.read()
    assert 0 < len(_rows(tmp_path / "1of2")) < 6
    assert (tmp_path / "merged" / "grades.csv").read_text() == (tmp_path / "whole" / "grades.csv").read_text()
    assert len(list((tmp_path / "merged" / "feedback").glob("*.md"))) == 6
    summaries = [json.loads((tmp_path / folder / "summary.json").read_text()) for folder in ("whole", "merged")]
    assert summaries[0]["unrecognised"] == summaries[1]["unrecognised"] and "notes.txt" in summaries[1]["unrecognised"][0]
