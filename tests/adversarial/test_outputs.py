"""Student-controlled text in every output the instructor or a CI opens: ids from folder names,
exception messages, printed output. Each test is one attack; each asserts the output is inert
(no formula, no forged heading, no terminal escape, no forged workflow command, valid XML, a
writable file name) and that the honest content is still there."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import xml.etree.ElementTree as ElementTree

import junitparser
import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from examples.variants import WRONG_VARIANTS, build_submission
from grader import gradebook, textsafe
from grader.class_summary import Summary
from grader.cli import main
from grader.clusters import Cluster
from grader.reporters import classroom, github, gradescope, json_report, junit, terminal, workflow_commands
from grader.reporters import html as html_report
from grader.reporters import summary as summary_report
from grader.results import FAIL, NOT_IMPLEMENTED, PASS, SubmissionResult
from grader.results import TestResult as CheckResult  # a name pytest does not collect
from tests.conftest import ROOT, SEED

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Any code point (controls and lone surrogates too), mixed with the pieces attacks are made of, so that
# the examples do put "::" or a fence at the start of a line.
ATTACK_PIECES = ["::", "##[", "```", "`", "\n", "\r", " ", "\t", "\u3000", "\ufeff", "\x1b", "\x00", "\x0c", "\ufffe", "=", "#"]
ANY_TEXT = st.lists(st.sampled_from(ATTACK_PIECES) | st.characters(exclude_categories=()), max_size=40).map("".join)
FORGED = "::error title=forged::x"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")  # what no text output may hold
FENCE_BREAKER = "boom ```\n# Forged heading\n````\n## Another forged heading"
ASSIGNMENT = ["--assignment", str(ROOT / "assignment.toml")]
SUM_LOSS = WRONG_VARIANTS["loss sum"][0]
HOSTILE_LOSS = {"neuron": {"loss_fn": '''
def loss_fn(y_pred, y):
    print("::error title=forged::printed")
    print("   ::warning::indented ##[error]legacy")
    print("\\x1b[2J\\x1b]0;pwned\\x07 screen cleared")
    print("nul\\x00 and form\\x0cfeed")
    raise ValueError("boom ```\\n# Forged heading\\n::error::from the message\\n````")
'''}}


def forged_commands(text: str) -> list[str]:
    """The lines a GitHub Actions runner would take for a workflow command: ``::`` after leading
    whitespace, or the legacy ``##[`` anywhere (the runner splits lines at CR and LF)."""
    return [line for line in re.split(r"\r\n|\r|\n", text) if line.lstrip().startswith("::") or "##[" in line]


def outside_code_blocks(markdown: str) -> list[str]:
    """The lines of a Markdown document outside fenced code blocks, by CommonMark's rules for backtick
    fences: opened by 3+ backticks (indented at most 3 spaces), closed by a line of at least as many."""
    outside, fence = [], None
    for line in markdown.split("\n"):
        if fence is None:
            opening = re.match(r" {0,3}(`{3,})[^`]*$", line)
            if opening:
                fence = opening.group(1)
            else:
                outside.append(line)
        elif (closing := re.fullmatch(r" {0,3}(`{3,})[ \t]*", line)) and len(closing.group(1)) >= len(fence):
            fence = None
    return outside


def result_with(message: str = "values differ", output: str = "", submission: str = "alice",
                warnings: list[str] | None = None, location: str = "neuron.py:3") -> SubmissionResult:
    """A graded submission with one passing and one failing check carrying the given student text."""
    tests = [CheckResult("model: returns", "model", "returns", 1.0, PASS),
             CheckResult("loss_fn: returns", "loss_fn", "returns", 2.0, FAIL, message=message, details=["got: 1"],
                        output=output, file=f"{submission}/neuron.py", line=3, location=location)]
    return SubmissionResult(submission, SEED, tests, warnings or [])


def summary_with(students: list[str], unrecognised: list[str]) -> Summary:
    """A class summary naming ``students`` in a cluster, a similar pair and an internal error."""
    cluster = Cluster(function="loss_fn", students=students, mistake="sum-instead-of-mean", description="tensor(2.1)")
    return Summary(count=len(students), max_score=3.0, scores=[1.0] * len(students), pass_rates={"loss_fn": 0.0},
                   mistakes=[("sum-instead-of-mean", len(students))], clusters=[cluster],
                   internal_errors={students[0]: "Traceback\n::error::in the error\nValueError: x"},
                   unrecognised=unrecognised)


# CSV: a student id that a spreadsheet would run as a formula

def _csv_rows(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_a_formula_id_is_text_in_every_gradebook_writer(tmp_path):
    records = {student: {"id": student, "score": 1.5, "max_score": 3.0, "functions": {"loss_fn": 1.5}}
               for student in ("=HYPERLINK(\"http://evil\",\"x\")", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "alice")}
    gradebook.write_all(tmp_path, records, ["loss_fn"])
    written = _csv_rows(tmp_path / "grades.csv")
    gradebook.rewrite_sorted(tmp_path, ["loss_fn"])
    rewritten = _csv_rows(tmp_path / "grades.csv")
    for rows in (written, rewritten):
        assert rows[0][:4] == ["id", "total", "max", "loss_fn"]
        ids = [row[0] for row in rows[1:]]
        assert not [cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS)]
        assert "'=HYPERLINK(\"http://evil\",\"x\")" in ids and "'-2+3" in ids and "alice" in ids
        assert all(row[1:4] == ["1.5", "3", "1.5"] for row in rows[1:])  # the points stay numbers


def test_numbers_stay_numbers_and_every_text_cell_is_neutralised():
    assert gradebook.cells(["=1+1", -1.0, 2, 0.5, "-3", "a note"]) == ["'=1+1", "-1", "2", "0.5", "'-3", "a note"]


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_no_csv_cell_starts_a_formula_or_a_line(student):
    line = io.StringIO()
    csv.writer(line).writerow(gradebook.row({"id": student, "score": 1.0, "max_score": 2.0, "functions": {}}, ["f"]))
    assert line.getvalue().count("\n") == 1 and forged_commands(line.getvalue()) == []  # one line, no workflow command
    cell = next(csv.reader(io.StringIO(line.getvalue())))[0]
    assert not cell.startswith(FORMULA_STARTS + textsafe.FORMULA_STARTS)
    shown = workflow_commands.neutralise(textsafe.one_line(student))
    assert cell in (shown, "'" + shown)  # the id is all there, only made visible


# Markdown: an exception message that closes the code fence and forges headings

def test_a_fence_closing_message_stays_inside_its_code_block():
    feedback = terminal.render(result_with(message=FENCE_BREAKER, output="````` and ``````` in the output"), markdown=True)
    outside = outside_code_blocks(feedback)
    assert not [line for line in outside if "Forged" in line]
    assert "# Forged heading" in feedback and "````` and ```````" in feedback  # shown, as text
    assert [line for line in outside if line.startswith("#")] == ["# autograde: alice", "## Failures",
                                                                   "### loss_fn: returns (neuron.py:3)", "## Short summary"]


def test_the_html_report_keeps_a_fence_breaker_in_its_block(course):
    feedback = terminal.render(result_with(message=FENCE_BREAKER), markdown=True)
    shown = html_report._markdown(feedback, {})
    assert "<h4>Forged" not in shown and "<h5>Forged" not in shown and "<h4>Another" not in shown
    block = re.search(r'<pre class="block">(.*?)</pre>', shown, re.S).group(1)
    assert "# Forged heading" in block and "## Another forged heading" in block


def test_one_line_fields_cannot_start_a_markdown_line():
    feedback = terminal.render(result_with(submission="x\n## Forged from the folder name",
                                           warnings=["y\n# Forged from a warning"], location="z.py\n# Forged:3"),
                               markdown=True)
    assert not [line for line in outside_code_blocks(feedback) if line.lstrip().startswith("# Forged")
                or line.startswith("## Forged")]
    assert "x\\n## Forged from the folder name" in feedback


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT, ANY_TEXT)
def test_no_message_or_output_closes_its_fence(message, output):
    assume(NOT_IMPLEMENTED not in message)  # that message is a stub's: listed apart, not as a failure
    feedback = terminal.render(result_with(message=message, output=output), markdown=True)
    outside = outside_code_blocks(feedback)
    assert outside[:2] == ["# autograde: alice", f"random inputs seed: {SEED} (rerun with --seed {SEED} to get the same inputs)"]
    assert "### loss_fn: returns (neuron.py:3)" in outside and "## Short summary" in outside
    assert outside[-2:] == ["Total: 1 / 3 points (33.3%)", ""]  # everything between is in a block or ours


# Terminal: escape sequences from printed output, messages and names

def test_escape_sequences_are_shown_not_sent():
    text = terminal.render(result_with(message="bad\x1b[31m red\x9b1m\nsecond line", output="\x1b]0;title\x07\x7f\ud800",
                                       submission="stu\x1bdent", warnings=["w\x1b[2J"]))
    assert not CONTROL.search(text)
    assert "bad\\x1b[31m red\\x9b1m" in text and "\nsecond line\n" in text  # the newline of the message is kept
    assert "\\x1b]0;title\\x07\\x7f\\ud800" in text and "stu\\x1bdent" in text and "w\\x1b[2J" in text
    summary = summary_report.render(summary_with(["a\x1b[2Jb", "c"], ["d\x1bc.txt: not a .py"]))
    assert "\x1b" not in summary and "a\\x1b[2Jb" in summary and "d\\x1bc.txt" in summary


def test_honest_text_is_unchanged():
    honest = "José's loss: 0.5 → 1.2\n\tindented ✓ 𝔸"
    assert textsafe.visible(honest) == honest
    assert textsafe.csv_cell("anna_k") == "anna_k" and textsafe.fence("no backticks") == "```"


# JUnit: NUL, form feed and other characters XML 1.0 forbids

def test_junit_parses_with_nul_and_form_feed_in_the_output(course):
    result = result_with(message="a\x00b\ufffe", output="nul\x00 form\x0cfeed\n::error::forged\n##[warning]x")
    document = junit.render(result, course)
    ElementTree.fromstring(document.encode())
    cases = [case for suite in junitparser.JUnitXml.fromstring(document) for case in suite]
    failing = next(case for case in cases if case.name == "loss_fn: returns")
    assert "nul\\x00 form\\x0cfeed" in failing.system_out and "::error::forged" in failing.system_out
    assert failing.result[0].message == "a\\x00b\\ufffe"
    assert forged_commands(document) == []


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT, ANY_TEXT, ANY_TEXT)
def test_junit_always_parses(course, message, output, location):
    document = junit.render(result_with(message=message, output=output, submission=location), course)
    ElementTree.fromstring(document.encode())
    assert len(junitparser.JUnitXml.fromstring(document)) >= 1
    assert forged_commands(document) == []


# GitHub Actions: student text that would be read as a workflow command

def test_a_command_shaped_id_cannot_start_a_line_of_the_class_summary():
    text = summary_report.render(summary_with([FORGED, "  ::warning::x", "zed"], [f"{FORGED}/: no .py or .ipynb file inside",
                                                                                  "##[error]legacy.txt: not a .py"]))
    assert forged_commands(text) == []
    assert "\\::error title=forged::x" in text  # still readable


def test_our_annotations_keep_working_and_student_text_stays_data(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    result = result_with(message="wrong\n::error::forged, 100%", submission=str(tmp_path / "a,b:c"))
    lines = github.annotations(result)
    assert len(lines) == 1 and "\n" not in lines[0]
    command, _, data = lines[0][2:].partition("::")
    name, _, properties = command.partition(" ")
    values = dict(item.split("=", 1) for item in properties.split(","))
    assert name == "error" and values["file"] == "a%2Cb%3Ac/neuron.py" and values["line"] == "3"
    assert data == "wrong%0A::error::forged, 100%25"


def test_json_formats_carry_the_message_unchanged_but_form_no_command():
    result = result_with(message="##[error]legacy\n::error::v2", output="##[stop-commands]token")
    for render in (json_report.render, gradescope.render):
        text = render(result)
        assert forged_commands(text) == [] and "##[error]legacy" in json.dumps(json.loads(text), ensure_ascii=False)
    assert json.loads(json_report.render(result))["tests"][1]["message"] == "##[error]legacy\n::error::v2"
    assert forged_commands(classroom.render(result)) == []
    assert forged_commands(json.loads(classroom.render(result))["tests"][1]["message"]) == []  # the reporter action logs it


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_no_text_report_line_is_a_workflow_command(text):
    report = terminal.render(result_with(message=text, output=text, submission=text, warnings=[text], location=text))
    assert forged_commands(report) == [] and not CONTROL.search(report)
    assert forged_commands(terminal.render(result_with(message=text, output=text), markdown=True)) == []
    assert forged_commands(summary_report.render(summary_with([text, "b"], [text]))) == []


@pytest.fixture(scope="module")
def hostile_submission(course, tmp_path_factory):
    """A folder named like a workflow command whose loss_fn prints commands and escape sequences, then
    raises a message that closes a code fence."""
    return build_submission(course.solutions, tmp_path_factory.mktemp("hostile") / FORGED, HOSTILE_LOSS)


def test_check_in_github_actions_shows_the_attack_as_text(hostile_submission, tmp_path, monkeypatch):
    summary_file = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(hostile_submission.parent))
    monkeypatch.chdir(hostile_submission.parent)
    checked = CliRunner().invoke(main, ["check", FORGED, "--only", "loss_fn", "--sandbox", "process", "--seed", str(SEED),
                                        *ASSIGNMENT])
    assert checked.exit_code == 1, checked.output
    assert "::error title=forged::printed" in checked.stdout and "screen cleared" in checked.stdout
    assert forged_commands(checked.stdout) == []
    assert not CONTROL.search(checked.stdout)
    ours = [line for line in checked.stderr.splitlines() if line.startswith("::")]
    assert ours and all(line.startswith("::error file=") for line in ours)
    assert all(f"file={github.escape_property(FORGED)}/neuron.py," in line for line in ours)
    job_summary = summary_file.read_text(encoding="utf-8")
    assert not [line for line in outside_code_blocks(job_summary) if "Forged" in line or line.lstrip().startswith("::")]
    assert "# Forged heading" in job_summary


def test_check_junit_parses_whatever_the_code_printed(hostile_submission):
    checked = CliRunner().invoke(main, ["check", str(hostile_submission), "--only", "loss_fn", "--format", "junit",
                                        "--sandbox", "process", "--seed", str(SEED), *ASSIGNMENT])
    assert checked.exit_code == 1, checked.output
    ElementTree.fromstring(checked.stdout.encode())
    outputs = [case.system_out for suite in junitparser.JUnitXml.fromstring(checked.stdout) for case in suite if case.system_out]
    assert outputs and all("nul\\x00 and form\\x0cfeed" in output for output in outputs)
    assert forged_commands(checked.stdout) == []


# Odd student ids through a real `grade`

def _grade(submissions, out) -> object:
    return CliRunner().invoke(main, ["grade", str(submissions), "--out", str(out), "--sandbox", "process", "--seed", str(SEED),
                                     "--workers", "2", *ASSIGNMENT])


def _feedback_sections(report: str) -> int:
    """How many students' sections the report drew from their feedback file (it folds its table of checks)."""
    return report.count("<summary>every check</summary>")


def test_grade_with_long_formula_and_command_ids(course, tmp_path):
    root = tmp_path / "class"
    long_id = "x" * 254
    build_submission(course.solutions, root / long_id)
    build_submission(course.solutions, root / "=1+2", SUM_LOSS)
    build_submission(course.solutions, root / FORGED, SUM_LOSS)
    build_submission(course.solutions, root / "zed", SUM_LOSS)
    odd = os.fsdecode(b"odd\xff\x1b[31mname")  # an undecodable byte (a lone surrogate in Python) and an escape
    build_submission(course.solutions, root / odd, SUM_LOSS)
    (root / "::warning::no code here").mkdir()
    (root / "::warning::no code here" / "notes.txt").write_text("nothing")
    out = tmp_path / "grades"
    graded = _grade(root, out)
    assert graded.exit_code == 0, graded.output
    students = [long_id, "=1+2", FORGED, "zed", odd]
    for student in students:
        path = gradebook.feedback_file(out, student)
        assert len(path.name.encode()) <= 255 and path.read_text(encoding="utf-8").startswith("# autograde")
    assert gradebook.feedback_file(out, long_id) != gradebook.feedback_file(out, "x" * 253)
    rows = {row[0]: row for row in _csv_rows(out / "grades.csv")}
    assert set(rows) == {"id", long_id, "'=1+2", "\\" + FORGED, "zed", "odd\\udcff\\x1b[31mname"}
    assert float(rows["'=1+2"][1]) < course.max_score == float(rows[long_id][1])
    assert "4 students return exactly the same wrong loss_fn" in graded.stdout  # the forged id is in the cluster
    assert FORGED in graded.stdout and forged_commands(graded.stdout) == [] and not CONTROL.search(graded.stdout)
    report = (out / "report.html").read_text(encoding="utf-8")
    assert _feedback_sections(report) == 5 and long_id in report and "=1+2" in report and "odd\\udcff\\x1b[31mname" in report


def test_grade_with_ids_longer_than_a_file_name(course, tmp_path):
    submitted = tmp_path / "class" / "submitted"
    student = "s" * 200
    for assignment in ("a" * 100, "b" * 100):  # two assignments: each graded as "<student>/<assignment>"
        build_submission(course.solutions, submitted / student / assignment)
    out = tmp_path / "grades"
    graded = _grade(submitted.parent, out)
    assert graded.exit_code == 0, graded.output
    ids = [f"{student}/{'a' * 100}", f"{student}/{'b' * 100}"]
    assert all(len(student_id) == 301 for student_id in ids)
    paths = [gradebook.feedback_file(out, student_id) for student_id in ids]
    assert paths[0] != paths[1] and all(path.exists() and len(path.name.encode()) <= 255 for path in paths)
    assert sorted(p.name for p in (out / "feedback").iterdir()) == sorted(path.name for path in paths)
    assert _feedback_sections((out / "report.html").read_text(encoding="utf-8")) == 2


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT | st.text(st.characters(exclude_categories=()), min_size=200, max_size=400))
def test_every_id_gets_a_short_valid_name(student):
    name = gradebook.feedback_name(student)
    assert len(name.encode("utf-8")) <= 255 and name.endswith(".md")
    assert "/" not in name and "\x00" not in name and name not in (".", "..")
    name.encode("utf-8")  # no lone surrogate left
    if re.fullmatch(r"[A-Za-z0-9_.@+-]{1,100}", student):
        assert name == f"{student}.md"  # honest ids keep their name
