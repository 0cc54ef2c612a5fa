"""The tamper scan (grader/tamper.py): code that reaches into the grading machinery is listed, per
student, with file, line and category; honest code gives nothing; no input makes the scan raise.

SECURITY.md, "What the student's own process can still forge": forging then always leaves visible code.
"""

from __future__ import annotations

import ast
import csv
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.variants import CORRECT_VARIANTS, MEASURED_VARIANTS, WRONG_VARIANTS, build_submission
from grader import submission, tamper
from grader.class_summary import Summary
from grader.cli import main
from grader.reporters import html
from grader.reporters import summary as summary_report
from grader.results import Flag, SubmissionResult
from tests.conftest import ROOT

# category -> a realistic forging snippet, and the line the finding must name
FORGERIES = {
    "grader-import": ("import torch\nimport grader.worker.encoding as enc\n", 2),
    "grader-patch": ("import grader.worker.encoding as enc\n\nenc.encode_tensor = lambda tensor, depth=0: {'kind': 'tensor'}\n", 3),
    "grader-name": ("import importlib\nname = 'grader.worker.harness'\n", 2),
    "sys-modules": ("import sys\nharness = sys.modules['grader.worker.harness']\nharness._same = lambda a, b: True\n", 2),
    "monkeypatch-torch": ("import torch\nreal = torch.Tensor.tolist\ntorch.Tensor.tolist = lambda self: [0.0]\n", 3),
    "monkeypatch-builtins": ("import builtins\nbuiltins.print = lambda *a, **k: None\n", 2),
    "monkeypatch-module": ("import json\n\ndef forge(*args, **kwargs):\n    return '{}'\njson.dumps = forge\n", 5),
    "class-assignment": ("def model(X, W, b):\n    out = X @ W + b\n    out.__class__ = Liar\n    return out\n", 3),
    "torch-function": ("import torch\nclass Liar(torch.Tensor):\n    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                       "        return super().__torch_function__(func, types, args, kwargs or {})\n", 4),
    "torch-c": ("import torch\ntorch._C._set_grad_enabled(True)\n", 2),
    "native-code": ("import ctypes\nlibc = ctypes.CDLL(None)\n", 1),
    "gc-objects": ("import gc\nfor thing in gc.get_objects():\n    pass\n", 2),
    "frame-access": ("import sys\ncaller = sys._getframe(1)\n", 2),
    "introspection": ("def f(g):\n    return g.__globals__['observe']\n", 2),
    "trace-hook": ("import sys\nsys.settrace(lambda frame, event, arg: None)\n", 2),
    "import-hook": ("import sys\nsys.meta_path.insert(0, Finder())\n", 2),
    "raw-fd": ("import os\nos.write(1, b'{\"score\": 49}\\n')\n", 2),
    "signal": ("import os\n\ndef detached(a):\n    os.kill(os.getppid(), 9)\n", 4),
    "proc-path": ("def steal():\n    return open(f'/proc/{1}/environ').read()\n", 2),
    "network": ("import socket\nsocket.create_connection(('example.org', 80))\n", 1),
    "process": ("import os\nos.system('touch /tmp/x')\n", 2),
    "dynamic-code": ("source = 'x = 1'\nexec(source)\n", 2),
    "obfuscated-code": ("import base64\nexec(base64.b64decode('aW1wb3J0IGdyYWRlcg=='))\n", 2),
    "obfuscated-import": ("module = __import__('gr' + 'ader')\n", 1),
    "computed-attr": ("import torch\nname = 'to' + 'list'\nsetattr(torch.Tensor, name, None)\n", 3),
}

MORE_FORGERIES = [  # (source, category, line): other spellings of the same reach
    ("from grader.worker import harness\n", "grader-import", 1),
    ("m = __import__('grader.worker.encoding')\n", "grader-import", 1),
    ("import importlib\nm = importlib.import_module('grader.worker.harness')\n", "grader-import", 2),
    ("import importlib\nm = importlib.import_module(NAME)\n", "obfuscated-import", 2),
    ("m = __import__('gr' + 'ader')\n", "grader-import", 1),
    ("m = __import__(name)\n", "obfuscated-import", 1),
    ("import sys\nsys.modules['torch'] = fake\n", "sys-modules", 2),
    ("from sys import modules\n", "sys-modules", 1),
    ("import torch\nsetattr(torch, 'allclose', lambda *a, **k: True)\n", "monkeypatch-torch", 2),
    ("import torch.nn as nn\nnn.Module.parameters = lambda self: iter(())\n", "monkeypatch-torch", 2),
    ("from torch import Tensor\nTensor.backward = lambda self, *a: None\n", "monkeypatch-torch", 2),
    ("import torch\nT = torch.Tensor\nT.clone = lambda self: self\n", "monkeypatch-torch", 3),
    ("import torch\ntorch.autograd.grad = fake_grad\n", "monkeypatch-torch", 2),
    ("__builtins__['print'] = None\n", "monkeypatch-builtins", 1),
    ("__builtins__ = {}\n", "monkeypatch-builtins", 1),
    ("import os\nos.getpid = lambda: 1\n", "monkeypatch-module", 2),
    ("import sys\nsys.stdout = open('/dev/null', 'w')\n", "monkeypatch-module", 2),
    ("class T:\n    __torch_dispatch__ = handler\n", "torch-function", 2),
    ("from torch import _C\n", "torch-c", 1),
    ("from ctypes import CDLL\n", "native-code", 1),
    ("import cffi\n", "native-code", 1),
    ("import gc\nowners = gc.get_referrers(obj)\n", "gc-objects", 2),
    ("import inspect\nframe = inspect.currentframe()\n", "frame-access", 2),
    ("def f(frame):\n    return frame.f_back.f_locals\n", "frame-access", 2),
    ("try:\n    1 / 0\nexcept Exception as e:\n    g = e.__traceback__.tb_frame.f_globals\n", "frame-access", 4),
    ("import sys\nsys.setprofile(hook)\n", "trace-hook", 2),
    ("import sys\nsys.path_hooks.append(hook)\n", "import-hook", 2),
    ("import os\nos.dup2(3, 1)\n", "raw-fd", 2),
    ("import os\nstream = os.fdopen(1, 'w')\n", "raw-fd", 2),
    ("stream = open(1, 'w')\n", "raw-fd", 1),
    ("path = '/dev/fd/1'\n", "raw-fd", 1),
    ("path = '/proc/self/fd/1'\n", "raw-fd", 1),
    ("import signal\nsignal.signal(signal.SIGALRM, handler)\n", "signal", 1),
    ("import os\nos.killpg(0, 9)\n", "signal", 2),
    ("data = open('/proc/self/maps').read()\n", "proc-path", 1),
    ("import urllib.request\n", "network", 1),
    ("import http.client\n", "network", 1),
    ("import requests\n", "network", 1),
    ("import subprocess\nsubprocess.run(['ls'])\n", "process", 1),
    ("import os\nif os.fork() == 0:\n    os.setsid()\n", "process", 2),
    ("import os\nos.execv('/bin/sh', ['sh'])\n", "process", 2),
    ("import pty\n", "process", 1),
    ("result = eval('1 + 1')\n", "dynamic-code", 1),
    ("code = compile(text, 'x', 'exec')\n", "dynamic-code", 1),
    ("import codecs\nexec(codecs.decode('vzcbeg tenqre', 'rot13'))\n", "obfuscated-code", 2),
    ("import base64\npayload = base64.b64decode(blob)\nexec(payload)\n", "obfuscated-code", 3),
    ("import torch\nf = getattr(torch, name)\n", "computed-attr", 2),
    ("import sys\nm = getattr(sys, 'modules')\n", "sys-modules", 2),
    ("run = getattr(__builtins__, 'exec')\n", "dynamic-code", 1),
    ("import torch\ntype.__setattr__(torch.Tensor, 'tolist', fake)\n", "monkeypatch-torch", 2),
    ("import inspect\nharness = inspect.getmodule(loader.__iter__)\n", "obfuscated-import", 2),
    ("import importlib.util\nspec = importlib.util.spec_from_file_location('m', path)\n", "obfuscated-import", 2),
    ("classes = ().__class__.__base__.__subclasses__()\n", "introspection", 1),
]

HONEST = """
import math
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class Data(Dataset):
    \"\"\"Samples, as the grader expects them (see grader.py in the course notes).\"\"\"

    def __init__(self):
        self.X = torch.tensor([[0.5, 0.9], [14.0, 12.0]])
        self.y = torch.tensor([35.7, 55.9]) * 0.01

    def __len__(self):
        return len(self.X)

    def __getitem__(self, idx):
        return {"input": self.X[idx], "target": self.y[idx]}


def learn(W, b, loader, max_epochs=10, learning_rate=0.01):
    optimizer = torch.optim.SGD([W, b], lr=learning_rate)
    for epoch in range(max_epochs):
        for batch in loader:
            loss = F.mse_loss(torch.sigmoid(batch["input"] @ W + b), batch["target"])
            loss.backward()
            print("epoch", epoch, "loss", loss.item(), math.sqrt(2), np.mean([1.0]))
            with torch.no_grad():
                W -= learning_rate * W.grad
                b -= learning_rate * b.grad
            W.grad.zero_()
            b.grad = None
    torch.manual_seed(0)
    torch.backends.cudnn.deterministic = True
    model = torch.nn.Linear(2, 1)
    model.eval()
    pattern = __import__("re").compile("x")
    return W, b
"""


def _categories(source: str) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for finding in tamper.scan_source(source):
        found.setdefault(finding.line, set()).add(finding.category)
    return found


@pytest.mark.parametrize("category", sorted(FORGERIES))
def test_each_category_is_found_on_its_line(category):
    source, line = FORGERIES[category]
    assert category in _categories(source).get(line, set()), tamper.scan_source(source)


@pytest.mark.parametrize("source, category, line", MORE_FORGERIES)
def test_other_spellings_are_found(source, category, line):
    assert category in _categories(source).get(line, set()), tamper.scan_source(source)


def test_every_category_is_declared_and_findings_say_what_they_saw():
    emitted = {f.category for source, _ in FORGERIES.values() for f in tamper.scan_source(source)}
    assert set(FORGERIES) <= emitted <= set(tamper.CATEGORIES)
    (finding,) = [f for f in tamper.scan_source(FORGERIES["monkeypatch-torch"][0]) if f.line == 3]
    assert finding.text == "assigns torch.Tensor.tolist"
    assert any("spelled in pieces" in f.text for f in tamper.scan_source("m = __import__('gr' + 'ader')\n"))


def test_honest_code_gives_nothing():
    assert tamper.scan_source(textwrap.dedent(HONEST)) == []


def _python_files() -> list[Path]:
    folders = [ROOT / "solutions", ROOT / "exercises", ROOT / "examples"]
    return sorted(path for folder in folders for path in folder.rglob("*.py"))


def test_the_shipped_code_scans_clean():
    """Every solution, stub, example student and wrong variant: nothing, except the course file that
    really imports the grader (an instructor's inputs.py uses grader.authoring)."""
    flagged = {str(path.relative_to(ROOT)): tamper.scan_source(path.read_text(encoding="utf-8")) for path in _python_files()}
    assert {name: found for name, found in flagged.items() if found} == {
        "examples/autograd-functions/inputs.py": [tamper.Finding(17, "grader-import", "imports grader.authoring")]}


def test_every_variant_and_example_submission_scans_clean(tmp_path):
    changes = [*CORRECT_VARIANTS.values(), *(v[0] for v in WRONG_VARIANTS.values()), *(v[0] for v in MEASURED_VARIANTS.values())]
    for number, change in enumerate(changes):
        folder = build_submission(ROOT / "solutions", tmp_path / f"s{number}", change)
        assert tamper.scan(submission.load(folder, set(), tmp_path / f"stage{number}")) == [], change
    notebook = submission.load(ROOT / "examples" / "class" / "chloe.ipynb", set(), tmp_path / "notebook")
    assert notebook.files[0].notebook is not None and tamper.scan(notebook) == []


def test_a_notebook_finding_names_the_cell(tmp_path):
    cells = [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# Homework"},
             {"cell_type": "code", "id": "b", "metadata": {}, "source": "%matplotlib inline\nimport torch", "outputs": [],
              "execution_count": None},
             {"cell_type": "code", "id": "c", "metadata": {}, "source": "x = 1\ntorch.Tensor.tolist = lambda self: []",
              "outputs": [], "execution_count": None}]
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (flag,) = tamper.scan(submission.load(path, set(), tmp_path / "stage"))
    assert (flag.file, flag.category, flag.location) == ("hw.ipynb", "monkeypatch-torch", "hw.ipynb (cell 3, line 2)")


def test_a_submission_folder_names_each_file_relative_to_it(tmp_path):
    folder = tmp_path / "student"
    (folder / "helpers").mkdir(parents=True)
    (folder / "neuron.py").write_text("import torch\n")
    (folder / "helpers" / "patch.py").write_text("import torch\n\ntorch.Tensor.tolist = None\n")
    (folder / "broken.py").write_text("def f(:\n")
    flags = tamper.scan(submission.load(folder, set(), tmp_path / "stage"))
    assert [(f.file, f.line, f.category, f.where) for f in flags] == [
        ("helpers/patch.py", 3, "monkeypatch-torch", "patch.py:3")]


def test_flags_round_trip_and_show_in_the_check_document():
    flag = Flag("neuron.py", 3, "sys-modules", "uses sys.modules", "neuron.py:3")
    assert Flag.from_dict(flag.as_dict()) == flag
    assert Flag.from_dict({"line": "x", "category": 3}) == Flag("", 0, "3", "", "")
    result = SubmissionResult("s", 1, [], flags=[flag])
    assert result.as_dict()["flags"] == [flag.as_dict()]
    assert "flags" not in SubmissionResult("s", 1, []).as_dict()
    assert tamper.summary_text([flag.as_dict(), flag.as_dict(), {"category": "monkeypatch-torch"}]) == \
        "3: sys-modules, monkeypatch-torch"
    assert tamper.summary_text([]) == "" and tamper.summary_text([{"category": "=cmd()"}]) == "1: "


def test_the_reports_escape_what_the_student_wrote():
    flag = Flag("<img src=x>.py", 1, "grader-name", "names '<script>alert(1)</script>'", "<img src=x>.py:1")
    section = html._suspicious({"<b>eve</b>": [flag]}, {"<b>eve</b>": "student-0"})
    assert "<script>" not in section and "<img" not in section and "<b>eve" not in section
    assert "&lt;script&gt;" in section and 'href="#student-0"' in section
    text = summary_report.render(Summary(1, 49.0, [49.0], {}, [], suspicious={"eve\n::error::x": [flag]}))
    assert "Suspicious code" in text and "eve\\n::error::x: 1 finding" in text and "\n::error" not in text


def test_many_findings_are_capped():
    found = tamper.scan_source("import sys\n" + "sys.modules.clear()\n" * 200)
    assert len(found) == tamper.MAX_PER_FILE + 1 and found[-1].category == "truncated"


@pytest.mark.parametrize("source", [
    "x = " + "(" * 300 + "1" + ")" * 300,             # too deeply nested for the parser
    "x = " + "-" * 100_000 + "1",                     # nested unary operators
    "x = " + "+".join(["'a'"] * 20_000),              # a long chain of literals
    "def f(:\n", "\x00", "x = '\ud800'", "",
])
def test_unparsable_or_deep_code_never_raises(source):
    assert all(f.category in tamper.CATEGORIES for f in tamper.scan_source(source))


def test_a_tree_that_cannot_be_walked_gives_one_unscanned_finding():
    broken = ast.Module(body=[ast.Import(names=[ast.alias(name=None)])], type_ignores=[])
    assert [f.category for f in tamper.scan_tree(broken)] == ["unscanned"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_the_scan_never_raises_on_any_text(text):
    found = tamper.scan_source(text)
    assert all(isinstance(f.line, int) and f.category in tamper.CATEGORIES for f in found)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*(source for source, _ in FORGERIES.values()), HONEST, "(", ")", "\n", "    ", "x.", "[", "]",
                                 "__import__(", "'grader'", "sys.modules", " = ", "torch.Tensor"]), max_size=12))
def test_the_scan_never_raises_on_pieces_of_code(pieces):
    found = tamper.scan_source("".join(pieces))
    assert all(f.category in tamper.CATEGORIES for f in found)


def test_grading_a_class_shows_the_patch_in_every_output(tmp_path):
    """One grading run: the student who patches the harness is named, with file and line, in summary.json,
    grades.csv's flags column and report.html; the honest student is not."""
    course = ROOT / "solutions"
    build_submission(course, tmp_path / "class" / "honest")
    forger = build_submission(course, tmp_path / "class" / "forger")
    neuron = forger / "neuron.py"
    lines = neuron.read_text().splitlines()
    at = lines.index("import torch")
    lines[at:at] = ["import grader.worker.harness as harness", "harness._same = lambda before, after: True"]
    neuron.write_text("\n".join(lines) + "\n")
    place = f"neuron.py:{at + 1}"
    out = tmp_path / "grades"
    result = CliRunner().invoke(main, ["grade", str(tmp_path / "class"), "--out", str(out), "--sandbox", "process",
                                       "--seed", "7", "--workers", "2", "--assignment", str(ROOT / "assignment.toml")])
    assert result.exit_code == 0, result.output
    assert "Suspicious code" in result.output and f"{place} grader-import" in result.output

    suspicious = json.loads((out / "summary.json").read_text())["suspicious_code"]
    assert list(suspicious) == ["forger"]
    assert [(f["file"], f["line"], f["category"]) for f in suspicious["forger"]] == [
        ("neuron.py", at + 1, "grader-import"), ("neuron.py", at + 2, "grader-patch")]

    with open(out / "grades.csv", newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert rows["forger"]["flags"] == "2: grader-import, grader-patch" and rows["honest"]["flags"] == ""

    records = {r["id"]: r for r in json.loads((out / "results.json").read_text())["students"]}
    assert records["honest"]["flags"] == [] and records["forger"]["flags"][1]["text"] == "assigns grader.worker.harness._same"

    report = (out / "report.html").read_text(encoding="utf-8")
    section = report[report.index("<h2>Suspicious code</h2>"):]
    section = section[:section.index("<h2>", 5)]
    assert ">forger</a>" in section and place in section and f"neuron.py:{at + 2}" in section and "honest" not in section
