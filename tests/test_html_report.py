"""The class report (report.html): built from a graded class and from synthetic records, escaped,
small for 200 students, and loaded in a real headless Chromium without console errors."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import numpy
import pytest
from click.testing import CliRunner
from PIL import Image

from grader import class_summary, cli, gradebook, results
from grader.reporters import graph_figure, html, terminal
from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EVIL = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """The README's example class, graded once by `autograde grade` (which writes the report)."""
    out = tmp_path_factory.mktemp("class") / "grades"
    result = CliRunner().invoke(cli.main, ["grade", str(ROOT / "examples" / "class"), "--out", str(out),
                                           "--sandbox", "process", "--seed", "5", "--workers", "2",
                                           "--assignment", str(ROOT / "assignment.toml")])
    assert result.exit_code == 0, result.output
    return out


def synthetic_class(course, count: int, seed: int = 1) -> tuple[dict[str, dict], dict[str, str]]:
    """Records and Markdown feedback of ``count`` students: random failures, mistakes and trajectories."""
    rng = random.Random(seed)
    mistakes = ["sum-instead-of-mean", "missing-factor-2", "grad-accumulation"]
    records, feedback = {}, {}
    for index in range(count):
        student = f"student-{index:03d}" if index else EVIL
        tests = []
        for spec in course.functions:
            wrong = rng.random() < 0.15
            mistake = rng.choice(mistakes) if wrong and rng.random() < 0.7 else None
            message = f"{spec.name}(X): values differ {EVIL}" if wrong else ""
            tests.append(results.TestResult(f"{spec.name}: returns what the reference returns", spec.name, "returns",
                                    spec.max_score, results.FAIL if wrong else results.PASS, message, mistake,
                                    details=["call:     f(X)", "got:      tensor([1.0, 2.0])", "expected: tensor([1.0, 4.0])"]))
        result = results.SubmissionResult(student, 5, tests)
        record = gradebook.student_record(student, result, course.max_score)
        drift = 0.05 if student == EVIL else 0.0 if rng.random() < 0.6 else rng.choice([1e-3, 1e-2])
        expected = [[1.0 + 0.01 * epoch, 1.0 - 0.02 * epoch, -0.01 * epoch] for epoch in (1, 2, 3, 12)]
        record["trajectories"] = {"learn": {"labels": ["max_epochs=1", "max_epochs=2", "max_epochs=3", "max_epochs=12"],
                                            "got": [[v * (1 + drift * epoch) for v in values]
                                                    for epoch, values in enumerate(expected, 1)],
                                            "expected": expected}}
        records[student] = record
        feedback[student] = terminal.render(result, markdown=True)
    return records, feedback


def build(course, records: dict[str, dict], feedback: dict[str, str]) -> str:
    return html.render(records, class_summary.summarise(records, course, []), course, {"seed": 5}, feedback)


def test_grade_writes_a_report_of_the_class(graded):
    text = (graded / html.REPORT_FILE).read_text(encoding="utf-8")
    for student in ("ada", "emma", "hana"):
        assert f">{student}</a>" in text
    assert "sum-instead-of-mean" in text and "Score distribution" in text and "Pass rate per function" in text
    assert "expected:</span> tensor(0.179801, dtype=float32)" in text  # emma's block, as she reads it
    assert "Training trajectories" in text
    assert "One-edit repairs" in text and "<code>.sum() → .mean()</code>" in text  # emma's loss_fn, repaired by one edit
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched from elsewhere


def test_report_command_rebuilds_it_without_grading(graded, tmp_path):
    copy = tmp_path / "grades"
    shutil.copytree(graded, copy)
    (copy / html.REPORT_FILE).unlink()
    result = CliRunner().invoke(cli.main, ["report", str(copy), "--assignment", str(ROOT / "assignment.toml")])
    assert result.exit_code == 0, result.output
    assert ">emma</a>" in (copy / html.REPORT_FILE).read_text(encoding="utf-8")
    empty = CliRunner().invoke(cli.main, ["report", str(tmp_path), "--assignment", str(ROOT / "assignment.toml")])
    assert empty.exit_code == 2 and "not an output folder" in empty.output


def test_merge_writes_the_report_of_the_merged_folder(graded, tmp_path):
    merged = tmp_path / "merged"
    result = CliRunner().invoke(cli.main, ["merge", str(graded), "--out", str(merged),
                                           "--assignment", str(ROOT / "assignment.toml")])
    assert result.exit_code == 0, result.output
    text = (merged / html.REPORT_FILE).read_text(encoding="utf-8")
    assert ">emma</a>" in text and "expected:</span> tensor(0.179801, dtype=float32)" in text


def test_student_data_is_escaped(course):
    records, feedback = synthetic_class(course, 6)
    text = build(course, records, feedback)
    assert EVIL not in text and "alert(" in text
    assert "&lt;script&gt;alert('x')&lt;/script&gt;</text>" in text  # the legend of the trajectory plot
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert text.count("<script") == 1  # the report's own sorting script, nothing else
    without_feedback = html.render(records, class_summary.summarise(records, course, []), course, {}, {})
    assert EVIL not in without_feedback and "values differ &lt;script&gt;" in without_feedback


def test_clusters_and_similar_code_are_shown_when_present(course):
    records, feedback = synthetic_class(course, 4)
    students = sorted(records)
    text = html.render(records, class_summary.summarise(records, course, []), course, {}, feedback)
    assert "Identical wrong answers" not in text and "Most similar code" not in text
    summary = class_summary.summarise(records, course, [])
    summary.as_dict = lambda: {"clusters": [{"function": "loss_fn", "students": students[:2], "mistake": "missing-factor-2",
                                             "description": EVIL}],
                               "similar_code": [{"students": students[2:4], "similarity": 0.93, "functions": ["gradient"]}]}
    text = html.render(records, summary, course, {}, feedback)
    assert "Identical wrong answers" in text and "Most similar code" in text and "93%" in text
    assert EVIL not in text


def test_a_report_for_200_students_stays_small(course, tmp_path):
    records, feedback = synthetic_class(course, 200)
    text = build(course, records, feedback)
    assert len(text.encode()) < 5_000_000
    assert text.count("class=\"student card\"") == 200


def test_identical_graphs_are_drawn_once_a_report(course, monkeypatch):
    records, _ = synthetic_class(course, 40)
    graph = {"roots": [{"output": 0, "requires_grad": True, "node": 0}], "nodes": [{"name": "MeanBackward0"}],
             "edges": [], "cuts": [], "missing": []}
    cut = {**graph, "roots": [{"output": 0, "requires_grad": False}], "cuts": [{"operation": ".item()", "node": 0}]}
    for index, record in enumerate(records.values()):
        record["tests"][0].update(status=results.FAIL, graphs={"yours": cut if index % 10 else graph, "reference": graph})
    drawn = []
    monkeypatch.setattr(graph_figure, "figure", lambda graphs: drawn.append(graphs) or "<svg>graphs</svg>")
    summary = class_summary.summarise(records, course, [])
    assert build(course, records, {}).count("<svg>graphs</svg>") == 40 and len(drawn) == 2
    assert html.render(records, summary, course, {}, {}).count("<svg>graphs</svg>") == 40 and len(drawn) == 4  # per report


def chromium(*arguments: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *arguments],
                          capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    """What the page logged to its console (errors included), from Chromium's log."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's chromium)")
def test_chromium_shows_the_report_without_console_errors(graded, course, tmp_path):
    report = graded / html.REPORT_FILE
    shot = tmp_path / "report.png"
    run = chromium(f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri(), profile=tmp_path / "profile")
    assert shot.exists(), run.stderr[-2000:]
    assert console_messages(run.stderr) == []
    pixels = numpy.asarray(Image.open(shot).convert("RGB"), dtype=float) / 255
    background = pixels[5, 5]
    assert (abs(pixels - background).sum(axis=-1) > 0.1).mean() > 0.05  # plots and text, not an empty page
    assert pixels.std() > 0.05

    # sorting by score puts the lowest first (the student table's script runs)
    sorted_copy = tmp_path / "sorted.html"
    sorted_copy.write_text(report.read_text(encoding="utf-8").replace("</body>", SORT_BY_SCORE + "</body>"), encoding="utf-8")
    dom = chromium("--dump-dom", sorted_copy.as_uri(), profile=tmp_path / "profile")
    assert console_messages(dom.stderr) == []
    assert re.search(r'data-order="([^"]*)"', dom.stdout).group(1).split(",")[0] == "emma"

    records, feedback = synthetic_class(course, 200)
    large = tmp_path / "large.html"
    large.write_text(build(course, records, feedback), encoding="utf-8")
    dom = chromium("--dump-dom", large.as_uri(), profile=tmp_path / "profile")
    assert console_messages(dom.stderr) == [] and "student-199" in dom.stdout


SORT_BY_SCORE = """<script>
document.querySelectorAll("table.sortable th")[1].click();
document.body.dataset.order = Array.from(document.querySelectorAll("table.sortable tbody td:first-child"))
  .map(function (cell) { return cell.dataset.value; }).join(",");
</script>"""
