"""Where a user's check servers listen, and which one serves a check: one per key, the digest of all that makes a
grade (the course's files, the grader, torch, Python, the sandbox, the device, the seed asked, the functions)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader import versions
from grader.assignment import Assignment
from grader.runner import PASSED_ON

IDLE_SECONDS = 300.0  # a server leaves after this long without a request
MAX_SERVERS = 3  # a user's servers at once (about 350 MB each): a new one first stops those idle longest
PROTOCOL = 1
KEY_LENGTH = 32  # hex digits of a server's key, in its socket's name
# what a server keeps of the environment of the check that started it: what the workers see, and where files go
ENVIRONMENT = (*PASSED_ON, "PYTHONPATH", "PYTHONHOME", "HOME", "TMPDIR", "XDG_CACHE_HOME")
MAX_SOCKET_PATH = 107  # bytes: a Unix socket's path, with its end, must fit in 108


@dataclass(frozen=True)
class Settings:
    """What a server grades with: the course (its ``assignment.toml``), the sandbox mode (resolved), the device,
    the seed asked (None: the server draws one and keeps it) and the functions (empty: all)."""

    course: Path
    sandbox: str
    device: str
    seed: int | None
    only: tuple[str, ...]

    def key(self, assignment: Assignment) -> str:
        """The server's name: a digest of these settings and of every version the grade depends on."""
        document = {"protocol": PROTOCOL, "course": versions.course_digest(assignment), "root": str(assignment.root),
                    "declarations": str(self.course), "grader": versions.grader_digest(),
                    "torch": versions.torch_version(), "python": versions.python_version(), "executable": sys.executable,
                    "environment": {name: os.environ.get(name) for name in ENVIRONMENT}, "sandbox": self.sandbox,
                    "device": self.device, "seed": self.seed, "only": sorted(self.only), "uid": os.geteuid()}
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:KEY_LENGTH]

    def arguments(self) -> list[str]:
        """The server's command-line arguments for these settings."""
        seed = [] if self.seed is None else ["--seed", str(self.seed)]
        only = [argument for name in self.only for argument in ("--only", name)]
        return ["--course", str(self.course), "--sandbox", self.sandbox, "--device", self.device, *seed, *only]


@dataclass(frozen=True)
class Place:
    """A server's files in the user's runtime folder: its socket, its token, the lock taken to start it, its log."""

    folder: Path
    key: str

    @property
    def socket(self) -> Path:
        return self.folder / f"{self.key}.sock"

    @property
    def lock(self) -> Path:
        """One lock for the user's servers: one starts at a time, so the count stays within ``MAX_SERVERS``."""
        return self.folder / "starting.lock"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.key}.log"

    @property
    def token(self) -> Path:
        return self.folder / f"{self.key}.token"

    @classmethod
    def of(cls, socket: Path) -> Place:
        """The place whose socket this is."""
        return cls(socket.parent, socket.name.removesuffix(".sock"))


def runtime_folder() -> Path | None:
    """``$XDG_RUNTIME_DIR/autograde``, else ``autograde-<uid>`` in the temporary folder (``/tmp``): a folder of this user's own, mode 0700; None
    when neither can be had (another user made it first, or the path is too long for a socket)."""
    candidates = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        candidates.append(Path(runtime) / "autograde")
    candidates.append(Path(tempfile.gettempdir()) / f"autograde-{os.geteuid()}")
    for folder in candidates:
        if len(os.fsencode(folder)) + len("/.sock") + KEY_LENGTH <= MAX_SOCKET_PATH and versions.private_folder(folder) is not None:
            return folder
    return None


def servers(folder: Path) -> list[Path]:
    """The sockets of the servers in a runtime folder (some may be stale)."""
    return sorted(folder.glob("*.sock"))
