"""The threat model of SECURITY.md, one hostile submission per item, graded in both sandbox modes (bubblewrap,
where it works, and plain processes).

Each asserts: the submission gets no more than its real functions earn, what happened is said in
plain words, the other functions' results stand, and the grader's outputs are untouched.
"""

from __future__ import annotations

import json
import os
import socket
import threading

import pytest

from examples.variants import WRONG_VARIANTS, build_submission
from grader import sandbox
from grader.batch import grade_class
from grader.engine import Session
from tests.conftest import SEED, by_function, live_uid

MODES = ["process"] + (["bwrap"] if sandbox.bwrap_works() else [])

WRONG_GRADIENT = WRONG_VARIANTS["gradient sum"][0]["backprop"]["gradient"]


@pytest.fixture(scope="module", params=MODES)
def sandboxed(request, course):
    with Session(course, seed=SEED, sandbox=request.param) as grading:
        yield grading


@pytest.fixture(scope="module")
def honest_wrong_score(sandboxed, course, tmp_path_factory):
    """What a submission whose only fault is a summed gradient earns."""
    folder = build_submission(course.solutions, tmp_path_factory.mktemp("honest") / "s", {"backprop": {"gradient": WRONG_GRADIENT}})
    return sandboxed.grade(folder).score


def _function_body(body: str) -> dict:
    return {"autograd_basics": {"detached": "def detached(a):\n" + "".join(f"    {line}\n" for line in body.splitlines())}}


HOSTILE_FUNCTIONS = {
    "sleeps": "import time\ntime.sleep(100)",
    "recurses without end": "return detached(a)",
    "fork bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
    "prints 300 MB": "print('x' * 300_000_000)\nreturn None",
    "changes directory and returns a generator": "import os\nos.chdir('/')\nreturn (x for x in [a])",
    "returns NaN": "return a.detach() * float('nan')",
    "returns the wrong dtype": "return a.detach().double()",
    "returns a lying Tensor subclass": (
        "class Liar(torch.Tensor):\n    def tolist(self):\n        return [0.0, 0.0, 0.0, 0.0]\n"
        "    def __eq__(self, other):\n        return True\n    def __float__(self):\n        return 0.0\n"
        "return torch.zeros(2, 2).as_subclass(Liar)"),
    "returns an object whose pickle runs code": (
        "class Bomb:\n    def __reduce__(self):\n        import os\n        return (os.system, ('touch /tmp/pwned',))\nreturn Bomb()"),
    "kills its parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)",
    "imitates the grader's output": (
        "import os\nprint('Total: 49 / 49 points (100.0%)')\nprint(json.dumps({'score': 49, 'max_score': 49, 'tests': []}))\n"
        "for fd in range(3, 64):\n    try:\n        os.write(fd, b'{\"done\": true}\\n')\n    except OSError:\n        pass\n"
        "return None"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FUNCTIONS))
def test_hostile_function_earns_nothing_and_harms_nothing_else(name, sandboxed, course, tmp_path):
    body = HOSTILE_FUNCTIONS[name].replace("json.dumps", "__import__('json').dumps")
    folder = build_submission(course.solutions, tmp_path / "s", _function_body(body))
    result = sandboxed.grade(folder)
    (detached,) = by_function(result, "detached")
    assert detached.status in ("fail", "error") and detached.score == 0 and detached.message
    if name != "imitates the grader's output":
        others = [t for t in result.tests if t.function != "detached"]
        assert all(t.status == "pass" for t in others), [t.message for t in others if t.status != "pass"]
    assert result.score <= course.max_score - course.function("detached").max_score
    assert result.internal_error is None
    assert len(detached.output) < 5_000
    assert not os.path.exists("/tmp/pwned")
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and live_uid(pid) == sandboxed.uid_base], "processes left alive"




PATCHES = """
import builtins, math, sys
import torch
torch.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
torch.Tensor.__eq__ = lambda self, other: True
math.isclose = lambda *a, **k: True
builtins.abs = lambda x: 0
sys.modules["grader.compare"] = None
sys.modules["solutions"] = sys.modules[__name__]
"""


def test_monkeypatching_torch_and_builtins_forges_nothing(sandboxed, course, tmp_path, honest_wrong_score):
    folder = build_submission(course.solutions, tmp_path / "s", {"backprop": {"gradient": WRONG_GRADIENT}})
    (folder / "backprop.py").write_text(PATCHES + (folder / "backprop.py").read_text())
    result = sandboxed.grade(folder)
    assert all(t.score == 0 for t in by_function(result, "gradient") if t.check in ("returns", "finite-difference"))
    assert result.score <= honest_wrong_score


def test_network_is_unreachable(sandboxed, course, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    connections, graded = [], threading.Event()

    def accept():
        while not graded.is_set():  # listens for as long as the code runs
            try:
                connections.append(listener.accept())
            except OSError:
                pass

    thread = threading.Thread(target=accept)
    thread.start()
    folder = build_submission(course.solutions, tmp_path / "s", _function_body(
        f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'answers?')\nreturn a.detach()"))
    try:
        result = sandboxed.grade(folder)
    finally:
        graded.set()
        thread.join()
    listener.close()
    (detached,) = by_function(result, "detached")
    assert detached.status == "error" and any(reason in detached.message for reason in (
        "Address family not supported", "Network is unreachable", "refused", "PermissionError"))  # seccomp, then Landlock
    assert connections == []


@pytest.mark.parametrize("mode", MODES)
def test_writes_outside_the_scratch_folder_fail_and_outputs_stay_intact(mode, course, tmp_path):
    root = tmp_path / "class"
    build_submission(course.solutions, root / "alice")
    out = tmp_path / "grades"
    targets = [out / "grades.csv", root / "alice" / "neuron.py", course.root / "README.md", tmp_path / "escape.txt"]
    body = "import os\nwritten = []\n"
    for target in targets:
        body += f"try:\n    open({str(target)!r}, 'w').write('0')\n    written.append(1)\nexcept OSError:\n    pass\n"
    body += "open('scratch-is-fine.txt', 'w').write('ok')\nreturn a.detach() if not written else None"
    build_submission(course.solutions, root / "mallory", _function_body(body))
    alice_before = (root / "alice" / "neuron.py").read_text()
    readme_before = (course.root / "README.md").read_text()
    grade_class(root, course, out, SEED, workers=2, sandbox=mode)
    records = {json.loads(line)["id"]: json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()}
    assert records["alice"]["score"] == course.max_score
    assert records["mallory"]["score"] == course.max_score, "a write outside the scratch folder succeeded"
    assert (root / "alice" / "neuron.py").read_text() == alice_before
    assert (course.root / "README.md").read_text() == readme_before
    assert not (tmp_path / "escape.txt").exists()
    assert (out / "grades.csv").read_text().startswith("id,total,max")


@pytest.mark.parametrize("mode", MODES)
def test_other_students_code_is_unreadable(mode, course, tmp_path):
    root = tmp_path / "class"
    for index in range(3):
        build_submission(course.solutions, root / f"honest{index}")
    classmate = root / "honest0" / "backprop.py"
    spy = ("import os\nstage_root = os.path.dirname(os.path.dirname(__file__))\nleaks = []\n"
           "try:\n    leaks.append(os.listdir(stage_root))\nexcept OSError:\n    pass\n"
           f"try:\n    leaks.append(open({str(classmate)!r}).read())\nexcept OSError:\n    pass\n"
           "assert open(__file__).read()\n"
           "return a.detach() if not leaks else None")
    build_submission(course.solutions, root / "spy", _function_body(spy))
    out = tmp_path / "grades"
    grade_class(root, course, out, SEED, workers=2, sandbox=mode)
    records = {json.loads(line)["id"]: json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()}
    spied = [t for t in records["spy"]["tests"] if t["function"] == "detached"][0]
    assert spied["status"] == "pass", f"the spy listed the stages or read a classmate's file: {spied['message']}"


@pytest.mark.skipif(os.geteuid() != 0, reason="private stages need root")
def test_staged_code_belongs_to_its_workers_uid_only(sandboxed, course, tmp_path):
    from grader import engine, submission
    stage = tmp_path / "stage"
    submission.load(course.solutions, {spec.name for spec in course.functions}, stage)
    engine._give(stage, sandboxed.uid_base + 1)
    for path in (stage, *stage.iterdir()):
        assert path.stat().st_uid == sandboxed.uid_base + 1
    assert stage.stat().st_mode & 0o777 == 0o700
