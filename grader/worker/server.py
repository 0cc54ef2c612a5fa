"""The worker process: imports torch once, then forks a child per submission to run its probes.

Protocol: one JSON request per line on stdin, one JSON response per line on the original
stdout (moved to a private descriptor, so nothing the code prints can reach the grader).
Each child runs in its own session with resource limits; the worker gives every function a
time budget, kills the child's whole process group when the budget is spent or the child dies,
and starts a fresh child at the next function. Only plain JSON leaves a child.
"""

from __future__ import annotations

import functools
import gc
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
from grader.worker import cleanup, harness, landlock, privileges, syscalls
from grader.worker.cases import CourseFiles
from grader.worker.loader import SubmissionFinder, signal_imports

STARTUP_GRACE = 5.0
MAX_CHILD_BYTES = 32 * 2**20  # all that the children serving one request may send, as the worker re-encodes it
# what a child may read besides the system's folders, the Python installation and its own code: the same in
# both modes (bubblewrap shows nothing more), and nothing of another process, user or terminal
SYSTEM_READABLE = (*(f"/proc/self/{entry}" for entry in ("status", "stat", "statm", "maps", "fd", "fdinfo", "task",
                                                          "cmdline", "limits", "auxv", "exe")),
                   "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/sys", "/etc/localtime",
                   "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
GPU_READABLE = ("/proc/driver", "/sys")  # the NVIDIA driver's parameters, and the devices it finds in /sys


@dataclass
class Progress:
    """What the worker has learnt from the children serving one request."""

    observations: dict[str, dict] = field(default_factory=dict)
    load_errors: list[dict] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    skipped_modules: set[str] = field(default_factory=set)
    received: int = 0  # bytes the children have sent so far


@dataclass
class FunctionClock:
    """The time limit of the function a child is running: its own ``limit`` for its work, and the course's
    ``ceiling`` for all of it. While the code's own files load (their top-level code is not the function's
    work, and importing a library can take seconds on a loaded machine), only the ceiling counts. The child
    reports its loading itself, so code that pretends to load gains at most the ceiling: the limit of old."""

    started: float
    limit: float
    ceiling: float
    loading_since: float | None = None
    loading_for: float = 0.0

    def loading(self, now: float) -> None:
        """A file of the code started loading (nothing when one already was)."""
        if self.loading_since is None:
            self.loading_since = now

    def loaded(self, now: float) -> None:
        """The code's files have all loaded."""
        if self.loading_since is not None:
            self.loading_for += now - self.loading_since
            self.loading_since = None

    def deadline(self) -> float:
        """When the function's time is up (a ``time.monotonic()`` instant)."""
        end = self.started + self.ceiling
        return end if self.loading_since is not None else min(end, self.started + self.limit + self.loading_for)


def warm_up(gpu_visible: bool) -> None:
    """Pay torch's lazy imports (optimizers, autograd, data loading) once, before any fork.

    Where a GPU is visible (``--device cuda``) no gradient is computed here: autograd's first backward
    initialises CUDA in this process, and a child forked after that cannot use CUDA at all.
    """
    weights = torch.ones(2, requires_grad=True)
    optimizer = torch.optim.SGD([weights], lr=0.1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)), batch_size=2)
    for (batch,) in loader:
        if gpu_visible:
            continue
        (batch @ weights).tanh().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    if not gpu_visible:
        torch.autograd.grad((weights * weights).sum(), weights)


def main() -> None:
    """Serve requests until stdin closes, then exit at once.

    Every response is flushed and every child reaped by then, so the interpreter's own teardown
    (close to a second with torch loaded) would only keep the grader waiting.
    """
    parent = os.environ.get("AUTOGRADE_PARENT")
    privileges.guard_worker(int(parent) if parent and parent.isdigit() else None)
    sys.path[:] = safe_import_path(sys.path)
    torch.set_num_threads(1)
    warm_up(gpu_visible=os.environ.get("CUDA_VISIBLE_DEVICES") != "")
    gc.freeze()  # torch's own objects: never garbage, and a full collection of them took 0.2 s after every request
    channel = os.dup(1)
    os.dup2(2, 1)

    def announce(function: str) -> None:
        _write_all(channel, (json.dumps({"running": function}) + "\n").encode())

    for line in sys.stdin:
        try:
            request = Request.from_json(line)
            response = serve(request, announce)
        except Exception as error:  # noqa: BLE001 - reported to the grader as an internal error
            response = Response(_request_id(line), internal_error=f"{type(error).__name__}: {error}")
        response.retiring = _UNFIT
        _write_all(channel, (response.to_json() + "\n").encode())
        request = response = None
        gc.collect()  # what the children sent is freed now, and scrubbed (MALLOC_PERTURB_): no later child reads it
        if _UNFIT:
            break
    os._exit(0)


def _write_all(fd: int, data: bytes) -> None:
    """Write to the grader without a buffer of Python's, which would keep the tail of an answer (a student's
    output) in this process's memory for every later child to read."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _request_id(line: str) -> str:
    try:
        return str(json.loads(line).get("id"))
    except (ValueError, AttributeError, RecursionError):
        return ""


def safe_import_path(entries: list[str]) -> list[str]:
    """``sys.path`` without the folder the worker started in, the empty entry (the working folder) and the
    shared temporary folders: student code can write there, and a package planted there would be imported
    in place of the real one."""
    unsafe = {os.path.realpath(path) for path in (os.getcwd(), tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm")}
    return [entry for entry in entries if entry and os.path.realpath(entry) not in unsafe]


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
    """Fork a child for probes[start:]; return the index to resume from.

    The child gets a working folder of its own, removed with everything else it left once it has ended:
    whatever it wrote, and every process it started (the worker is their subreaper), is gone before the
    next child starts."""
    probes = request.probes
    workdir = _fresh_folder(request)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(request, start, write_end, progress.skipped_modules, workdir)
    os.close(write_end)
    stream = _LineReader(read_end, MAX_CHILD_BYTES - progress.received)
    current, loading = None, []  # the modules being imported, innermost last
    deadline = time.monotonic() + STARTUP_GRACE + request.timeout
    clock = None
    index = start
    stopped = ""  # why the child stopped reporting, when it said so itself
    outcome = EventKind.CRASH
    try:
        for _ in range(_most_messages(request)):
            message = stream.next_message(deadline)
            if message is TOO_LARGE:
                outcome, message = EventKind.TOO_LARGE, None
                break
            if message is None or message is TIMED_OUT:
                outcome = EventKind.TIMEOUT if message is TIMED_OUT else EventKind.CRASH
                break
            if not _well_formed(message, probes, index, current):
                stopped = "its process sent what the grader does not send (the code interfered with the grader there)"
                break
            if "begin" in message:
                index = message["index"]
                current, loading = probes[index].function, []
                announce(current)
                clock = FunctionClock(time.monotonic(), request.limit(current), request.timeout)
                deadline = clock.deadline()
            elif "loading" in message:
                loading = (loading + [message["loading"][:200]])[-16:]
                if clock:
                    clock.loading(time.monotonic())
                    deadline = clock.deadline()
            elif "loaded" in message:
                loading = loading[:-1]
                if clock and not loading:
                    clock.loaded(time.monotonic())
                    deadline = clock.deadline()
            elif "probe" in message:
                message["load_errors"] = message.get("load_errors", [])[:16]
                sent_on = len(json.dumps(message["observation"])) + len(json.dumps(message["load_errors"]))
                stream.received += sent_on - len(stream.last)  # counted as it will be sent on to the grader
                if stream.received > stream.budget:
                    outcome = EventKind.TOO_LARGE
                    break
                progress.observations[message["probe"]] = message["observation"]
                progress.load_errors.extend(message["load_errors"])
                index = message["index"] + 1
            elif "done" in message:
                if index == len(probes):
                    return index
                stopped = "its process said it was done before it was (the code interfered with the grader there)"
                break
            elif "internal_error" in message:
                if request.trusted:
                    raise RuntimeError(f"the grading harness failed in the child process:\n{str(message['internal_error'])}")
                # beside student code, a report of the harness's failure cannot be told from a forged one
                stopped = "its process stopped reporting (the code interfered with the grader there)"
                break
        else:
            outcome, stopped = EventKind.TOO_LARGE, f"its process sent more than {_most_messages(request)} messages"
    finally:
        progress.received += stream.received
        _kill_group(pid)
        status = _reap(pid)
        os.close(read_end)
        _clean_up(request, workdir)
    function = current or probes[min(index, len(probes) - 1)].function
    module = loading[-1] if loading else None
    limit = request.timeout if module or clock is None else request.limit(function)
    detail = stopped or {EventKind.CRASH: lambda: describe_exit(status), EventKind.TIMEOUT: lambda: f"{limit:g} s",
                         EventKind.TOO_LARGE: lambda: f"it sent the grader more than {MAX_CHILD_BYTES // 2**20} MB"}[outcome]()
    progress.events.append(Event(function, outcome, detail, module))
    if outcome == EventKind.TIMEOUT and module:
        progress.skipped_modules.add(module)
    while index < len(probes) and probes[index].function == function:
        index += 1
    return index


def _most_messages(request: Request) -> int:
    """How many messages a child may send for one request: a few per probe, and per module it imports."""
    return 4 * len(request.probes) + 2 * len(request.files) + 16


def _fresh_folder(request: Request) -> str:
    """A new, empty working folder for one child, owned by the user it will run as."""
    folder = tempfile.mkdtemp(prefix="autograde-")
    if _runs_as_other_user(request):
        os.chown(folder, request.uid, request.uid)
    return folder


def _runs_as_other_user(request: Request) -> bool:
    return request.uid is not None and not request.trusted and os.geteuid() == 0


def _clean_up(request: Request, workdir: str) -> None:
    """Kill what the child left running, then remove what it wrote: its folder, and (under bwrap, where
    ``/tmp`` and ``/dev/shm`` are the sandbox's own) everything in them. What cannot be removed makes this
    worker unfit for another student: it leaves once its answer is sent, and the grader starts a fresh one."""
    global _UNFIT
    if not request.trusted:
        kill_descendants()
        if _runs_as_other_user(request):
            _kill_user(request.uid)
    try:
        cleanup.remove(workdir)
        if _runs_as_other_user(request) and not request.private_tmp:
            _remove_owned("/dev/shm", request.uid)
        if request.private_tmp and not request.trusted:
            for shared in ("/tmp", "/dev/shm"):
                if os.path.isdir(shared):
                    cleanup.empty(shared)
    except OSError:
        _UNFIT = True


_UNFIT = False  # set when a child's leftovers could not be removed


def _remove_owned(folder: str, uid: int) -> None:
    """Remove the entries of a shared folder that belong to ``uid`` (a child's own: nobody else has it)."""
    for entry in os.scandir(folder):
        if entry.stat(follow_symlinks=False).st_uid == uid:
            cleanup.remove(entry.path)


def kill_descendants(deadline_seconds: float = 10.0) -> None:
    """Kill every child process of this worker, and every orphan that comes back to it as their subreaper,
    until none is left (a process that called ``setsid()`` is found too)."""
    deadline = time.monotonic() + deadline_seconds
    me = os.getpid()
    while time.monotonic() < deadline:
        children = _children_of(me)
        if not children:
            return
        for child in children:
            _kill_group(child)
        for child in children:
            _reap(child)


def _children_of(pid: int) -> list[int]:
    """The live child processes of ``pid`` (read from ``/proc``; none where there is no ``/proc``)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _child(request: Request, start: int, write_end: int, skipped: set, workdir: str) -> None:
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
        if _runs_as_other_user(request):
            privileges.drop_to(request.uid, keep_reading=not can_drop_privileges())
        privileges.die_with_parent()  # after the uid change, which clears it: a killed worker leaves no child
        _apply_limits(request)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.chdir(workdir)
        if not request.trusted:
            _confine(request, workdir)
        os.closerange(3, write_end)
        os.closerange(write_end + 1, 1024)
        finder = SubmissionFinder(request.files, set(skipped), on_load=lambda name: send({"loading": name}),
                                  on_loaded=lambda name: send({"loaded": name}))
        finder.install()
        signal_imports(on_load=lambda name: send({"loading": name}), on_loaded=lambda name: send({"loaded": name}))
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
    """Confine the child before it loads any student code: the environment is the child's own (its folder
    for home and temporary files), ``sys.path`` holds nothing it can write to, and, where the kernel has
    them, Landlock (it reads only the Python installation, the system, this submission's staged files and
    the course's inputs, sees no other process in ``/proc``, writes only its own folder, connects nowhere
    and cannot signal its worker or the grader) and a seccomp filter (no socket but a Unix one)."""
    os.environ.update(HOME=workdir, TMPDIR=workdir, MPLCONFIGDIR=workdir, TORCHINDUCTOR_CACHE_DIR=f"{workdir}/inductor",
                      TRITON_CACHE_DIR=f"{workdir}/triton", TORCHINDUCTOR_COMPILE_THREADS="1", USER="student")
    tempfile.tempdir = workdir
    sys.path[:] = safe_import_path(sys.path)
    visible = {str(Path(path).parent) for path in request.files.values()}
    readable = [str(path) for path in readable_paths()] + sorted(visible) + [p for p in [request.inputs] if p]
    # bwrap's /tmp and /dev/shm are the sandbox's own, emptied after each child; the host's /dev/shm only for a
    # uid of the child's own, whose entries are removed after it (multiprocessing's semaphores live there)
    writable = [workdir, os.devnull] + (["/tmp", "/dev/shm"] if request.private_tmp else [])
    writable += ["/dev/shm"] if not request.private_tmp and os.geteuid() == request.uid else []
    if request.gpu:  # CUDA drives its device files with ioctl, reads the driver's /proc files and names its threads
        writable += [str(path) for path in sorted(Path("/dev").glob("nvidia*"))] + ["/proc/self/task"]
        readable += list(GPU_READABLE)
    landlock.restrict(readable + list(SYSTEM_READABLE), writable)
    syscalls.restrict(unix_sockets=request.gpu)


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
    Code that may use the GPU gets no address-space limit: CUDA could not start under one.
    """
    limits = {resource.RLIMIT_CPU: int(request.timeout * len(request.probes)) + 30,
              resource.RLIMIT_FSIZE: 64 * 2**20}
    status = proc / "self" / "status"
    if status.exists():
        vm_kb = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmSize:"))
        if not request.gpu:  # CUDA reserves tens of GB of address space before it allocates anything
            limits[resource.RLIMIT_AS] = vm_kb * 1024 + request.memory_mb * 2**20
        limits[resource.RLIMIT_NPROC] = len(_processes_of(os.getuid())) + 32
    return limits


@functools.cache
def can_drop_privileges() -> bool:
    """Whether an unprivileged user can read the Python installation (else a child that drops its uid keeps
    the capability to read files, and Landlock alone decides what it reads)."""
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
TOO_LARGE = object()  # what it returns once the child has sent more than it may


class _LineReader:
    """Reads JSON lines from a pipe with a deadline and a budget of bytes; a garbled line counts as a crash."""

    def __init__(self, fd: int, budget: int):
        self.fd, self.buffer, self.budget, self.received, self.last = fd, b"", budget, 0, b""

    def next_message(self, deadline: float):
        """The next message (a dict), ``TIMED_OUT``, ``TOO_LARGE``, or None when the pipe closed or carried garbage."""
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return TIMED_OUT
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return TIMED_OUT
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return None
            self.received += len(chunk)
            if self.received > self.budget:
                return TOO_LARGE
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        self.last = line
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return None
        return message if isinstance(message, dict) else None


def _well_formed(message: dict, probes: tuple, index: int, current: str | None) -> bool:
    """Whether a child's message is what the child writes next: a function begins once, at the next probe, with
    that probe's function; a probe's observation comes in order, for the function that began, under its own id.
    Student code shares the child's process, so nothing else is believed (a repeated ``begin`` would reset
    the time limit)."""
    if "loading" in message or "loaded" in message:
        return isinstance(message.get("loading", message.get("loaded")), str)
    if "done" in message or "internal_error" in message:
        return True
    if type(message.get("index")) is not int or message["index"] != index or index >= len(probes):
        return False
    if "begin" in message:
        return message["begin"] == probes[index].function != current
    if "probe" in message:
        return (message["probe"] == probes[index].id and probes[index].function == current
                and isinstance(message.get("observation"), dict) and isinstance(message.get("load_errors", []), list))
    return False


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


def describe_exit(status: int) -> str:
    """How a child's process ended, in words (any signal, real-time ones too)."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        hint = {"SIGKILL": " (out of memory, or killed)", "SIGXCPU": " (CPU time limit)", "SIGSEGV": " (crashed)"}
        return f"the process was killed by {name}{hint.get(name, '')}"
    if os.WIFEXITED(status):
        return f"the process exited with code {os.WEXITSTATUS(status)} (sys.exit or os._exit in the code?)"
    return f"the process ended with status {status}"

