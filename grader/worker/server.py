"""The worker process: imports torch once, then forks a child per submission to run its probes.

Protocol: one JSON request per line on stdin, one JSON response per line on the original
stdout (moved to a private descriptor, so nothing the code prints can reach the grader).
Each child runs in its own session with resource limits; the worker gives every function a
time budget, kills the child's whole process group when the budget is spent or the child dies,
and starts a fresh child at the next function. Only plain JSON leaves a child.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import select
import signal
import stat
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from grader.protocol import Event, EventKind, Request, Response
from grader.sandbox import readable_paths
from grader.worker import harness, landlock
from grader.worker.cases import CourseFiles
from grader.worker.loader import SubmissionFinder

STARTUP_GRACE = 5.0


@dataclass
class Progress:
    """What the worker has learnt from the children serving one request."""

    observations: dict[str, dict] = field(default_factory=dict)
    load_errors: list[dict] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    skipped_modules: set[str] = field(default_factory=set)


def warm_up() -> None:
    """Pay torch's lazy imports (optimizers, autograd, data loading) once, before any fork."""
    weights = torch.ones(2, requires_grad=True)
    optimizer = torch.optim.SGD([weights], lr=0.1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)), batch_size=2)
    for (batch,) in loader:
        (batch @ weights).tanh().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    torch.autograd.grad((weights * weights).sum(), weights)


def main() -> None:
    """Serve requests until stdin closes, then exit at once.

    Every response is flushed and every child reaped by then, so the interpreter's own teardown
    (close to a second with torch loaded) would only keep the grader waiting.
    """
    torch.set_num_threads(1)
    warm_up()
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def announce(function: str) -> None:
        channel.write(json.dumps({"running": function}) + "\n")
        channel.flush()

    for line in sys.stdin:
        try:
            request = Request.from_json(line)
            response = serve(request, announce)
        except Exception as error:  # noqa: BLE001 - reported to the grader as an internal error
            response = Response(str(json.loads(line).get("id")), internal_error=f"{type(error).__name__}: {error}")
        channel.write(response.to_json() + "\n")
        channel.flush()
    os._exit(0)


def serve(request: Request, announce=lambda function: None) -> Response:
    """Run every probe of one request, child after child, and collect the results.

    ``announce`` hears each function as it starts, so that if the code kills this very process,
    the grader still knows which function did it.
    """
    progress = Progress()
    index = 0
    while index < len(request.probes):
        index = _run_child(request, index, progress, announce)
    return Response(request.id, progress.observations, progress.load_errors, progress.events)


def _run_child(request: Request, start: int, progress: Progress, announce) -> int:
    """Fork a child for probes[start:]; return the index to resume from."""
    probes = request.probes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(request, start, write_end, progress.skipped_modules)
    os.close(write_end)
    stream = _LineReader(read_end)
    current, loading = None, []  # the modules being imported, innermost last
    deadline = time.monotonic() + STARTUP_GRACE + request.timeout
    index = start
    stopped = ""  # why the child stopped reporting, when it said so itself
    try:
        while True:
            message = stream.next_message(deadline)
            if message is None or message is TIMED_OUT:
                break
            if not _well_formed(message, len(probes)):
                message = None
                break
            if "begin" in message:
                current, loading = message["begin"], []
                announce(current)
                index = message["index"]
                deadline = time.monotonic() + request.timeout
            elif "loading" in message:
                loading.append(message["loading"])
            elif "loaded" in message:
                loading = loading[:-1]
            elif "probe" in message:
                progress.observations[message["probe"]] = message["observation"]
                progress.load_errors.extend(message.get("load_errors", []))
                index = message["index"] + 1
            elif "done" in message:
                return len(probes)
            elif "internal_error" in message:
                if request.trusted:
                    raise RuntimeError(f"the grading harness failed in the child process:\n{message['internal_error']}")
                # beside student code, a report of the harness's failure cannot be told from a forged one
                stopped, message = "its process stopped reporting (the code interfered with the grader there)", None
                break
        outcome = EventKind.TIMEOUT if message is TIMED_OUT else EventKind.CRASH
    finally:
        _kill_group(pid)
        status = _reap(pid)
        os.close(read_end)
        if request.uid is not None and can_drop_privileges():
            _kill_user(request.uid)
    function = current or probes[index].function
    module = loading[-1] if loading else None
    detail = stopped or (_describe_exit(status) if outcome == EventKind.CRASH else f"{request.timeout:g} s")
    progress.events.append(Event(function, outcome, detail, module))
    if outcome == EventKind.TIMEOUT and module:
        progress.skipped_modules.add(module)
    while index < len(probes) and probes[index].function == function:
        index += 1
    return index


def _child(request: Request, start: int, write_end: int, skipped: set) -> None:
    """The child: isolate, limit, load the code lazily and run the probes from ``start``.

    An exception that escapes the probe loop is the grader's, never the student's: it is sent as
    ``internal_error`` so the run reports a grader bug.
    """
    out = os.fdopen(write_end, "w", buffering=1)

    def send(message: dict) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    try:
        os.setsid()
        if request.uid is not None and can_drop_privileges():
            _drop_privileges(request.uid)
        _apply_limits(request)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        workdir = tempfile.mkdtemp(prefix="autograde-")
        os.chdir(workdir)
        if not request.trusted:
            _confine(request, workdir)
        os.closerange(3, write_end)
        os.closerange(write_end + 1, 1024)
        finder = SubmissionFinder(request.files, set(skipped), on_load=lambda name: send({"loading": name}),
                                  on_loaded=lambda name: send({"loaded": name}))
        finder.install()
        resolver = harness.Resolver(finder, request.functions)
        course = CourseFiles(request.inputs, request.targets)
        reported = 0
        previous = None
        for index in range(start, len(request.probes)):
            probe = request.probes[index]
            if probe.function != previous:
                send({"begin": probe.function, "index": index})
                previous = probe.function
            with harness.captured_output():
                observation = harness.run_probe(probe, resolver, course, request.seed, request.trusted)
            errors = [error.as_dict() for error in finder.errors[reported:]]
            reported = len(finder.errors)
            send({"probe": probe.id, "index": index, "observation": observation, "load_errors": errors})
        send({"done": True})
    except BaseException:  # noqa: BLE001 - reported as the grader's own failure
        try:
            send({"internal_error": traceback.format_exc(limit=8)})
        except BaseException:  # noqa: BLE001 - the channel itself is gone
            pass
    finally:
        os._exit(0)


def _confine(request: Request, workdir: str) -> None:
    """Landlock the child where the kernel has it: it reads only the Python installation, the system,
    this submission's staged files and the course's inputs, writes only its own folder, connects
    nowhere and cannot signal its worker or the grader."""
    visible = {str(Path(path).parent) for path in request.files.values()}
    readable = [str(path) for path in readable_paths()] + sorted(visible) + [p for p in [request.inputs] if p]
    writable = [workdir, os.devnull] + (["/tmp"] if request.private_tmp else [])  # bwrap's /tmp is the child's own
    if request.gpu:  # CUDA opens its device files for writing and drives them with ioctl
        writable += [str(path) for path in sorted(Path("/dev").glob("nvidia*"))]
    os.environ["TMPDIR"] = tempfile.tempdir = workdir
    landlock.restrict(readable + ["/etc", "/proc", "/sys", "/dev"], writable)


def _apply_limits(request: Request) -> None:
    """Put the limits of ``child_limits`` on this process (the child about to run student code)."""
    if request.trusted:
        return
    for limit, value in child_limits(request).items():
        resource.setrlimit(limit, (value, value))


def child_limits(request: Request, proc: Path = Path("/proc")) -> dict[int, int]:
    """CPU time, file size, address space and process count limits for a child running student code.

    The address-space and process limits are set relative to what already exists, which only
    Linux's /proc tells; elsewhere (macOS) they are left out and the time limit stops a runaway.
    """
    limits = {resource.RLIMIT_CPU: int(request.timeout * len(request.probes)) + 30,
              resource.RLIMIT_FSIZE: 64 * 2**20}
    status = proc / "self" / "status"
    if status.exists():
        vm_kb = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmSize:"))
        limits[resource.RLIMIT_AS] = vm_kb * 1024 + request.memory_mb * 2**20
        limits[resource.RLIMIT_NPROC] = len(_processes_of(os.getuid())) + 32
    return limits


@functools.cache
def can_drop_privileges() -> bool:
    """Root, with a Python installation that an unprivileged user can read (else imports would fail)."""
    if os.geteuid() != 0:
        return False
    for entry in {sys.prefix, sys.base_prefix, *sys.path}:
        if not entry or not os.path.isdir(entry):
            continue
        path = os.path.realpath(entry)
        while path != "/":
            mode = os.stat(path).st_mode
            if not mode & stat.S_IXOTH or (path == os.path.realpath(entry) and not mode & stat.S_IROTH):
                return False
            path = os.path.dirname(path)
    return True


def _drop_privileges(uid: int) -> None:
    """Run as an unprivileged user of the worker's own: the process limit applies, the worker and
    every root-owned file are out of reach, and other workers' staged code is unreadable."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _processes_of(uid: int, alive_only: bool = False) -> list[int]:
    """Process ids owned by ``uid`` (in this process namespace); with ``alive_only``, not the zombies
    (dead, waiting for their parent to reap them)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as handle:
                    fields = dict(line.split(":", 1) for line in handle if line.startswith(("State:", "Uid:")))
            except (OSError, ValueError):
                continue
            if int(fields.get("Uid", "-1").split()[0]) == uid and not (alive_only and fields["State"].split()[0] == "Z"):
                found.append(int(entry))
    return found


KILL_DEADLINE = 10.0


def _kill_user(uid: int) -> None:
    """Kill whatever the code left running under its uid, including processes that left the group,
    until none is alive (a fork bomb may still be forking between two rounds)."""
    deadline = time.monotonic() + KILL_DEADLINE
    while time.monotonic() < deadline:
        victims = _processes_of(uid, alive_only=True)
        if not victims:
            return
        for victim in victims:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


TIMED_OUT = object()  # what ``_LineReader`` returns when the deadline passes
MAX_MESSAGE_BYTES = 64 * 2**20


class _LineReader:
    """Reads JSON lines from a pipe with a deadline; a garbled or oversized line counts as a crash."""

    def __init__(self, fd: int):
        self.fd, self.buffer = fd, b""

    def next_message(self, deadline: float):
        """The next message (a dict), ``TIMED_OUT``, or None when the pipe closed or carried garbage."""
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return TIMED_OUT
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return TIMED_OUT
            chunk = os.read(self.fd, 1 << 16)
            if not chunk or len(self.buffer) + len(chunk) > MAX_MESSAGE_BYTES:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None


def _well_formed(message: dict, probes: int) -> bool:
    """Whether a child's message has the shape the child writes (student code shares its process)."""
    index = message.get("index")
    in_range = isinstance(index, int) and not isinstance(index, bool) and 0 <= index < probes
    if "begin" in message:
        return isinstance(message["begin"], str) and in_range
    if "probe" in message:
        return (isinstance(message["probe"], str) and in_range and isinstance(message.get("observation"), dict)
                and isinstance(message.get("load_errors", []), list))
    if "loading" in message or "loaded" in message:
        return isinstance(message.get("loading", message.get("loaded")), str)
    return "done" in message or "internal_error" in message


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def _reap(pid: int) -> int:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0


def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        signal_number = os.WTERMSIG(status)
        name = signal.Signals(signal_number).name
        hint = {"SIGKILL": " (out of memory, or killed)", "SIGXCPU": " (CPU time limit)", "SIGSEGV": " (crashed)"}
        return f"the process was killed by {name}{hint.get(name, '')}"
    return f"the process exited with code {os.WEXITSTATUS(status)} (sys.exit or os._exit in the code?)"

