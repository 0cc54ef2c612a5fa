"""The check server: one grading session kept warm (torch imported, the reference computed), answering the
checks of its own user over a Unix socket in the user's runtime folder, until it has been idle for a while.

It grades exactly as ``check`` does in its own process: the same ``Session``, so the same sandbox, limits and
judging. What a client sends is read as untrusted (one bounded JSON line), and a client of another user is
refused by the kernel's word (``SO_PEERCRED``), on top of the folder being the user's own (mode 0700).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

from grader import answer_key, assignment
from grader.daemon import wire
from grader.daemon.place import PROTOCOL, Settings
from grader.engine import Session
from grader.results import to_record

REQUEST_SECONDS = 10.0  # to send a request once connected
ANSWER_SECONDS = 60.0  # for a client to take its answer


def serve(settings: Settings, path: Path, idle: float, ready_fd: int) -> None:
    """Build the session, listen at ``path`` (then close ``ready_fd``), answer checks one at a time; return once
    idle for ``idle`` seconds or asked to stop. The socket is removed on the way out (when still this server's)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    course = assignment.load(settings.course)
    key = None if course.has_solutions else answer_key.load(course.answer_key)
    with Session(course, seed=settings.seed, sandbox=settings.sandbox, only=list(settings.only) or None, key=key,
                 device=settings.device, cache=True) as session:
        listener = _listen(path)
        mine = os.stat(path).st_ino
        os.close(ready_fd)
        try:
            listener.settimeout(idle)
            used = time.monotonic()
            while True:
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    return
                with connection:
                    if not _answer(connection, session, course.name, time.monotonic() - used):
                        return
                used = time.monotonic()
        finally:
            listener.close()
            try:
                if os.stat(path).st_ino == mine:
                    path.unlink()
            except OSError:
                pass


def _listen(path: Path) -> socket.socket:
    """A listening socket at ``path`` that only this user can connect to."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        path.unlink(missing_ok=True)  # a stale one: the client that started this server holds the lock
        listener.bind(str(path))
    finally:
        os.umask(previous)
    listener.listen(16)
    return listener


def _answer(connection: socket.socket, session: Session, course: str, idle: float = 0.0) -> bool:
    """Answer one client (``idle``: the seconds since the last one); False when it asked the server to stop."""
    try:
        if wire.peer_uid(connection) != os.geteuid():
            return True
        request = wire.receive(connection, wire.MAX_REQUEST_BYTES, REQUEST_SECONDS)
        if not isinstance(request, dict) or request.get("protocol") != PROTOCOL:
            wire.send(connection, {"error": "not a request of this grader's protocol"})
            return True
        if request.get("stop") is True:
            wire.send(connection, {"stopped": os.getpid()})
            return False
        if request.get("status") is True:
            wire.send(connection, {"status": {"pid": os.getpid(), "course": course, "seed": session.seed,
                                              "sandbox": session.sandbox, "device": session.device,
                                              "idle": round(idle, 1)}})
            return True
        submission = request.get("grade")
        if not isinstance(submission, str) or not os.path.isabs(submission) or not os.path.exists(submission):
            wire.send(connection, {"error": "grade: an absolute path of a submission that exists"})
            return True
        result = session.grade(Path(submission))
        connection.settimeout(ANSWER_SECONDS)
        wire.send(connection, {"result": to_record(result)})
    except (OSError, wire.WireError):
        pass  # this client went away or sent nonsense: the next one is served
    return True
