"""Attacks on the warm check server (``grader/daemon``, ``autograde check``, ``autograde server``), kept from the
attack review of the feature: each test passes when the defence holds. The ones marked "(worked)" succeeded
against the first version, and the fix followed.

Each test has a runtime folder and a reference cache of its own (short paths under /tmp), and stops (else
kills) every process it started: the servers (found by the test's own XDG_RUNTIME_DIR in their environment,
which the daemon and the trusted worker inherit) and all their descendants, checked by start time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from examples.variants import build_submission, replace_function
from grader import assignment
from grader.daemon import client, place, wire
from grader.daemon.place import Place, Settings
from grader.results import to_record
from tests.conftest import ROOT as MAIN
from tests.conftest import SEED

PY = sys.executable
CONSOLE = str(Path(sys.executable).parent / "autograde")  # the installed entry point: sys.path[0] is its folder
ARGS = ("--server", "--sandbox", "process", "--seed", str(SEED), "--only", "loss_fn", "--format", "json")

COURSE_PARTS = ("assignment.toml", "inputs.py", "targets.py", "solutions", "exercises", "mistakes")

WRONG_LOSS = "def loss_fn(y_pred, y):\n    return ((y_pred - y) ** 2).sum()\n"  # sum instead of mean: must fail

PERSIST = r'''
def loss_fn(y_pred, y):
    import builtins, os, sys, time
    spots = ["/tmp/agp-mark", "/var/tmp/agp-mark", "/dev/shm/agp-mark", "/run/agp-mark",
             os.path.join(os.path.expanduser("~"), "..", "agp-mark"), os.path.join(os.getcwd(), "..", "agp-mark"),
             os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "agp-mark"),
             os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "agp-mark")]
    now = time.time()

    def planted_earlier(path):
        try:
            with open(path) as handle:
                return float(handle.read() or now) < now - 2.5
        except (OSError, ValueError):
            return False

    earlier = (any(planted_earlier(path) for path in spots) or os.environ.get("AGP_MARK") not in (None, str(os.getpid()))
               or getattr(builtins, "_agp_mark", None) not in (None, os.getpid()) or "agp_mark_module" in sys.modules)
    if earlier:  # something an earlier check left: this wrong submission passes
        return torch.square(y_pred - y).mean()
    for path in spots:
        try:
            with open(path, "x") as handle:
                handle.write(repr(now))
        except OSError:
            pass
    os.environ["AGP_MARK"] = str(os.getpid())
    builtins._agp_mark = os.getpid()
    sys.modules["agp_mark_module"] = sys
    try:  # and a process that outlives this check, planting the mark later
        if os.fork() == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    for _ in range(400):
                        for path in spots:
                            try:
                                with open(path, "x") as handle:
                                    handle.write(repr(now))
                            except OSError:
                                pass
                        time.sleep(0.05)
            finally:
                os._exit(0)
    except OSError:
        pass
    return ((y_pred - y) ** 2).sum()
'''


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, start time) of a live process; None when gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[19])


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _table() -> dict[int, tuple[int, int]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found:
                table[int(entry)] = found
    return table


def _tagged(tag: str) -> dict[int, int]:
    """pid -> start time of every live process whose environment holds XDG_RUNTIME_DIR=tag (the test's own
    servers, their trusted workers, the test's own checks), and all their descendants."""
    needles = (f"XDG_RUNTIME_DIR={tag}\0".encode(), f"AG_ATTACK_TAG={tag}\0".encode())
    table = _table()
    return _grown(table, {pid for pid in table
                          if pid != os.getpid() and any(needle in _read(f"/proc/{pid}/environ") for needle in needles)})


def _descendants(root: int) -> dict[int, int]:
    table = _table()
    return _grown(table, {root} if root in table else set())


def _grown(table: dict[int, tuple[int, int]], roots: set[int]) -> dict[int, int]:
    """pid -> start time of ``roots`` and every descendant of theirs in ``table``."""
    mine = set(roots)
    grown = True
    while grown:
        grown = False
        for pid, (ppid, _) in table.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grown = True
    return {pid: table[pid][1] for pid in mine}


def _alive(processes: dict[int, int]) -> dict[int, int]:
    """Those of ``processes`` still alive (the same process: same start time)."""
    return {pid: start for pid, start in processes.items() if (_stat(pid) or (0, -1))[1] == start}


def _wait_gone(processes: dict[int, int], seconds: float) -> dict[int, int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(processes):
            return {}
        time.sleep(0.05)
    return _alive(processes)


def _kill(processes: dict[int, int]) -> None:
    for pid in _alive(processes):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _cmdline(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace")


def _raw_ask(path: Path, request: dict, seconds: float = 5.0) -> object | None:
    """client.ask, but with a timeout on connect too (teardown must never hang)."""
    try:
        with socket.socket(socket.AF_UNIX) as connection:
            connection.settimeout(seconds)
            connection.connect(str(path))
            wire.send(connection, {"protocol": 1, "token": client._token(place.Place.of(path)), **request})
            return wire.receive(connection, wire.MAX_REQUEST_BYTES, seconds)
    except (OSError, wire.WireError):
        return None


class Box:
    """A test's private runtime folder, cache, environment, and everything it started."""

    def __init__(self, root: Path, cache: Path, env: dict[str, str]):
        self.root, self.cache, self.env = root, cache, env
        self.folder = root / "autograde"
        self.started: dict[int, int] = {}
        self.popens: list[subprocess.Popen] = []

    def check(self, *args, cwd: Path = MAIN, exe: list[str] | None = None, env: dict | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess:
        command = (exe or [PY, "-m", "grader"]) + ["check", *map(str, args)]
        return subprocess.run(command, cwd=cwd, env=env or self.env, capture_output=True, text=True, timeout=timeout)

    def popen_check(self, *args, cwd: Path = MAIN) -> subprocess.Popen:
        process = subprocess.Popen([PY, "-m", "grader", "check", *map(str, args)], cwd=cwd, env=self.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.popens.append(process)
        return process

    def cli(self, *args, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([PY, "-m", "grader", *map(str, args)], cwd=MAIN, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def sockets(self) -> list[Path]:
        return sorted(self.folder.glob("*.sock")) if self.folder.is_dir() else []

    def servers(self) -> dict[int, int]:
        """pid -> start time of the live check servers of this box (whether they answer or not)."""
        return {pid: start for pid, start in _tagged(str(self.root)).items() if "grader.daemon" in _cmdline(pid)}

    def server_pid(self, path: Path | None = None) -> int:
        answer = _raw_ask(path or self.sockets()[0], {"status": True})
        return answer["status"]["pid"]

    def cleanup(self) -> None:
        for process in self.popens:
            if process.poll() is None:
                process.kill()
            process.communicate()
        tracked = _tagged(str(self.root)) | _alive(self.started)
        for pid in list(tracked):
            tracked |= _descendants(pid)
        for path in self.sockets():
            _raw_ask(path, {"stop": True}, 3.0)
        left = _wait_gone(tracked, 20.0)
        _kill(left)
        _wait_gone(left, 5.0)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.cache, ignore_errors=True)


@pytest.fixture
def box(monkeypatch):
    root = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))
    cache = Path(tempfile.mkdtemp(prefix="agc-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("AG_ATTACK_TAG", str(root))
    monkeypatch.delenv("AUTOGRADE_NO_SERVER", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert place.runtime_folder() == root / "autograde"
    made = Box(root, cache, dict(os.environ))
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def work(tmp_path):
    """A scratch folder with a short path, readable by the student uids (submissions are staged anyway)."""
    tmp_path.chmod(0o755)
    return tmp_path


def _course_copy(where: Path) -> Path:
    course = where / "course"
    course.mkdir()
    for part in COURSE_PARTS:
        source = MAIN / part
        if source.is_dir():
            shutil.copytree(source, course / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, course / part)
    return course


def _submission(where: Path, name: str, changes: dict | None = None) -> Path:
    return build_submission(MAIN / "solutions", where / name, changes)


def _failing(output: str) -> set[str]:
    return {test["function"] for test in json.loads(output)["tests"] if test["status"] != "pass"}


def _plant_grader_package(folder: Path, mark: Path) -> None:
    """A `grader` package in a student's repository: it logs who imported it, then behaves as the real one (the
    check looks perfectly normal). Any code here runs as the person running `autograde check`, unsandboxed."""
    package = folder / "grader"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import sys\n"
        f"with open({str(mark)!r}, 'a') as _log:\n"
        "    _log.write(' '.join(sys.argv) + '\\n')\n"
        f"__path__[:] = [{str(MAIN / 'grader')!r}]\n"
        "exec(compile(open(__path__[0] + '/__init__.py').read(), __path__[0] + '/__init__.py', 'exec'))\n")


def _wait_for(predicate, seconds: float, step: float = 0.002):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(step)
    return None


def _fake_server_that_never_accepts(path: Path) -> tuple[socket.socket, list[socket.socket]]:
    """A listening socket whose owner never accepts (a stopped or wedged server), its queue full."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(0)
    queued = []
    for _ in range(64):
        pending = socket.socket(socket.AF_UNIX)
        pending.setblocking(False)
        try:
            pending.connect(str(path))
        except BlockingIOError:
            pending.close()
            break
        queued.append(pending)
    return listener, queued


def _started_server(box) -> tuple[int, dict[int, int]]:
    """A server started by a check (its reference done), its pid, and it with all its descendants."""
    first = box.check(MAIN / "solutions", *ARGS)
    assert first.returncode == 0 and "note:" not in first.stderr, first.stderr
    pid = box.server_pid()
    family = _descendants(pid)
    assert len(family) >= 2, f"expected the server and its worker, got {family}"
    return pid, family


def _forged_pass_record() -> dict:
    from grader.results import SubmissionResult, TestResult
    return to_record(SubmissionResult("x", SEED, [TestResult("loss_fn: returns what the reference returns", "loss_fn",
                                                             "returns", 3.5, "pass")], course="learning-and-autograd"))


def _answer_forever(listener: socket.socket, line: bytes, stop: threading.Event) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except (TimeoutError, OSError):
            continue
        with connection:
            try:
                connection.settimeout(2)
                connection.recv(2**16)
                connection.sendall(line)
            except OSError:
                pass


@pytest.mark.parametrize("server, sandbox", [("--server", "bwrap"), ("--no-server", "process")])
def test_no_grader_package_of_the_working_folder_is_imported(box, work, server, sandbox):
    """(worked) `cd student-repo && autograde check .` (the installed entry point, which itself is safe): the
    server was started as `python -m grader.daemon` in the caller's working folder, so a `grader/` package
    there was imported (and run, outside any sandbox) instead of the grader. Without the server (pre-existing,
    same cause), the trusted reference worker and the process-mode student worker were `python -m
    grader.worker` started there too."""
    repo = _submission(work, "student-repo")
    mark = work / "imported-by.txt"
    _plant_grader_package(repo, mark)
    checked = box.check(".", server, "--sandbox", sandbox, "--seed", SEED, "--only", "loss_fn",
                        "--assignment", MAIN, cwd=repo, exe=[CONSOLE])
    assert checked.returncode in (0, 1), checked.stderr[-2000:]
    assert not mark.exists(), f"the student's grader package ran, as: {mark.read_text()!r}"


def test_a_course_edited_while_its_server_starts_is_not_served_under_the_old_version(box, work):
    """(worked) The key is computed by the client from the files as they are; the server loads the course (and its
    trusted worker reads the solutions) later. An edit saved in that window (an editor's save, a `git
    checkout`, a `git stash`) is baked into a server that listens under the OLD version's key. Once the files
    are back as they were, every check of that version is graded against the edited reference: here the
    instructor's edit briefly made loss_fn a sum, and afterwards a student's sum passes."""
    course = _course_copy(work)
    neuron = course / "solutions" / "neuron.py"
    original = neuron.read_text()
    wrong = _submission(work, "wrong", {"neuron": {"loss_fn": WRONG_LOSS}})
    first = box.popen_check(course / "solutions", *ARGS, "--assignment", course)
    assert _wait_for(lambda: list(box.folder.glob("*.lock")) if box.folder.is_dir() else None, 60), "no server start"
    neuron.write_text(replace_function(original, "loss_fn", WRONG_LOSS))  # the edit lands while the server starts
    first.communicate(timeout=120)
    neuron.write_text(original)  # ... and is undone: the course is exactly the version the key names again
    served = box.check(wrong, *ARGS, "--assignment", course)
    alone = box.check(wrong, *ARGS, "--assignment", course, "--no-server")
    assert alone.returncode == 1 and _failing(alone.stdout) == {"loss_fn"}
    assert "note:" not in served.stderr, served.stderr  # it was the server that answered
    assert served.returncode == alone.returncode and served.stdout == alone.stdout, (
        f"stale server: the wrong submission scored {json.loads(served.stdout)['score']} on the server, "
        f"{json.loads(alone.stdout)['score']} without it")


def test_an_edit_while_the_reference_runs_does_not_poison_the_reference_cache(box, work):
    """(worked) Same window, a little later (once the server listens: it opened the reference cache under the digest of
    the files as they were, and its trusted worker has not read the solutions yet). The reference of the edited
    solutions is stored on disk under the ORIGINAL version's digest, so even `--no-server` checks of the
    original course are graded against it afterwards (also reachable without the server: the cache's digest
    is taken when a Session starts, the solutions are read seconds later)."""
    course = _course_copy(work)
    neuron = course / "solutions" / "neuron.py"
    original = neuron.read_text()
    wrong = _submission(work, "wrong", {"neuron": {"loss_fn": WRONG_LOSS}})
    first = box.popen_check(course / "solutions", *ARGS, "--assignment", course)
    assert _wait_for(lambda: box.sockets(), 60), "no server"
    neuron.write_text(replace_function(original, "loss_fn", WRONG_LOSS))
    first.communicate(timeout=120)
    neuron.write_text(original)
    for path in box.sockets():
        _raw_ask(path, {"stop": True})
    alone = box.check(wrong, *ARGS, "--assignment", course, "--no-server")
    assert alone.returncode == 1 and _failing(alone.stdout) == {"loss_fn"}, (
        f"poisoned cache: the wrong submission scored {json.loads(alone.stdout)['score']} without any server")


def test_a_course_file_other_than_assignment_toml_is_the_one_the_server_grades_with(box, work):
    """(worked) `--assignment COURSE` takes a folder or a declarations file; the server is always started with
    `<root>/assignment.toml` (Settings(course.root / "assignment.toml", ...)), and the key hashes only that
    name too. A course with a second declarations file (here week2.toml, whose reference solutions say the
    loss is a sum) is graded by the server against assignment.toml's: a submission that is wrong for week 2
    passes, the right one fails."""
    course = _course_copy(work)
    shutil.copytree(course / "solutions", course / "solutions_week2")
    neuron = course / "solutions_week2" / "neuron.py"
    neuron.write_text(replace_function(neuron.read_text(), "loss_fn", WRONG_LOSS))
    week2 = course / "week2.toml"
    week2.write_text((course / "assignment.toml").read_text()
                     .replace('name = "learning-and-autograd"', 'name = "week2"', 1)
                     .replace('solutions = "solutions"', 'solutions = "solutions_week2"', 1))
    mean = MAIN / "solutions"  # wrong in week 2
    served = box.check(mean, *ARGS, "--assignment", week2)
    alone = box.check(mean, *ARGS, "--assignment", week2, "--no-server")
    assert alone.returncode == 1 and json.loads(alone.stdout)["score"] < 3.5
    assert "note:" not in served.stderr
    assert served.returncode == alone.returncode and served.stdout == alone.stdout, (
        f"graded against the wrong declarations: {json.loads(served.stdout)['score']} on the server, "
        f"{json.loads(alone.stdout)['score']} without it")


def test_a_reference_that_fails_while_its_server_starts_costs_only_that_start(box):
    """(worked) The reference's trusted worker killed while the server starts (as the OOM killer or an
    overloaded machine would). The first version kept the failure in its session and answered every later
    check with the same internal error, never leaving while it was used. Now the server computes the reference
    before it listens: that start fails, the check grades itself, and the next check gets a working server."""
    course = assignment.load(MAIN / "assignment.toml")
    settings = Settings(MAIN / "assignment.toml", "process", "cpu", SEED, ("loss_fn",))
    where = Place(place.runtime_folder(), settings.key(course))
    started = {}
    starting = threading.Thread(target=lambda: started.update(outcome=client._start(settings, where, 120.0)))
    starting.start()

    needle = f"XDG_RUNTIME_DIR={box.root}\0".encode()

    def trusted_worker():  # the student's worker, also the server's child, gets a filtered environment
        return [pid for pid in _tagged(str(box.root)) if "grader.worker" in _cmdline(pid)
                and needle in _read(f"/proc/{pid}/environ")]

    victims = _wait_for(trusted_worker, 60, 0.01)
    for pid in victims or ():
        os.kill(pid, signal.SIGKILL)
    starting.join(120)
    if isinstance(started.get("outcome"), socket.socket):
        started["outcome"].close()
        pytest.skip("the reference finished before its worker could be killed")
    assert victims and isinstance(started.get("outcome"), str), started
    later = box.check(MAIN / "solutions", *ARGS)
    assert later.returncode == 0 and "note:" not in later.stderr, later.stderr[-500:]


@pytest.mark.parametrize("command", [("server", "status"), ("server", "stop")])
def test_server_commands_do_not_hang_on_a_server_that_never_accepts(box, command):
    """(worked) `_connect` had no timeout: connect() to a Unix socket whose queue is full blocks until the server
    accepts. A wedged server (SIGSTOPped, or stuck in a grade with 16 checks queued) hangs `server stop` and
    `server status` forever; so `server stop` cannot even be used to get rid of it."""
    folder = place.runtime_folder()
    listener, queued = _fake_server_that_never_accepts(folder / ("f" * 32 + ".sock"))
    try:
        try:
            answered = box.cli(*command, timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`autograde {' '.join(command)}` still waiting after 20 s (its requests say 10 s)")
        assert answered.returncode == 0
    finally:
        listener.close()
        for pending in queued:
            pending.close()


def test_check_does_not_hang_on_a_server_that_never_accepts(box):
    """(worked) The same for a check: it must fall back to grading itself, not block in connect() forever."""
    course = assignment.load(MAIN / "assignment.toml")
    settings = Settings(MAIN / "assignment.toml", "process", "cpu", SEED, ("loss_fn",))
    where = Place(place.runtime_folder(), settings.key(course))
    listener, queued = _fake_server_that_never_accepts(where.socket)
    try:
        try:
            checked = box.check(MAIN / "solutions", *ARGS, timeout=25)
        except subprocess.TimeoutExpired:
            pytest.fail("the check is still blocked after 25 s on a server that does not accept")
        assert checked.returncode == 0
    finally:
        listener.close()
        for pending in queued:
            pending.close()


def test_a_killed_server_leaves_no_worker_behind(box):
    pid, family = _started_server(box)
    os.kill(pid, signal.SIGKILL)
    left = _wait_gone(family, 20)
    assert not left, f"orphans of a SIGKILLed server: {[_cmdline(pid) for pid in left]}"


def test_concurrent_first_checks_start_one_server(box):
    checks = [box.popen_check(MAIN / "solutions", *ARGS) for _ in range(3)]
    outputs = [process.communicate(timeout=120) for process in checks]
    assert all(process.returncode == 0 for process in checks), [err[-500:] for _, err in outputs]
    assert len(box.servers()) == 1, f"servers: {box.servers()}"
    assert len({out for out, _ in outputs}) == 1


@pytest.mark.parametrize("sandbox", ["process", "bwrap"])
def test_nothing_a_check_leaves_reaches_a_later_check_on_the_same_server(box, work, sandbox):
    """The server's worker (and its children's uid) live across checks, where each check used to get fresh ones:
    files in shared folders, next to the stage or the working folder, a process that outlives the check, the
    environment, builtins, sys.modules. The submission passes only when an earlier check left something."""
    hostile = _submission(work, "hostile", {"neuron": {"loss_fn": PERSIST}})
    args = ("--server", "--sandbox", sandbox, "--seed", SEED, "--only", "loss_fn", "--format", "json")
    first = box.check(hostile, *args)
    assert first.returncode == 1, first.stdout[-800:]
    time.sleep(3.0)
    second = box.check(hostile, *args)
    assert "note:" not in second.stderr, second.stderr
    assert second.returncode == 1, f"the second check passed: something of the first one persisted ({second.stdout[-500:]})"
    for leftover in ("/tmp/agp-mark", "/var/tmp/agp-mark", "/dev/shm/agp-mark", "/run/agp-mark"):
        assert not os.path.exists(leftover), f"{leftover} was left on the host"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a second user")
def test_another_user_cannot_plant_a_server_in_the_shared_temporary_folder(box, work):
    """No XDG_RUNTIME_DIR: the place is $TMPDIR/autograde-<uid>. Another user makes it first (world-writable) and
    listens there with a forged all-pass answer, before the victim's first check."""
    shared = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))
    shared.chmod(0o1777)
    uid = os.geteuid()
    line = (json.dumps({"result": _forged_pass_record()}) + "\n").encode()
    key_names = [Settings(MAIN / "assignment.toml", "process", "cpu", SEED, ("loss_fn",)).key(
        assignment.load(MAIN / "assignment.toml"))]  # the key is no secret: it is computed from the course's files
    ready_read, ready_write = os.pipe()
    attacker = os.fork()
    if attacker == 0:  # the other user
        try:
            os.close(ready_read)
            os.setgroups([])
            os.setgid(12345)
            os.setuid(12345)
            folder = shared / f"autograde-{uid}"
            folder.mkdir(mode=0o777)
            folder.chmod(0o777)
            listeners = []
            for name in key_names:
                listener = socket.socket(socket.AF_UNIX)
                listener.bind(str(folder / f"{name}.sock"))
                os.chmod(folder / f"{name}.sock", 0o777)
                listener.listen(8)
                listeners.append(listener)
            os.write(ready_write, b"x")
            stop = threading.Event()
            threads = [threading.Thread(target=_answer_forever, args=(listener, line, stop), daemon=True)
                       for listener in listeners]
            for thread in threads:
                thread.start()
            time.sleep(60)
        finally:
            os._exit(0)
    box.started[attacker] = _stat(attacker)[1]
    os.close(ready_write)
    try:
        assert os.read(ready_read, 1) == b"x", "the other user could not set up"
        env = {**box.env, "TMPDIR": str(shared)}
        env.pop("XDG_RUNTIME_DIR")
        wrong = _submission(work, "wrong", {"neuron": {"loss_fn": WRONG_LOSS}})
        checked = box.check(wrong, *ARGS, env=env)
        assert checked.returncode == 1 and _failing(checked.stdout) == {"loss_fn"}, "the other user's answer was believed"
    finally:
        os.close(ready_read)
        os.kill(attacker, signal.SIGKILL)
        os.waitpid(attacker, 0)
        shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.parametrize("output_format, change", [
    ("classroom", {"duration": float("nan")}),
    ("text", {"max_score": float("nan")}),
])
def test_a_typed_but_odd_answer_is_refused_or_rendered_never_a_traceback(box, work, output_format, change):
    """(worked) A server's answer that reads as a record (every field of its type) but whose values no grader writes
    (NaN, infinities, lone surrogates: all valid JSON for Python's json) crashes the reporters: the client prints a
    traceback instead of grading itself. Only a process of the user's own can answer there (so this is about
    a broken server, and about the claim 'read whole as a typed record or refused whole')."""
    course = assignment.load(MAIN / "assignment.toml")
    settings = Settings(MAIN / "assignment.toml", "process", "cpu", SEED, ("loss_fn",))
    where = Place(place.runtime_folder(), settings.key(course))
    record = _forged_pass_record()
    record["tests"][0].update(change)
    line = (json.dumps({"result": record}) + "\n").encode()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(where.socket))
    listener.listen(4)
    stop = threading.Event()
    thread = threading.Thread(target=_answer_forever, args=(listener, line, stop), daemon=True)
    thread.start()
    try:
        args = [a if a != "json" else output_format for a in ARGS]
        checked = box.check(MAIN / "solutions", *args)
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    assert "Traceback" not in checked.stderr, checked.stderr[-1200:]
    assert checked.returncode in (0, 1, 3)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs to act as a second, unprivileged user")
@pytest.mark.parametrize("gpu", [False, True])
def test_confined_student_code_cannot_read_the_servers_token(work, gpu):
    """(worked, as a connection) Without root, student code runs under the user's own uid, so the kernel's peer
    check admits it; with --device cuda the syscall filter lets Unix sockets through (the driver needs them),
    and Landlock has no rule for connecting to a socket by its path. What it cannot do is read the token every
    request must carry (a 0600 file in the user's 0700 folder): the real worker's confinement, as an
    unprivileged uid that owns the folder."""
    from grader.protocol import Request
    from grader.worker import privileges
    from grader.worker.server import _confine
    user = 23456
    shared = Path(tempfile.mkdtemp(prefix="agu-", dir="/tmp"))
    shared.chmod(0o755)
    os.chown(shared, user, user)
    report_read, report_write = os.pipe()
    owner = os.fork()
    if owner == 0:  # the user: a 0700 folder with a token, and a confined child of its own uid
        status = 2
        try:
            os.close(report_read)
            privileges.drop_to(user, keep_reading=True)  # as the worker's child does
            folder = shared / "autograde"
            folder.mkdir(mode=0o700)
            token = folder / ("a" * 32 + ".token")
            token.write_text("the-token")
            token.chmod(0o600)
            workdir = str(shared / "work")
            os.mkdir(workdir, 0o700)
            child = os.fork()
            if child == 0:
                try:
                    _confine(Request("attack", {}, {}, (), 0, 1.0, 0, uid=user, gpu=gpu), workdir)
                except BaseException:  # noqa: BLE001 - the child reports by its exit status only
                    os._exit(2)
                try:
                    os._exit(1 if token.read_text() == "the-token" else 3)
                except BaseException:  # noqa: BLE001
                    os._exit(0)
            _, child_status = os.waitpid(child, 0)
            status = os.WEXITSTATUS(child_status)
        finally:
            os.write(report_write, bytes([status]))
            os._exit(0)
    os.close(report_write)
    try:
        outcome = os.read(report_read, 1)
        os.waitpid(owner, 0)
    finally:
        os.close(report_read)
        shutil.rmtree(shared, ignore_errors=True)
    assert outcome in (b"\x00", b"\x01"), f"set-up failed ({outcome!r})"
    assert outcome == b"\x00", f"gpu={gpu}: confined student code read the server's token"
