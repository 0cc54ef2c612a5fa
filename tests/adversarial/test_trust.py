"""Attacks of a hostile student who has read the source, in both sandbox modes (bubblewrap and plain processes).

Each one must earn nothing it did not compute, never be reported as a grader error, and leave honest
neighbours graded exactly as when they are graded alone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile

import pytest

from examples.variants import WRONG_VARIANTS, build_submission
from grader import sandbox
from grader.batch import grade_class
from grader.engine import Session
from tests.conftest import SEED, by_function, live_uid

MODES = ["process"] + (["bwrap"] if sandbox.bwrap_works() else [])
SECRET = "ghp_forged_token_that_must_not_leak"
WRONG_GRADIENT = WRONG_VARIANTS["gradient sum"][0]["backprop"]["gradient"]


@pytest.fixture(scope="module", params=MODES)
def grading(request, course):
    """One session per sandbox mode, started with a secret in the grader's environment."""
    saved = os.environ.get("GITHUB_TOKEN")
    os.environ["GITHUB_TOKEN"] = SECRET
    try:
        with Session(course, seed=SEED, sandbox=request.param) as session:
            yield session
    finally:
        if saved is None:
            os.environ.pop("GITHUB_TOKEN", None)
        else:
            os.environ["GITHUB_TOKEN"] = saved


def _detached(body: str) -> dict:
    """A submission whose ``detached`` runs ``body`` (the reference's ``a.detach()`` is right)."""
    return {"autograd_basics": {"detached": "def detached(a):\n" + "".join(f"    {line}\n" for line in body.splitlines())}}


def _grade(session, course, tmp_path, changes: dict | None = None, prefix: str = ""):
    folder = build_submission(course.solutions, tmp_path / "s", changes)
    if prefix:
        neuron = folder / "neuron.py"
        neuron.write_text(prefix + neuron.read_text())
    return session.grade(folder)


FORGED_ENCODINGS = {
    "tensors without their values": "record['data'] = None",
    "tensors without values, with a forged summary": "record['data'] = None\nrecord['summary'] = [0.0, 0.0, 0.0, 0.0]",
    "a bare tensor record": "record.clear()\nrecord['type'] = 'tensor'",
    "values of the wrong count": "record['data'] = [0.0]",
}


@pytest.mark.parametrize("name", sorted(FORGED_ENCODINGS))
def test_a_forged_tensor_encoding_earns_nothing(name, grading, course, tmp_path):
    """The issue's forged grade: code that computes nothing (here: a summed gradient) rewrites the harness's
    tensor encoding in its own process. It must score no more than the same code without the patch."""
    forged = "\n".join(f"    {line}" for line in FORGED_ENCODINGS[name].splitlines())
    patch = ("import grader.worker.encoding as _encoding\n_original = _encoding.encode_tensor\n"
             "def _forged(tensor, depth=0):\n    record = _original(tensor, depth)\n"
             f"{forged}\n    return record\n_encoding.encode_tensor = _forged\n")
    wrong = {"backprop": {"gradient": WRONG_GRADIENT}}
    honest = _grade(grading, course, tmp_path / "honest", wrong)
    patched = _grade(grading, course, tmp_path / "patched", wrong, prefix=patch)
    assert not patched.internal_errors
    assert all(t.score == 0 for t in by_function(patched, "gradient") if t.check in ("returns", "finite-difference"))
    assert patched.score <= honest.score
    readable = [t for t in patched.tests if t.status != "pass" and "could not read what your code returned" in t.message]
    assert readable, "the forged records are named as unreadable"


def test_a_tensor_subclass_cannot_lie_about_its_autograd_state(grading, course, tmp_path):
    liar = ("class Tensor(torch.Tensor):\n"
            "    @classmethod\n"
            "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
            "        name = getattr(func, '__name__', '')\n"
            "        if name == '__get__' and getattr(getattr(func, '__self__', None), '__name__', '') in ('requires_grad', 'grad_fn'):\n"
            "            return False if func.__self__.__name__ == 'requires_grad' else None\n"
            "        return super().__torch_function__(func, types, args, kwargs or {})\n"
            "Tensor.__module__ = 'torch'\n"
            "return (a * 1).as_subclass(Tensor)")
    result = _grade(grading, course, tmp_path, _detached(liar))
    (detached,) = by_function(result, "detached")
    assert detached.status == "fail" and "subclass" in detached.message
    assert not result.internal_errors


def test_no_secret_of_the_graders_environment_is_visible(grading, course, tmp_path):
    spy = (f"import os\nfound = [v for v in os.environ.values() if {SECRET!r} in v]\n"
           "try:\n    pids = os.listdir('/proc')\nexcept OSError:\n    pids = [str(pid) for pid in range(1, 5000)]\n"
           "for pid in pids:\n    try:\n"
           f"        found += [pid] if {SECRET!r}.encode() in open(f'/proc/{{pid}}/environ', 'rb').read() else []\n"
           "    except (OSError, ValueError):\n        pass\n"
           "return a.detach() if not found else None")
    result = _grade(grading, course, tmp_path, _detached(spy))
    assert by_function(result, "detached")[0].status == "pass", "the secret was readable"


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop is for graders running as root")
def test_as_root_the_code_runs_unprivileged_in_every_mode(grading, course, tmp_path):
    victim = tmp_path / "host-file"
    victim.write_text("mine")
    victim.chmod(0o644)
    body = (f"import os\nescaped = [os.getuid() == 0, os.geteuid() == 0]\n"
            f"try:\n    os.chmod({str(victim)!r}, 0o777)\n    escaped.append(True)\nexcept OSError:\n    pass\n"
            f"try:\n    os.chown({str(victim)!r}, 0, 0)\n    escaped.append(True)\nexcept OSError:\n    pass\n"
            "return a.detach() if not any(escaped) else None")
    result = _grade(grading, course, tmp_path, _detached(body))
    assert by_function(result, "detached")[0].status == "pass", "the code kept root's powers"
    assert victim.stat().st_mode & 0o777 == 0o644


def test_no_datagram_leaves_the_sandbox(grading, course, tmp_path):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    body = (f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.sendto(b'the answers', ('127.0.0.1', {port}))\nreturn a.detach()")
    result = _grade(grading, course, tmp_path, _detached(body))
    try:
        received = listener.recv(100)
    except OSError:
        received = b""
    listener.close()
    (detached,) = by_function(result, "detached")
    assert received == b"" and detached.status == "error"
    assert "Address family not supported" in detached.message or "Network is unreachable" in detached.message


def test_a_real_time_signal_is_the_functions_crash_not_a_grader_error(grading, course, tmp_path):
    result = _grade(grading, course, tmp_path, _detached("import os\nos.kill(os.getpid(), 40)\nreturn a.detach()"))
    (detached,) = by_function(result, "detached")
    assert detached.status == "error" and "signal 40" in detached.message
    assert not result.internal_errors


PIPE_FLOODS = {
    "a forged line nested too deep to parse": "os.write(fd, b'[' * 200_000 + b'\\n')",
    "more bytes than a request may send": "line = json.dumps({'loading': 'x' * 60_000}).encode() + b'\\n'\n"
                                          "for _ in range(1_200):\n    os.write(fd, line)",
    "more messages than a request may send": "for index in range(100_000):\n"
                                             "    os.write(fd, (json.dumps({'loaded': 'x'}) + '\\n').encode())",
    "a begin message that would reset the time limit forever": (
        "import time\nfor index in range(1_000):\n"
        "    os.write(fd, (json.dumps({'begin': 'detached', 'index': 0}) + '\\n').encode())\n    time.sleep(0.5)"),
}


@pytest.mark.parametrize("name", sorted(PIPE_FLOODS))
def test_forged_protocol_on_the_pipe_costs_only_the_function(name, grading, course, tmp_path):
    flood = "\n".join(f"    {line}" for line in PIPE_FLOODS[name].splitlines())
    body = ("import json, os, stat\nfor fd in range(3, 256):\n    try:\n"
            "        if not stat.S_ISFIFO(os.fstat(fd).st_mode):\n            continue\n    except OSError:\n        continue\n"
            f"{flood}\nreturn a.detach()")
    result = _grade(grading, course, tmp_path, _detached(body))
    (detached,) = by_function(result, "detached")
    assert detached.status in ("fail", "error") and detached.score == 0
    assert not result.internal_errors
    others = [t for t in result.tests if t.function != "detached"]
    assert all(t.status == "pass" for t in others), [t.message for t in others if t.status != "pass"]


@pytest.mark.skipif(os.geteuid() != 0, reason="finding the daemon by its uid needs the uid drop of a root grader")
def test_a_daemon_does_not_outlive_its_function(grading, course, tmp_path):
    body = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(3600)\n"
            "    os._exit(0)\nreturn a.detach()")
    _grade(grading, course, tmp_path, _detached(body))
    uids = range(grading.uid_base, grading.uid_base + len(grading.workers))
    alive = [pid for pid in os.listdir("/proc") if pid.isdigit() and live_uid(pid) in uids]
    assert alive == [], "a process of the submission outlived its function"




PLANTED = ("import os\nfor folder in ('/tmp', os.getcwd()):\n    try:\n"
           "        os.makedirs(os.path.join(folder, 'statistics'), exist_ok=True)\n"
           "        open(os.path.join(folder, 'statistics', '__init__.py'), 'w').write('raise SystemExit(7)')\n"
           "        open(os.path.join(folder, 'left-behind.txt'), 'w').write('hello')\n"
           "    except OSError:\n        pass\nreturn a.detach()")
USES_STATISTICS = "import statistics\nstatistics.mean([1.0, 2.0])\nreturn a.detach()"
SPY = ("import glob, os\nseen = glob.glob('/tmp/**/left-behind.txt', recursive=True) + glob.glob('../*/left-behind.txt')\n"
       "seen += glob.glob('/tmp/*/neuron.py') + glob.glob('/tmp/**/statistics', recursive=True)\n"
       "return a.detach() if not seen else None")


@pytest.mark.parametrize("mode", MODES)
def test_a_student_cannot_reach_a_later_one(mode, course, tmp_path):
    """[hostile, honest, spy] graded in that order by one worker: the honest student gets exactly the result
    of being graded alone, and the spy finds nothing the others wrote."""
    root = tmp_path / "class"
    build_submission(course.solutions, root / "a-hostile", _detached(PLANTED))
    build_submission(course.solutions, root / "b-honest", _detached(USES_STATISTICS))
    build_submission(course.solutions, root / "c-spy", _detached(SPY))
    out = tmp_path / "grades"
    grade_class(root, course, out, SEED, workers=1, sandbox=mode)
    records = {json.loads(line)["id"]: json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()}
    with Session(course, seed=SEED, sandbox=mode) as alone:
        expected = alone.grade(root / "b-honest")
    assert records["b-honest"]["score"] == expected.score == course.max_score
    assert [t["status"] for t in records["b-honest"]["tests"]] == [t.status for t in expected.tests]
    spy = [t for t in records["c-spy"]["tests"] if t["function"] == "detached"][0]
    assert spy["status"] == "pass", "the spy found what an earlier student wrote"


_CHILD_FRAME = ("import sys as _sys, os as _os, time as _time\n_f = _sys._getframe()\n"
                "while _f is not None and _f.f_code.co_name != '_child':\n    _f = _f.f_back\n"
                "if _f is not None:\n    _send, _req, _i = _f.f_locals['send'], _f.f_locals['request'], _f.f_locals['index']\n")
FRAME_FORGERIES = {  # found by the first adversarial review: the harness's own `send`, reached through the stack
    "a time too large for a float": ("    for _n, _p in enumerate(_req.probes):\n"
                                     "        _send({'probe': _p.id, 'index': _n, 'observation': {'status': 'ok', 'calls': [{'seconds': 10**400}]}})\n"
                                     "    _send({'done': True})\n    _os._exit(0)\n"),
    "an empty begin, then a probe past the last": ("    _send({'begin': '', 'index': 0})\n"
                                                   "    _send({'probe': 'nothing', 'index': len(_req.probes) - 1, 'observation': {}})\n"
                                                   "    _os._exit(0)\n"),
    "a begin repeated to reset the time limit": ("    for _ in range(100):\n"
                                                 "        _send({'begin': _req.probes[_i].function, 'index': _i})\n"
                                                 "        _time.sleep(_req.timeout * 0.9)\n"),
    "done before the probes ran": "    _send({'done': True})\n    _os._exit(0)\n",
    "an index that is a float": ("    _send({'begin': _req.probes[_i + 1].function, 'index': float(_i + 1)})\n"
                                 "    _os._exit(0)\n"),  # found by the review of the change: 1.0 == 1 indexed a tuple
}


@pytest.mark.parametrize("name", sorted(FRAME_FORGERIES))
def test_the_harness_reached_through_the_stack_forges_nothing(name, grading, course, tmp_path):
    """Code that finds the harness's ``send`` in its own stack and writes forged messages with it: the functions
    of that module fail, nothing is a grader error, and the time limits still hold (a repeated ``begin`` does
    not reset them: without that, this test would run for hours)."""
    result = _grade(grading, course, tmp_path, prefix=_CHILD_FRAME + FRAME_FORGERIES[name])
    assert not result.internal_errors
    assert all(t.score == 0 for t in result.tests if t.function in ("activate", "model", "loss_fn"))
    assert all(t.status == "pass" for t in by_function(result, "detached"))  # autograd_basics.py does not import neuron


HOST_READS = {
    "the password file": "open('/etc/shadow').read()",
    "another user's terminal": "[open('/dev/pts/' + name).read(1) for name in os.listdir('/dev/pts') if name.isdigit()]",
    "a classmate's shared memory": "import ctypes\nassert ctypes.CDLL(None).shmget(0x5107, 4096, 0o1666) >= 0",
    "a host service's Unix socket": "import socket\nsocket.socket(socket.AF_UNIX).connect(SOCKET)",
    "a user namespace through clone": ("import ctypes, ctypes.util\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                                       "assert libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0) >= 0"),  # x86-64 clone
}


@pytest.mark.parametrize("name", sorted(HOST_READS))
def test_nothing_of_the_host_is_within_reach(name, grading, course, tmp_path):
    """Found by the first adversarial review in process mode: with the capability to read files (a Python only
    root can read), Landlock gave all of /etc and /dev; System V shared memory outlived the student and was
    seen by the next; a Unix socket reached a host service."""
    service = tempfile.mkdtemp(prefix="autograde-service-")
    os.chmod(service, 0o777)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(os.path.join(service, "service.sock"))
    os.chmod(os.path.join(service, "service.sock"), 0o777)
    listener.listen(1)
    code = HOST_READS[name].replace("SOCKET", repr(os.path.join(service, "service.sock")))
    body = "import os\ntry:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + \
           "    reached = True\nexcept (OSError, AssertionError):\n    reached = False\nreturn a.detach() if not reached else None"
    try:
        result = _grade(grading, course, tmp_path, _detached(body))
    finally:
        listener.close()
        shutil.rmtree(service, ignore_errors=True)
    assert by_function(result, "detached")[0].status == "pass", f"{name} was within reach"


# --- attacks of the second adversarial review ---

DEEP_TREE = ("import os\nfor _ in range(2500):\n    os.mkdir('d')\n    os.chdir('d')\n"
             "for _ in range(2500):\n    os.chdir('..')\nreturn a.detach()")


@pytest.mark.parametrize("mode", MODES)
def test_a_tree_deeper_than_the_recursion_limit_costs_no_one_anything(mode, course, tmp_path):
    """Python 3.11's rmtree recursed: removing a 2,500-deep tree raised RecursionError, an internal error, and
    under bwrap every later student of that worker got 0."""
    root = tmp_path / "class"
    build_submission(course.solutions, root / "a-deep", _detached(DEEP_TREE))
    build_submission(course.solutions, root / "b-honest")
    out = tmp_path / "grades"
    summary = grade_class(root, course, out, SEED, workers=1, sandbox=mode)
    records = {json.loads(line)["id"]: json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()}
    assert summary.errors == 0 and records["b-honest"]["score"] == course.max_score
    assert records["a-deep"]["score"] == course.max_score  # the tree is not a mistake, only an annoyance


MEMORY_SPY = ("import ctypes, re\nfound = set()\nfor fields in (line.split() for line in open('/proc/self/maps')):\n"
              "    if not fields[1].startswith('rw') or (len(fields) > 5 and fields[5].startswith(('/', '[v'))):\n"
              "        continue\n    start, end = (int(x, 16) for x in fields[0].split('-'))\n"
              "    if end - start <= 512 * 2**20:\n"
              "        found |= set(re.findall(rb'ADA-' + rb'PRIVATE-[A-Z]+', ctypes.string_at(start, end - start)))\n"
              "return a.detach() if not found else None")
SECRETIVE = ("print('ADA-' + 'PRIVATE-OUTPUT my password is hunter2')\n"
             "raise ValueError('ADA-' + 'PRIVATE-MESSAGE')")


@pytest.mark.parametrize("mode", MODES)
def test_a_later_student_finds_nothing_of_an_earlier_one_in_memory(mode, course, tmp_path):
    """Every child is forked from one worker: what an earlier child sent (its output, messages, source lines)
    stayed in the worker's freed memory for a later child to read with ctypes."""
    root = tmp_path / "class"
    build_submission(course.solutions, root / "a-ada", _detached(SECRETIVE))
    build_submission(course.solutions, root / "b-bob", _detached(MEMORY_SPY))
    out = tmp_path / "grades"
    grade_class(root, course, out, SEED, workers=1, sandbox=mode)
    records = {json.loads(line)["id"]: json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()}
    spy = [t for t in records["b-bob"]["tests"] if t["function"] == "detached"][0]
    assert spy["status"] == "pass", "the later student read the earlier one's output in memory"


FORWARD_MODE = {
    "torch.func.jacfwd": "from torch.func import jacfwd\nreturn jacfwd(loss, argnums=(0, 1))(W, b)",
    "torch.autograd.forward_ad": (
        "import torch.autograd.forward_ad as fwAD\ngrads = []\nfor which in range(2):\n"
        "    tangents = [torch.zeros_like(W), torch.zeros_like(b)]\n    parts = []\n"
        "    for index in range(tangents[which].numel()):\n        tangent = [t.clone() for t in tangents]\n"
        "        tangent[which].view(-1)[index] = 1\n        with fwAD.dual_level():\n"
        "            dual = loss(fwAD.make_dual(W, tangent[0]), fwAD.make_dual(b, tangent[1]))\n"
        "            parts.append(fwAD.unpack_dual(dual).tangent)\n    grads.append(torch.stack(parts).reshape(tangents[which].shape))\n"
        "return tuple(grads)"),
}


@pytest.mark.parametrize("name", sorted(FORWARD_MODE))
def test_forward_mode_autograd_is_switched_off_too(name, session, course, tmp_path):
    body = "def gradient(W, b, X, y):\n    def loss(W, b):\n        return torch.mean((torch.sigmoid(X @ W + b) - y) ** 2)\n" + \
        "".join(f"    {line}\n" for line in FORWARD_MODE[name].splitlines())
    result = session.grade(build_submission(course.solutions, tmp_path / "s", {"backprop": {"gradient": body}}))
    checks = {t.check: t for t in by_function(result, "gradient")}
    assert checks["returns"].status == "pass"  # it is right, with autograd
    assert checks["no-autograd"].status != "pass"


@pytest.mark.parametrize("mode", MODES)
def test_correct_code_that_uses_multiprocessing_passes(mode, grading, course, tmp_path):
    """A false failure found by the second review: semaphores need a writable /dev/shm (the sandbox's own under
    bwrap, emptied after each child; the host's for a child's own uid, its entries removed after it)."""
    if grading.sandbox != mode:
        pytest.skip("graded by the session of the other mode")
    body = ("import multiprocessing\nwith multiprocessing.get_context('fork').Pool(2) as pool:\n"
            "    pool.map(abs, [1, 2])\nreturn a.detach()")
    result = _grade(grading, course, tmp_path, _detached(body))
    if mode == "process" and os.geteuid() != 0:
        pytest.skip("without a uid of its own, a child cannot write the host's /dev/shm")
    assert by_function(result, "detached")[0].status == "pass", by_function(result, "detached")[0].message


def test_a_sequence_record_without_its_items_earns_nothing(grading, course, tmp_path):
    """Found by the third adversarial review: an encoded tuple of length 3 with no items compared nothing and
    passed ``backward``'s returns check."""
    patch = ("import sys as _s\n_enc = _s.modules['grader.worker.encoding']\n_original = _enc.encode\n"
             "def _encode(value, depth=0):\n    if value == 'forged':\n        return {'type': 'tuple', 'items': [], 'length': 3}\n"
             "    return _original(value, depth)\n_enc.encode = _encode\n")
    folder = build_submission(course.solutions, tmp_path / "s", {"backprop": {"backward": "def backward(x, y, z):\n    return 'forged'\n"}})
    (folder / "backprop.py").write_text(patch + (folder / "backprop.py").read_text())
    result = grading.grade(folder)
    assert all(t.score == 0 for t in by_function(result, "backward")) and not result.internal_errors


def test_a_value_the_encoder_cannot_read_is_the_students_failure(grading, course, tmp_path):
    """Found by the review of the change: a sparse tensor made the encoder raise, which read as tampering."""
    result = _grade(grading, course, tmp_path, _detached("return a.detach().to_sparse()"))
    (detached,) = by_function(result, "detached")
    assert detached.status == "fail" and "returned a value the grader cannot read" in detached.message
    assert not result.internal_errors


def test_the_edited_copies_of_the_repair_search_run_sandboxed_and_earn_nothing(grading, course, tmp_path):
    """Code that knows the repair search (grader/repair.py) runs its edited copies, and acts differently inside
    them: passing there, and reaching for the secret and the solutions, earns neither points nor access."""
    loss = ("def loss_fn(y_pred, y):\n"
            "    if __name__.startswith('_repair_'):\n"
            "        import os\n"
            "        leaked = os.environ.get('GITHUB_TOKEN') or open('/proc/1/environ', 'rb').read()\n"
            "        raise RuntimeError(f'leaked {leaked!r}')\n"
            "    return torch.sum((y_pred - y) ** 2)\n")
    result = _grade(grading, course, tmp_path, {"neuron": {"loss_fn": loss}})
    returns = next(t for t in by_function(result, "loss_fn") if t.check == "returns")
    assert returns.status == "fail" and returns.score == 0 and returns.repair is None
    assert SECRET not in json.dumps(result.as_dict()) + "".join(result.warnings)
    passing = loss.replace("        import os\n        leaked = os.environ.get('GITHUB_TOKEN') or open('/proc/1/environ', 'rb').read()\n"
                           "        raise RuntimeError(f'leaked {leaked!r}')\n", "        return torch.mean((y_pred - y) ** 2)\n")
    result = _grade(grading, course, tmp_path / "again", {"neuron": {"loss_fn": passing}})
    returns = next(t for t in by_function(result, "loss_fn") if t.check == "returns")
    assert returns.status == "fail" and returns.score == 0 and returns.repair is None  # no points, and no hint either
