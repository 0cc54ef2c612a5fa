"""Every output format is checked against its consumer's rules: Classroom, Gradescope, JUnit, Actions, pytest."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
import zipfile

import junitparser
import pytest
import yaml
from click.testing import CliRunner

from examples.variants import WRONG_VARIANTS
from grader import integrations
from grader.cli import main
from grader.release import write_bundle
from grader.reporters import classroom, github, gradescope, junit
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def mixed_result(session, course, tmp_path_factory):
    """A result with passes, failures (with a diagnosis) and an error."""
    from examples.variants import build_submission
    changes = {**WRONG_VARIANTS["loss sum"][0],
               "backprop": {"backward": "def backward(x, y, z):\n    raise ValueError('50% done: a, b\\nnext line')\n"}}
    return session.grade(build_submission(course.solutions, tmp_path_factory.mktemp("mixed") / "s", changes))


def test_classroom_object_follows_the_reporter(mixed_result, tmp_path, monkeypatch):
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    document = json.loads(classroom.render(mixed_result))
    assert document["version"] == 1 and document["status"] == "error"
    assert document["max_score"] == mixed_result.max_score
    assert sum(test["score"] for test in document["tests"]) == mixed_result.score
    for test in document["tests"]:
        assert set(test) == {"name", "status", "score", "message", "test_code", "filename", "line_no", "duration"}
        assert test["status"] in ("pass", "fail", "error") and isinstance(test["score"], float)
        assert isinstance(test["line_no"], int) and test["line_no"] > 0 and len(test["message"]) <= 300
    line = output.read_text().strip()
    assert line.startswith("result=")
    assert json.loads(base64.b64decode(line.removeprefix("result="))) == document


def test_classroom_status_is_pass_only_when_everything_passes(session, course):
    assert classroom.document(session.grade(course.solutions))["status"] == "pass"


def test_gradescope_results_follow_the_specification(mixed_result):
    document = json.loads(gradescope.render(mixed_result))
    assert document["score"] == sum(t["score"] for t in document["tests"]) == mixed_result.score
    assert document["stdout_visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    numbers = [t["number"] for t in document["tests"]]
    assert len(set(numbers)) == len(numbers)
    for test in document["tests"]:
        assert test["status"] in ("passed", "failed") and 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
        assert isinstance(test["tags"], list) and test["output"]
    assert any("sum-instead-of-mean" in t["tags"] for t in document["tests"])


def test_junit_parses_with_junitparser(mixed_result, course, tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(junit.render(mixed_result, course))
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {spec.module for spec in course.functions}
    cases = [case for suite in xml for case in suite]
    assert len(cases) == len(mixed_result.tests)
    failures = [c for c in cases if any(isinstance(r, junitparser.Failure) for r in c.result)]
    errors = [c for c in cases if any(isinstance(r, junitparser.Error) for r in c.result)]
    assert len(failures) == sum(t.status == "fail" for t in mixed_result.tests) > 0
    assert len(errors) == sum(t.status == "error" for t in mixed_result.tests) > 0
    assert all(case._elem.get("file") and case._elem.get("line") for case in cases)


def test_annotations_are_escaped_worst_first_and_at_most_ten(mixed_result, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path / "elsewhere"))
    assert not any("file=" in line for line in github.annotations(mixed_result))  # GitHub could not resolve it
    submission = Path(next(test.file for test in mixed_result.tests if test.file)).parent
    monkeypatch.setenv("GITHUB_WORKSPACE", str(submission.parent))
    lines = github.annotations(mixed_result)
    assert 0 < len(lines) <= github.MAX_ANNOTATIONS
    assert lines[0].startswith(f"::error file={submission.name}/") and "backward" in lines[0]
    assert "50%25 done" in lines[0] and "%0A" in lines[0] and "\n" not in lines[0]
    title = re.search(r"title=([^:]*)::", lines[0]).group(1)
    assert ":" not in title and "," not in title and "%3A" in title
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    github.publish(mixed_result)
    assert summary.read_text().startswith("# autograde") and "| function" in summary.read_text()


def test_classroom_workflow_is_valid_and_complete():
    workflow = yaml.safe_load(integrations.classroom_workflow(install="autograde==0.1.0"))
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert uses[0].startswith("actions/checkout@") and uses[1].startswith("actions/setup-python@")
    install = next(step["run"] for step in steps if "pip install" in step.get("run", ""))
    assert "torch==2.13.0" in install and "download.pytorch.org/whl/cpu" in install and "autograde==0.1.0" in install
    grade = next(step for step in steps if step.get("id") == integrations.RUNNER_ID)
    assert "--format classroom" in grade["run"] and re.fullmatch(r"[a-zA-Z0-9]+", grade["id"])
    reporter = steps[-1]
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1" and reporter["if"] == "always()"
    assert reporter["with"]["runners"] == grade["id"]
    assert reporter["env"] == {f"{grade['id'].upper()}_RESULTS": "${{ steps.autograde.outputs.result }}"}
    sandbox = install.splitlines()[0]
    assert "apt-get update" in sandbox and sandbox.index("apt-get update") < sandbox.index("install -y -q bubblewrap")
    assert "GITHUB_STEP_SUMMARY" in install and "::warning" in install  # a sandbox that could not be had is said


@pytest.fixture(scope="module")
def bundle(course, tmp_path_factory):
    return write_bundle(course, tmp_path_factory.mktemp("bundle"), [7])


def test_gradescope_zip_grades_a_submission_as_gradescope_would(bundle, tmp_path, course):
    archive = integrations.write_gradescope(bundle, tmp_path / "autograder.zip", integrations.DEFAULT_TORCH)
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in zipped.infolist()}
        zipped.extractall(tmp_path / "source")
    assert {"setup.sh", "run_autograder", "course/assignment.toml", "course/answer-key.json"} <= set(names)
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert not [n for n in names if n.startswith(("course/solutions", "course/mistakes"))]
    assert "autograde/grader/cli.py" in names and "autograde/pyproject.toml" in names
    setup = tmp_path / "source" / "setup.sh"
    assert subprocess.run(["bash", "-n", str(setup)]).returncode == 0
    assert "sys.version_info < (3, 11)" in setup.read_text()  # Ubuntu 22.04's python3 is 3.10: uv brings 3.11
    assert "uv venv --seed --python 3.11 /autograder/venv" in setup.read_text()
    run = (tmp_path / "source" / "run_autograder").read_text()
    assert "/autograder/results/results.json" in run and "--format gradescope" in run
    graded = subprocess.run([sys.executable, "-m", "grader", "check", str(course.solutions), "--format", "gradescope",
                             "--sandbox", "process"], cwd=tmp_path / "source" / "course", capture_output=True, text=True)
    document = json.loads(graded.stdout)
    assert document["score"] == course.max_score and len(document["tests"]) == 31


def test_classroom_template_carries_the_autograde_it_installs(bundle, tmp_path):
    template = shutil.copytree(bundle, tmp_path / "template")
    result = CliRunner().invoke(main, ["init", "classroom", str(template)])
    assert result.exit_code == 0, result.output
    workflow = yaml.safe_load((template / ".github" / "workflows" / "classroom.yml").read_text())
    install = next(step["run"] for step in workflow["jobs"]["run-autograding-tests"]["steps"] if "pip install" in step.get("run", ""))
    assert 'pip install "./.autograde"' in install
    carried = {path.relative_to(template / ".autograde").as_posix() for path in (template / ".autograde").rglob("*") if path.is_file()}
    assert carried == {name for _, name in integrations.source_files()}
    assert {"pyproject.toml", "grader/cli.py", "grader/reporters/classroom.py"} <= carried
    with zipfile.ZipFile(integrations.write_gradescope(template, tmp_path / "a.zip", integrations.DEFAULT_TORCH)) as zipped:
        assert not [name for name in zipped.namelist() if name.startswith("course/.autograde")]


def test_pytest_plugin_runs_one_test_per_check(bundle, tmp_path):
    repo = shutil.copytree(bundle, tmp_path / "repo")
    (repo / "pytest.ini").write_text("[pytest]\nautograde_submission = exercises\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"], cwd=repo,
                            capture_output=True, text=True, env=env)
    assert "assignment.toml::gradient::finite-difference" in listed.stdout and "31 tests collected" in listed.stdout
    stubs = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=repo,
                           capture_output=True, text=True, env=env)
    assert stubs.returncode == 1 and "31 failed" in stubs.stdout and "not implemented yet" in stubs.stdout
    solved = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--autograde",
                             str(ROOT / "solutions"), "--autograde-seed", "7"], cwd=repo, capture_output=True, text=True, env=env)
    assert solved.returncode == 0 and "31 passed" in solved.stdout


def test_an_annotation_sits_on_the_line_of_a_located_repair(tmp_path, monkeypatch):
    from grader.results import Repair, SubmissionResult, TestResult
    file = tmp_path / "hw" / "neuron.py"
    repaired = TestResult("loss_fn: returns", "loss_fn", "returns", 2, "fail", "values differ", "sum-instead-of-mean",
                          file=str(file), line=79, repair=Repair("neuron.py", 80, "neuron.py:80", ".sum() → .mean()"))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    (line,) = github.annotations(SubmissionResult("hw", 1, [repaired]))
    assert line.startswith("::error file=hw/neuron.py,line=80,") and "a single edit at neuron.py%3A80" not in line
    assert "repair: a single edit at neuron.py:80 makes every check" in line and ".mean" not in line  # line mode
