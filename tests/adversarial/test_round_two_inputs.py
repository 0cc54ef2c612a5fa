"""The second hostile-student review: code too large to read, a folder named ``submitted``, notebooks
formatted the PEP 8 way, and ids that would put a workflow command at the start of a line.

One class is graded for real, once: an honest student, a PEP 8 notebook, a student whose folder holds
files at every reading cap, a ``submitted/`` folder that claims other students' ids, two entries
claiming one id, and an id holding a newline and a workflow command. Each test asserts one attack.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from examples.variants import WRONG_VARIANTS, build_submission
from grader import kernel_source, layouts, submission
from grader.cli import main
from grader.notebook import split_lines, without_magics
from tests.conftest import ROOT, SEED

ASSIGNMENT = ["--assignment", str(ROOT / "assignment.toml")]
MODULES = ("neuron", "backprop", "autograd_loop", "autograd_basics")
NEWLINE_ID = "nl\n::error::NL"
TOKENS = "holds more than 100,000 Python tokens"
PEP8_LOSS = '''
def loss_fn(y_pred, y):
    label = ("the mean over %d samples"
             % y.numel())
    same = (y_pred.shape
            != y.shape)
    note = """
%matplotlib inline
!pip install nothing
"""
    return torch.square(y_pred - y).mean()
'''


def _notebook(cells: list[str], outputs: list | None = None) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": outputs or [],
                                  "source": source} for source in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _pep8_notebook(course, path, scratch) -> None:
    """The solutions as one notebook with real magics, and a loss_fn whose continuation lines start
    with ``%`` and ``!=`` and whose string holds lines that look like magics."""
    folder = build_submission(course.solutions, scratch / "pep8", {"neuron": {"loss_fn": PEP8_LOSS}})
    cells = ["%matplotlib inline\n!pip install torch", "%%bash\necho this cell is shell, not Python"]
    for module, magic in zip(MODULES, ("%%time\n", "", "%%writefile loop.py\n", "")):
        lines = (folder / f"{module}.py").read_text().splitlines()
        cells.append(magic + "\n".join(line for line in lines if not line.startswith(("from neuron", "from backprop"))))
    path.write_text(_notebook(cells))


def _hostile_files(folder) -> None:
    """Files at every reading cap, named to be read after the student's own modules."""
    (folder / "zz_tokens.py").write_text("a\n" * 60_000)  # 120 KB, 120,000 tokens
    (folder / "zz_large.py").write_text("#" * (submission.MAX_FILE_BYTES + 1))
    (folder / "zz_output.ipynb").write_text(_notebook(["x = 1"], [{"output_type": "stream", "name": "stdout",
                                                                   "text": "a" * submission.MAX_NOTEBOOK_BYTES}]))
    (folder / "zz_cells.ipynb").write_text(_notebook(["x = 1\n" * (submission.MAX_FILE_BYTES // 6 + 1)]))


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """The class, graded once with ``autograde grade``: the output folder and the command's result."""
    root = tmp_path_factory.mktemp("round-two") / "class"
    build_submission(course.solutions, root / "alice")
    _pep8_notebook(course, root / "bob.ipynb", root.parent)
    _hostile_files(build_submission(course.solutions, root / "mallory"))
    for claimed in ("alice", "mallory"):  # a student's folder named like nbgrader's, claiming alice's id
        build_submission(course.solutions, root / "submitted" / claimed / "hw", WRONG_VARIANTS["loss sum"][0])
    build_submission(course.solutions, root / "carol")
    (root / "carol.py").write_text((course.solutions / "neuron.py").read_text())
    build_submission(course.solutions, root / NEWLINE_ID, WRONG_VARIANTS["loss sum"][0])
    out = root.parent / "grades"
    result = CliRunner().invoke(main, ["grade", str(root), "--out", str(out), "--sandbox", "process", "--seed", str(SEED),
                                       "--workers", "1", *ASSIGNMENT])
    assert result.exit_code == 0, result.output
    records = {record["id"]: record for record in json.loads((out / "results.json").read_text())["students"]}
    return out, records, result


# 1. Code too large to read costs its owner that file, quickly, with a message

def test_each_file_past_a_cap_is_named_with_why(graded, course):
    _, records, _ = graded
    warnings = "\n".join(records["mallory"]["warnings"])
    assert f"zz_tokens.py {TOKENS} (names, numbers, operators), far more than any exercise needs; not read" in warnings
    assert "zz_large.py is larger than 512 KiB; not read" in warnings
    assert "zz_output.ipynb is larger than 8 MiB; not read (clear its outputs and save it again)" in warnings
    assert "zz_cells.ipynb: its code cells hold more than 512 KiB of text; not read" in warnings
    assert records["mallory"]["score"] == course.max_score  # her own modules are read and graded


def test_a_submission_is_read_up_to_its_budget_and_the_rest_named(tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    for index in range(submission.MAX_FILES + 5):
        (folder / f"f{index:03}.py").write_text("x = 1\n")
    (source,) = submission.load(folder, {"model"}, tmp_path / "stage").problems
    assert source.problem == ("f200.py, f201.py, f202.py and 2 more: not read: grading reads 200 Python files and "
                              "notebooks of a submission, and no more")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    for index in range(3):
        (tokens / f"t{index}.py").write_text("a\n" * 35_000)  # 70,000 tokens each
    loaded = submission.load(tokens, {"model"}, tmp_path / "stage-tokens")
    assert [source.tree is not None for source in loaded.files] == [True, True, False]
    assert loaded.problems[0].problem == "t2.py: not read: grading reads 200,000 Python tokens of a submission, and no more"


def test_a_notebook_is_read_as_json_and_an_nbformat_3_one_is_named(tmp_path):
    (tmp_path / "old.ipynb").write_text(json.dumps({"worksheets": [{"cells": []}], "nbformat": 3, "metadata": {}}))
    (source,) = submission.load(tmp_path / "old.ipynb", {"model"}, tmp_path / "stage").files
    assert source.problem == ("old.ipynb is not a readable notebook (it has no list of cells; it is nbformat 3: open it in "
                              "a current Jupyter and save it)")


def test_the_grading_process_stays_small_on_a_submission_made_of_such_files(tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "a.ipynb").write_text(_notebook(["x = 1"], [{"output_type": "stream", "name": "stdout", "text": "[]"}])
                                    .replace('"[]"', "[" + "[]," * (submission.MAX_NOTEBOOK_BYTES // 3 - 200) + "[]]"))
    (folder / "b.py").write_text('"' + '\\"' * (submission.MAX_FILE_BYTES // 2 - 2) + '"\n')  # the tokenizer's worst
    for index in range(40):  # each once cost 0.6 GB to parse, and all their trees were kept
        (folder / f"f{index:02}.py").write_text("a\n" * (submission.MAX_FILE_BYTES // 2 - 1))
    probe = ("import resource, sys\nfrom pathlib import Path\nfrom grader import submission\n"
             "resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))\n"  # a regression fails here, not the machine
             "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "code = submission.load(Path(sys.argv[1]), {'model'}, Path(sys.argv[2]))\n"
             "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
             "print(*(source.problem for source in code.problems), sep='\\n')\n")
    ran = subprocess.run([sys.executable, "-c", probe, str(folder), str(tmp_path / "stage")], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    grown, *problems = ran.stdout.splitlines()
    assert int(grown) < 400, f"the grading process grew by {grown} MB"
    assert problems == [f"f00.py {TOKENS} (names, numbers, operators), far more than any exercise needs; not read",
                        "f01.py, f02.py, f03.py and 36 more: not read: grading reads 200,000 Python tokens of a submission, "
                        "and no more"]


# 2. A folder named `submitted` is a student's folder, unless the class folder is nbgrader's

def test_a_submitted_folder_does_not_hijack_the_class(graded, course):
    _, records, _ = graded
    assert records["alice"]["score"] == course.max_score  # the real alice, not the one under submitted/
    assert "submitted" in records and "mallory" in records


def test_only_an_nbgrader_course_folder_is_read_as_one(tmp_path):
    course_folder = tmp_path / "course"
    for entry in ("source/ps1", "release/ps1", "autograded", "feedback", ".ipynb_checkpoints"):
        (course_folder / entry).mkdir(parents=True)
    (course_folder / "gradebook.db").write_bytes(b"")
    (course_folder / "nbgrader_config.py").write_text("c = get_config()\n")
    (course_folder / "submitted" / "alice" / "ps1").mkdir(parents=True)
    (course_folder / "submitted" / "alice" / "ps1" / "neuron.py").write_text("x = 1\n")
    found = layouts.discover(course_folder, tmp_path / "scratch")
    assert [(entry.student, entry.layout) for entry in found.entries] == [("alice", "nbgrader")]
    (course_folder / "bob").mkdir()
    (course_folder / "bob" / "neuron.py").write_text("x = 1\n")
    found = layouts.discover(course_folder, tmp_path / "scratch2")
    assert [(entry.student, entry.layout) for entry in found.entries] == [("bob", "plain"), ("nbgrader_config", "plain"),
                                                                          ("submitted", "plain")]
    assert sorted(found.unrecognised) == [*(f"{folder}/: no .py or .ipynb file inside" for folder in ("autograded", "feedback")),
                                          "gradebook.db: not a .py, .ipynb, .zip or folder",
                                          *(f"{folder}/: no .py or .ipynb file inside" for folder in ("release", "source"))]


def test_two_entries_with_one_id_are_both_named_and_neither_graded(graded):
    out, records, _ = graded
    assert "carol" not in records
    unrecognised = json.loads((out / "summary.json").read_text())["unrecognised"]
    assert "carol (plain), carol.py (plain): 2 submissions for the id carol; none graded (keep only the student's own)" \
        in unrecognised


# 3. Notebooks formatted the PEP 8 way

def test_a_pep8_notebook_grades_like_the_folder(graded, course):
    _, records, _ = graded
    assert records["bob"]["score"] == course.max_score, [t["message"] for t in records["bob"]["tests"] if t["status"] != "pass"]
    assert records["bob"]["warnings"] == []


def test_a_cell_that_parses_is_kept_verbatim_and_magics_only_start_logical_lines():
    cell = split_lines(PEP8_LOSS)
    assert without_magics(cell) == cell
    assert kernel_source.cell_python(PEP8_LOSS) == PEP8_LOSS.rstrip("\n")
    mixed = ["%time x = 1", "y = [1,", "!= 2]", "!pip install a \\", "    b", "if y:", "    z = !ls", "    %cd ..", "s = '''",
             "%%not a cell magic", "'''"]
    assert without_magics(mixed) == ["pass  # skipped: %time x = 1", "y = [1,", "!= 2]", "pass  # skipped: !pip install a \\",
                                     "", "if y:", "    pass  # skipped: z = !ls", "    pass  # skipped: %cd ..", "s = '''",
                                     "%%not a cell magic", "'''"]


# 4. No line of an output starts a workflow command

def _forged(text: str) -> list[str]:
    return [line for line in re.split(r"\r\n|\r|\n", text) if line.lstrip().startswith("::") or "##[" in line]


def test_an_id_with_a_newline_forms_no_workflow_command_in_any_output(graded):
    out, records, result = graded
    assert NEWLINE_ID in records
    csv_text = (out / "grades.csv").read_text(encoding="utf-8")
    assert "nl\\n::error::NL," in csv_text and csv_text.count("\n") == len(records) + 1  # one line per student
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "nl\n&#58;:error::NL" in report
    outputs = {"grades.csv": csv_text, "report.html": report, "summary.json": (out / "summary.json").read_text(encoding="utf-8"),
               "stdout": result.stdout, **{path.name: path.read_text(encoding="utf-8") for path in (out / "feedback").iterdir()}}
    assert {name: _forged(text) for name, text in outputs.items() if _forged(text)} == {}
