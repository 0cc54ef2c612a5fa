"""Start worker processes and talk to them: one JSON request out, one JSON response back."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from grader import sandbox
from grader.protocol import Malformed, Request, Response

PASSED_ON = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES")  # no secret among them
MAX_RESPONSE_BYTES = 64 * 2**20  # what one request's answer may weigh (the worker caps its children at 32 MB)
STARTUP_SECONDS = 120.0  # importing torch on a loaded machine, before the first answer


class WorkerDied(RuntimeError):
    """The worker process ended while serving a request (the code under test may have killed it).

    ``function`` is the function that was running then, when the worker had said.
    """

    def __init__(self, message: str, function: str | None = None):
        super().__init__(message)
        self.function = function


def environment(device: str, base: dict[str, str] | None = None, trusted: bool = False) -> dict[str, str]:
    """The environment of a worker process.

    A worker for student code gets only the variables of ``PASSED_ON`` from the grader's environment: no
    token or secret of the grader's is ever visible to the code. On the CPU (the default) no GPU is visible
    to the code at all: CUDA cannot be used in a process forked after its parent touched it, results are
    deterministic, and code written with the ``torch.cuda.is_available()`` idiom takes its CPU branch.
    ``device="cuda"`` keeps the GPUs visible: the worker itself never touches CUDA, so each forked child can.
    """
    source = os.environ if base is None else base
    env = dict(source) if trusted else {name: source[name] for name in PASSED_ON if name in source} | sandbox.SCRUBBED_HEAP
    env |= {"OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "AUTOGRADE_PARENT": str(os.getpid()),
            "OBJC_DISABLE_INITIALIZE_FORK_SAFETY": "YES"}  # macOS: let the worker fork after importing torch
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


class Worker:
    """A long-lived worker process (torch imported once), isolated as its mode says."""

    def __init__(self, mode: str, visible: list[Path] = (), device: str = "cpu"):
        self.mode, self.visible, self.device = mode, list(visible), device
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        """(Re)start the process; it begins importing torch at once."""
        trusted = self.mode == "trusted"
        command = sandbox.command(self.mode, self.visible, self.device) if not trusted else [sys.executable, "-P", "-m", "grader.worker"]
        env = environment(self.device, trusted=trusted)
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        env=env, start_new_session=True)
        self.reader = _Lines(self.process.stdout.fileno())
        self.fresh = True

    def request(self, request: Request, until: float | None = None) -> Response:
        """Send one request and wait for its response, at most until the request's deadline (or ``until``, a
        ``time.monotonic()`` instant, when that comes first); a worker that dies, misses the deadline, sends
        too much or sends what is not the protocol is killed and restarted, and ``WorkerDied`` names the
        function that was running."""
        running = None
        deadline = time.monotonic() + deadline_seconds(request) + (STARTUP_SECONDS if self.fresh else 0.0)
        deadline = min(deadline, until) if until is not None else deadline
        self.fresh = False
        functions = len(request.probes)
        reason = "ended"
        try:
            self.process.stdin.write((request.to_json() + "\n").encode())
            self.process.stdin.flush()
            for _ in range(4 * functions + 16):
                message = self.reader.next(deadline)
                if not (isinstance(message, dict) and "running" in message):
                    break
                running = message["running"] if isinstance(message["running"], str) else None
            else:
                message, reason = None, "sent more messages than the request allows"
        except (BrokenPipeError, OSError, ValueError, RecursionError):
            message = None
        except _Overdue as overdue:
            message, reason = None, str(overdue)
        response = None
        if isinstance(message, dict):
            try:
                response = Response.from_json(message)
            except Malformed:
                reason = "sent a response that is not the protocol's"
        if response is None or response.id != request.id:
            if self.process.poll() is None:  # alive but late or talking nonsense: it cannot be trusted with more
                self.process.kill()
                reason = reason if reason != "ended" else "sent what is not the protocol"
            code = self.process.wait()
            self.start()
            raise WorkerDied(f"the grading process {reason} (exit status {code}) while running "
                             f"{running or 'this submission'}", running)
        if response.retiring:  # it could not clean up after a child: the next submission gets a fresh one
            self.close()
            self.start()
        return response

    def close(self) -> None:
        """Stop the process (killed when it does not stop within 5 seconds)."""
        if self.process and self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def deadline_seconds(request: Request) -> float:
    """How long the grading process waits for a request's answer, from the declared limits alone: each
    function's time limit, the worker's grace to start each child and to kill what it left, and a margin.
    Nothing the code sends can extend it."""
    runs = sum(1 for index, probe in enumerate(request.probes)
               if index == 0 or probe.function != request.probes[index - 1].function)
    return runs * (request.timeout + 5.0 + 25.0) + 30.0


class _Overdue(RuntimeError):
    """The worker did not answer within the request's deadline, or sent more than an answer may weigh."""


class _Lines:
    """JSON lines from the worker's stdout, read with a deadline and a cap on their size."""

    def __init__(self, fd: int):
        self.fd, self.buffer = fd, bytearray()

    def next(self, deadline: float):
        """The next decoded line (None once the pipe is closed); ``_Overdue`` past the deadline or the cap."""
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Overdue("did not answer in time")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                return None
            self.buffer += chunk
            if len(self.buffer) > MAX_RESPONSE_BYTES:
                raise _Overdue(f"sent more than {MAX_RESPONSE_BYTES // 2**20} MB")
        end = self.buffer.index(b"\n")
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 1]
        return json.loads(line)
