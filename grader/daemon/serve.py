"""The check server: one grading session kept warm (torch imported, the reference computed), answering the
checks of its own user over a Unix socket in the user's runtime folder, until it has been idle for a while.

It grades exactly as ``check`` does in its own process: the same ``Session``, so the same sandbox, limits and
judging, and only the course version its key names: it computes the reference before it listens, and leaves
rather than answer once the course's files are no longer that version (edited while it started, or since).
What a client sends is read as untrusted (one bounded JSON line). A client must be of the server's own user
(the kernel's word: ``SO_PEERCRED``) and send the server's token, a file only that user can read: student
code, even where it may open sockets (a GPU's driver needs them), cannot read it.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grader import answer_key, assignment
from grader.assignment import Assignment
from grader.daemon import wire
from grader.daemon.place import PROTOCOL, Place, Settings
from grader.engine import Session
from grader.results import to_record

REQUEST_SECONDS = 10.0  # to send a request once connected
GRADED, ANSWERED, LEAVE = "graded", "answered", "leave"  # what answering a client came to
ANSWER_SECONDS = 60.0  # for a client to take its answer


@dataclass(frozen=True)
class Served:
    """What the server answers from: its session, the course as it loaded it, its settings, key and token."""

    session: Session
    course: Assignment
    settings: Settings
    key: str
    token: str

    def current(self) -> bool:
        """Whether the course's files are still the version this server was started for."""
        return self.settings.key(self.course) == self.key

    def status(self, idle: float) -> dict:
        """What ``autograde server status`` shows of this server (``idle``: seconds since its last grade)."""
        return {"pid": os.getpid(), "course": self.course.name, "folder": str(self.course.root),
                "functions": ",".join(self.settings.only) or "all", "seed": self.session.seed,
                "seed_from": "asked" if self.settings.seed is not None else "drawn", "sandbox": self.session.sandbox,
                "device": self.session.device, "idle": round(idle, 1), "current": self.current()}


def serve(settings: Settings, where: Place, idle: float, ready_fd: int) -> None:
    """Build the session and its reference, then listen at ``where`` (and close ``ready_fd``) and answer checks
    one at a time; return once idle for ``idle`` seconds, asked to stop, or no longer current. The socket and
    the token are removed on the way out (when still this server's)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    course = assignment.load(settings.course)
    if settings.key(course) != where.key:
        print("the course's files changed since the check that started this server read them", file=sys.stderr)
        return  # that check grades itself
    key = None if course.has_solutions else answer_key.load(course.answer_key)
    with Session(course, seed=settings.seed, sandbox=settings.sandbox, only=list(settings.only) or None, key=key,
                 device=settings.device, cache=True) as session:
        session.reference()  # before any answer: a failed reference ends the server, and the check grades itself
        served = Served(session, course, settings, where.key, _write_token(where.token))
        if not served.current():
            print("the course's files changed while the reference ran: it may hold either version", file=sys.stderr)
            return
        listener = _listen(where.socket)
        mine = os.stat(where.socket).st_ino
        os.close(ready_fd)
        try:
            _answer_until_done(listener, served, idle)
        finally:
            listener.close()
            _remove_if_mine(where, mine)
    where.log.unlink(missing_ok=True)  # a clean end: nothing to read there


def _answer_until_done(listener: socket.socket, served: Served, idle: float) -> None:
    """Answer until ``idle`` seconds have passed since the last grade (a status or a junk request does not count)."""
    graded = time.monotonic()
    while True:
        left = graded + idle - time.monotonic()
        if left <= 0:
            return
        listener.settimeout(left)
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            return
        with connection:
            outcome = _answer(connection, served, time.monotonic() - graded)
        if outcome == LEAVE:
            return
        if outcome == GRADED:
            graded = time.monotonic()


def _write_token(path: Path) -> str:
    """A new random token, written to ``path`` for this user only."""
    token = secrets.token_hex(16)
    path.unlink(missing_ok=True)  # a stale one: the check that started this server holds the lock
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(handle, "w") as out:
        out.write(token)
    return token


def _listen(path: Path) -> socket.socket:
    """A listening socket at ``path`` that only this user can connect to."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        path.unlink(missing_ok=True)  # a stale one: the check that started this server holds the lock
        listener.bind(str(path))
    finally:
        os.umask(previous)
    listener.listen(16)
    return listener


def _remove_if_mine(where: Place, socket_inode: int) -> None:
    """Remove the socket and the token, unless a newer server has put its own there."""
    try:
        if os.stat(where.socket).st_ino == socket_inode:
            where.socket.unlink()
            where.token.unlink(missing_ok=True)
    except OSError:
        pass


def _answer(connection: socket.socket, served: Served, idle: float = 0.0) -> str:
    """Answer one client (``idle``: the seconds since the last grade): ``GRADED``, ``ANSWERED`` (nothing graded),
    or ``LEAVE`` when the server should leave: asked to stop, its course edited, or its session failed."""
    try:
        if wire.peer_uid(connection) != os.geteuid():
            return ANSWERED
        request = wire.receive(connection, wire.MAX_REQUEST_BYTES, REQUEST_SECONDS)
        if not (isinstance(request, dict) and request.get("protocol") == PROTOCOL
                and secrets.compare_digest(str(request.get("token", "")), served.token)):
            wire.send(connection, {"error": "not a request of this server's protocol and token"})
            return ANSWERED
        if request.get("stop") is True:
            wire.send(connection, {"stopped": os.getpid()})
            return LEAVE
        if request.get("status") is True:
            wire.send(connection, {"status": served.status(idle)})
            return ANSWERED
        submission = request.get("grade")
        if not isinstance(submission, str) or not os.path.isabs(submission) or not os.path.exists(submission):
            wire.send(connection, {"error": "grade: an absolute path of a submission that exists"})
            return ANSWERED
        if request.get("key") != served.key or not served.current():
            wire.send(connection, {"error": "the course's files are not this server's version"})
            return LEAVE
        result = served.session.grade(Path(submission))
        connection.settimeout(ANSWER_SECONDS)
        wire.send(connection, {"result": to_record(result)})
        return GRADED if result.internal_error is None else LEAVE  # a session that failed a submission is not kept
    except (OSError, wire.WireError):
        return ANSWERED  # this client went away or sent nonsense: the next one is served
