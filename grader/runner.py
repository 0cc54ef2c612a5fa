"""Start worker processes and talk to them: one JSON request out, one JSON response back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from grader import sandbox


class WorkerDied(RuntimeError):
    """The worker process ended while serving a request (the code under test may have killed it)."""


class Worker:
    """A long-lived worker process (torch imported once), isolated as its mode says."""

    def __init__(self, mode: str, visible: list[Path] = ()):
        self.mode, self.visible = mode, list(visible)
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        """(Re)start the process; it begins importing torch at once."""
        command = sandbox.command(self.mode, self.visible) if self.mode != "trusted" else [sys.executable, "-m", "grader.worker"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "OBJC_DISABLE_INITIALIZE_FORK_SAFETY": "YES"}  # macOS: let the worker fork after importing torch
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True, bufsize=1, env=env, start_new_session=True)

    def request(self, payload: dict) -> dict:
        """Send one request and wait for its response; restart the worker if it died."""
        try:
            self.process.stdin.write(json.dumps(payload) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            code = self.process.wait()
            self.start()
            raise WorkerDied(f"the grading process ended (exit status {code}) while running this submission")
        return json.loads(line)

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
