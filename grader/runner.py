"""Start worker processes and talk to them: one JSON request out, one JSON response back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from grader import sandbox
from grader.protocol import Request, Response


class WorkerDied(RuntimeError):
    """The worker process ended while serving a request (the code under test may have killed it).

    ``function`` is the function that was running then, when the worker had said.
    """

    def __init__(self, message: str, function: str | None = None):
        super().__init__(message)
        self.function = function


def environment(device: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker process.

    On the CPU (the default) no GPU is visible to the code at all: CUDA cannot be used in a process
    forked after its parent touched it, results are deterministic, and code written with the
    ``torch.cuda.is_available()`` idiom takes its CPU branch. ``device="cuda"`` keeps the GPUs
    visible: the worker itself never touches CUDA, so each forked child can.
    """
    env = {**(os.environ if base is None else base), "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
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
        command = (sandbox.command(self.mode, self.visible, self.device) if self.mode != "trusted"
                   else [sys.executable, "-m", "grader.worker"])
        env = environment(self.device)
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True, bufsize=1, env=env, start_new_session=True)

    def request(self, request: Request) -> Response:
        """Send one request and wait for its response; restart the worker if it died."""
        running = None
        try:
            self.process.stdin.write(request.to_json() + "\n")
            self.process.stdin.flush()
            while True:
                line = self.process.stdout.readline()
                message = json.loads(line) if line else None
                if not isinstance(message, dict) or "running" not in message:
                    break
                running = message["running"]
        except (BrokenPipeError, OSError, ValueError):
            message = None
        if not isinstance(message, dict):
            if self.process.poll() is None:  # alive but talking nonsense: it cannot be trusted with more
                self.process.kill()
            code = self.process.wait()
            self.start()
            raise WorkerDied(f"the grading process ended (exit status {code}) while running "
                             f"{running or 'this submission'}", running)
        return Response.from_json(message)

    def close(self) -> None:
        """Stop the process."""
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
