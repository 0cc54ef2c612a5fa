"""The warm check server: a second check is answered by the running server with the verdicts a check in its own
process gives; a server only ever saves time (whatever goes wrong, the check grades itself); it serves one key
only, its own user only, and nothing a student's code does reaches it. Every server a test starts lives in
that test's own runtime folder and is stopped (and, failing that, killed) by the test."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader import assignment
from grader.daemon import client, place, serve, wire
from grader.daemon.place import Place, Settings
from grader import results as outcomes
from grader.results import ERROR, FAIL, PASS, Flag, MalformedResult, Repair, SubmissionResult, from_record, to_record
from tests.conftest import ROOT, SEED

ARGS = ("--sandbox", "process", "--seed", str(SEED), "--only", "model", "--only", "loss_fn", "--format", "json")
WAIT_SECONDS = 120.0  # for a server to go: an event awaited, never a duration asserted


@pytest.fixture
def runtime(monkeypatch):
    """A runtime folder of the test's own (a short path: a socket's must fit in 108 bytes), the environment of a
    check that may use a server, and at the end every server in that folder stopped (killed when it does not
    stop)."""
    folder = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    assert place.runtime_folder() == folder / "autograde"
    monkeypatch.delenv("AUTOGRADE_NO_SERVER", raising=False)
    monkeypatch.delenv("CI", raising=False)
    env = {**os.environ}
    yield env
    pids = _server_pids()
    for path in place.servers(folder / "autograde"):
        client.ask(path, {"stop": True})
    for pid in pids:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder)


def _check(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "check", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _server_pids() -> list[int]:
    folder = place.runtime_folder()
    answers = [client.ask(path, {"status": True}) for path in place.servers(folder)] if folder else []
    return [answer["status"]["pid"] for answer in answers if isinstance(answer, dict)]


def _gone(pid: int) -> bool:
    """Wait for a process of the test's own to end (a zombie counts as ended)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


WRONG_LOSS = {"neuron": {"loss_fn": "def loss_fn(y_pred, y):\n    return ((y_pred - y) ** 2).sum()\n"}}


def test_a_second_check_is_answered_by_the_same_warm_server_with_the_same_verdicts(runtime, make_submission):
    wrong = make_submission(WRONG_LOSS)
    first = _check(runtime, wrong, *ARGS)
    started = _server_pids()
    assert len(started) == 1
    for junk in (b"not json\n", b"{" * 100_000, b'{"protocol": 1, "grade": "relative/path"}\n'):  # it outlives junk
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(str(place.servers(place.runtime_folder())[0]))
            raw.sendall(junk)
    second = _check(runtime, wrong, *ARGS)
    alone = _check(runtime, wrong, *ARGS, "--no-server")
    assert _server_pids() == started  # one server, the same one: warm
    assert first.returncode == second.returncode == alone.returncode == 1
    assert first.stdout == second.stdout == alone.stdout
    failing = {test["function"] for test in json.loads(second.stdout)["tests"] if test["status"] != "pass"}
    assert failing == {"loss_fn"}
    assert "note:" not in first.stderr + second.stderr
    right = _check(runtime, ROOT / "solutions", *ARGS)
    assert right.returncode == 0 and _server_pids() == started


def test_a_server_that_answers_nonsense_costs_nothing_but_time(runtime, make_submission, course):
    """A socket at the server's place that answers what is not a result: the check says so and grades itself."""
    wrong = make_submission(WRONG_LOSS)
    settings = Settings(ROOT / "assignment.toml", "process", "cpu", SEED, ("model", "loss_fn"))
    where = Place(place.runtime_folder(), settings.key(course))
    answers = [b'{"result": {"tests": "all passed"}}\n', b"[1, 2\n", b'{"result": null}\n', b'{"error": "no"}\n',
               b"\n", b"x" * 100_000, b""]
    with socket.socket(socket.AF_UNIX) as fake:
        fake.bind(str(where.socket))
        fake.listen(4)

        def answer_nonsense():
            for line in [*answers, answers[0]]:
                connection, _ = fake.accept()
                with connection:
                    connection.recv(2**16)
                    connection.sendall(line)

        server = threading.Thread(target=answer_nonsense)
        server.start()
        try:
            refused = [client.grade(settings, course, wrong) for _ in answers]
            checked = _check(runtime, wrong, *ARGS)
        finally:
            server.join(timeout=WAIT_SECONDS)
    assert all(answer.result is None and answer.problem.startswith("the check server") for answer in refused)
    alone = _check(runtime, wrong, *ARGS, "--no-server")
    assert checked.returncode == alone.returncode == 1 and checked.stdout == alone.stdout
    assert "note: the check server sent what is not a result" in checked.stderr and "checking without it" in checked.stderr


def test_each_setting_and_version_that_makes_a_grade_has_a_server_of_its_own(course, tmp_path, monkeypatch):
    base = Settings(ROOT / "assignment.toml", "bwrap", "cpu", None, ())
    keys = {base.key(course)}
    for changed in (replace(base, sandbox="process"), replace(base, device="cuda"), replace(base, seed=1),
                    replace(base, only=("model",))):
        keys.add(changed.key(course))
    monkeypatch.setattr(place.versions, "torch_version", lambda: "0.0.0")
    keys.add(base.key(course))
    monkeypatch.undo()
    copy = tmp_path / "course"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".*", "tests", "grader", "benchmarks", "docs"))
    (copy / "solutions" / "neuron.py").write_text((copy / "solutions" / "neuron.py").read_text() + "\n# edited\n")
    keys.add(base.key(assignment.load(copy / "assignment.toml")))
    assert len(keys) == 7
    assert base.key(course) == base.key(assignment.load(ROOT / "assignment.toml"))  # stable: the next check finds it


def test_the_runtime_folder_is_the_users_own_or_there_is_no_server(monkeypatch):
    tmp_path = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))  # short paths: a socket's must fit in 108 bytes
    runtime = tmp_path / "xdg"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert place.runtime_folder() == runtime / "autograde"
    assert (runtime / "autograde").stat().st_mode & 0o777 == 0o700
    (runtime / "autograde").chmod(0o777)  # opened up by someone: made private again
    assert place.runtime_folder() == runtime / "autograde" and (runtime / "autograde").stat().st_mode & 0o777 == 0o700
    if os.geteuid() == 0:
        os.chown(runtime / "autograde", 12345, 12345)  # another user's: not this one's server place
        assert place.runtime_folder() == tmp_path / "tmp" / f"autograde-{os.geteuid()}"
        os.chown(tmp_path / "tmp" / f"autograde-{os.geteuid()}", 12345, 12345)
        assert place.runtime_folder() is None
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / ("x" * 90)))  # too long for a socket's path
    assert place.runtime_folder() != tmp_path / ("x" * 90) / "autograde"
    shutil.rmtree(tmp_path)


class Refusing:
    """A session that must not be asked to grade."""

    seed, sandbox, device = 1, "process", "cpu"

    def grade(self, submission):
        raise AssertionError("a refused request was graded")


@pytest.mark.parametrize("request_sent", [
    {"protocol": 1, "grade": str(ROOT / "solutions")},
    {"protocol": 1, "token": "guessed", "grade": str(ROOT / "solutions")},
    {"protocol": 1, "token": "guessed", "stop": True},
    {"protocol": 1, "token": ["token"], "status": True},
])
def test_a_request_without_the_servers_token_is_refused(request_sent):
    """Where student code may open Unix sockets (a GPU's driver needs them), it still cannot read the token."""
    served = serve.Served(Refusing(), None, None, "key", "token")
    ours, theirs = socket.socketpair()
    with ours, theirs:
        wire.send(theirs, request_sent)
        assert serve._answer(ours, served) == serve.ANSWERED  # served on, stopped by nobody, idle clock not reset
        assert "token" in wire.receive(theirs, wire.MAX_REQUEST_BYTES, WAIT_SECONDS)["error"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a second user: run as root")
def test_a_client_of_another_user_is_not_served():
    """Even where another user can reach the socket (its folder opened up), the server answers only its own."""
    folder = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))
    folder.chmod(0o755)
    path = folder / "server.sock"
    listener = serve._listen(path)
    path.chmod(0o777)

    served = serve.Served(Refusing(), None, None, "key", "token")

    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(12345)
            os.setuid(12345)
            with socket.socket(socket.AF_UNIX) as connection:
                connection.connect(str(path))
                connection.settimeout(WAIT_SECONDS)
                try:
                    wire.send(connection, {"protocol": 1, "token": "token", "key": "key",
                                           "grade": str(ROOT / "solutions")})
                    answered = connection.recv(10)
                except (BrokenPipeError, ConnectionResetError):  # closed with the request unread
                    answered = b""
                os._exit(0 if answered == b"" else 1)
        except BaseException:  # noqa: BLE001 - the child reports by its exit status only
            os._exit(2)
    try:
        with listener:
            while not select.select([listener], [], [], 0.1)[0]:
                ended, status = os.waitpid(pid, os.WNOHANG)
                assert not ended, f"the other user's client could not connect (exit status {os.WEXITSTATUS(status)})"
            connection, _ = listener.accept()
            with connection:
                assert serve._answer(connection, served) == serve.ANSWERED
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0  # connected, and got nothing back
    finally:
        shutil.rmtree(folder)


def test_an_idle_server_leaves_and_removes_its_socket(runtime, course):
    settings = Settings(ROOT / "assignment.toml", "process", "cpu", SEED, ("loss_fn",))
    answer = client.grade(settings, course, ROOT / "solutions", idle=1.0)
    assert answer.result is not None and answer.result.passed
    where = Place(place.runtime_folder(), settings.key(course))
    pid = client.ask(where.socket, {"status": True})["status"]["pid"]
    assert _gone(pid)
    assert not where.socket.exists() and place.servers(where.folder) == []


def test_student_code_cannot_reach_the_server(runtime, make_submission):
    """A hostile submission that knows where the server listens tries to stop it, from inside its check."""
    folder = place.runtime_folder()
    hostile = make_submission({"neuron": {"loss_fn": f'''
def loss_fn(y_pred, y):
    import glob, socket
    for path in glob.glob({str(folder)!r} + "/*.sock") + glob.glob("/tmp/autograde-*/*.sock"):
        try:
            with socket.socket(socket.AF_UNIX) as connection:
                connection.connect(path)
                connection.sendall(b'{{"protocol": 1, "stop": true}}\\n')
        except Exception:
            pass
    return ((y_pred - y) ** 2).mean()
'''}})
    _check(runtime, ROOT / "solutions", *ARGS)
    started = _server_pids()
    folder.chmod(0o755)  # opened up by someone: the check makes it private again before any code runs
    for path in place.servers(folder):
        path.chmod(0o777)
    checked = _check(runtime, hostile, *ARGS)
    assert json.loads(checked.stdout)["score"] > 0
    assert _server_pids() == started  # still there, the same one


# The record a server sends back: read whole, or refused as a whole (never a crash, never half a result).
texts = st.text(max_size=12)
repairs = st.builds(Repair, texts, st.integers(0, 10**6), texts, texts, st.sampled_from(["line", "edit"]))
checks = st.builds(outcomes.TestResult, texts, texts, texts, st.floats(0, 100), st.sampled_from([PASS, FAIL, ERROR]), texts,
                  st.none() | texts, st.lists(texts, max_size=3), texts, st.none() | texts, st.none() | st.integers(0, 99),
                  texts, texts, st.floats(0, 10), st.none() | st.dictionaries(texts, texts, max_size=2),
                  st.none() | repairs)
results = st.builds(SubmissionResult, texts, st.integers(0, 2**31), st.lists(checks, max_size=3),
                    st.lists(texts, max_size=2), st.none() | texts, st.dictionaries(texts, texts, max_size=2),
                    st.dictionaries(texts, st.dictionaries(texts, texts, max_size=2), max_size=2), texts,
                    st.lists(st.builds(Flag, texts, st.integers(0, 99), texts, texts, texts), max_size=2),
                    st.lists(texts, max_size=2))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                           max_leaves=12)


@given(results)
def test_a_result_record_reads_back_whole(result):
    assert from_record(json.loads(json.dumps(to_record(result)))) == result


@given(results, st.data())
def test_a_forged_record_is_refused_as_a_whole(result, data):
    record = json.loads(json.dumps(to_record(result)))
    target = record
    if record["tests"] and data.draw(st.booleans()):
        target = record["tests"][data.draw(st.integers(0, len(record["tests"]) - 1))]
    field = data.draw(st.sampled_from(sorted(target)))
    target[field] = data.draw(json_values)
    try:
        read = from_record(record)
    except MalformedResult:
        return
    assert isinstance(read, SubmissionResult)  # a value of the right type: read as written
    assert all(isinstance(test.status, str) and test.status in {"pass", "fail", "error", "internal"} for test in read.tests)


@given(json_values)
def test_any_document_reads_as_a_result_or_is_refused(document):
    try:
        from_record(document)
    except MalformedResult:
        pass


def test_a_new_server_first_stops_those_idle_longest_past_the_users_count(runtime, course, monkeypatch):
    monkeypatch.setattr(place, "MAX_SERVERS", 1)
    first = Settings(ROOT / "assignment.toml", "process", "cpu", SEED, ("loss_fn",))
    answer = client.grade(first, course, ROOT / "solutions")
    assert answer.result.passed and answer.started
    assert not client.grade(first, course, ROOT / "solutions").started
    [old] = _server_pids()
    second = replace(first, only=("activate",))
    assert client.grade(second, course, ROOT / "solutions").result.passed
    assert _gone(old)
    assert len(_server_pids()) == 1 and _server_pids() != [old]


def test_only_a_grade_counts_as_use(tmp_path):
    """A server leaves after its idle minutes since its last grade: a status (as `server status` and every new
    server's start send) answers without resetting that clock."""
    served = serve.Served(Refusing(), assignment.load(ROOT / "assignment.toml"),
                          Settings(ROOT / "assignment.toml", "process", "cpu", None, ()), "key", "token")
    ours, theirs = socket.socketpair()
    with ours, theirs:
        wire.send(theirs, {"protocol": 1, "token": "token", "status": True})
        assert serve._answer(ours, served, idle=42.0) == serve.ANSWERED
        status = wire.receive(theirs, wire.MAX_REQUEST_BYTES, WAIT_SECONDS)["status"]
    assert status["idle"] == 42.0 and status["seed_from"] == "drawn" and status["current"] is False
