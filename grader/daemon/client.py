"""The side of ``check``: find the server for its settings (starting one when none runs), hand it the
submission, and read its answer back as a typed result. Whatever goes wrong on the way, the caller is told why
and grades in its own process instead: a server only ever saves time."""

from __future__ import annotations

import fcntl
import os
import select
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from grader.assignment import Assignment
from grader.daemon import place, wire
from grader.daemon.place import PROTOCOL, Place, Settings
from grader.results import MalformedResult, SubmissionResult, from_record

if TYPE_CHECKING:
    from grader.engine import Session

STARTUP_SECONDS = 120.0  # a server's start: importing torch on a loaded machine
CONNECT_SECONDS = 2.0  # a server that does not take a connection by then is busy (or wedged): not waited for
MAX_TOKEN_BYTES = 64


class Busy(RuntimeError):
    """A server listens at the place but does not take the connection."""


@dataclass(frozen=True)
class Answer:
    """A server's result, or why there is none (then the caller grades itself); ``started``: this check started
    the server."""

    result: SubmissionResult | None
    problem: str = ""
    started: bool = False


def grade(settings: Settings, course: Assignment, submission: Path, idle: float = place.IDLE_SECONDS) -> Answer:
    """Grade ``submission`` on the server for these settings, started first when none runs."""
    folder = place.runtime_folder()
    if folder is None:
        return Answer(None, "no private runtime folder for a check server")
    where = Place(folder, settings.key(course))
    try:
        connection = _connect(where.socket)
        started = connection is None
        connection = connection or _start(settings, where, idle)
    except Busy:
        return Answer(None, "the check server is busy")
    if isinstance(connection, str):
        return Answer(None, connection)
    with connection:
        try:
            wire.send(connection, {"protocol": PROTOCOL, "token": _token(where), "key": where.key,
                                   "grade": str(submission.resolve())})
            answer = wire.receive(connection, wire.MAX_ANSWER_BYTES, _answer_seconds(course))
        except (OSError, wire.WireError) as error:
            return Answer(None, f"the check server did not answer: {error}")
    return replace(_read(answer), started=started)


def ask(path: Path, request: dict, seconds: float = 10.0) -> object | None:
    """Send one request (``status``, ``stop``) to the server whose socket is ``path``; its answer, or None."""
    try:
        connection = _connect(path)
    except Busy:
        return None
    if connection is None:
        return None
    with connection:
        try:
            wire.send(connection, {"protocol": PROTOCOL, "token": _token(Place.of(path)), **request})
            return wire.receive(connection, wire.MAX_REQUEST_BYTES, seconds)
        except (OSError, wire.WireError):
            return None


def _read(answer: object) -> Answer:
    """The server's answer as a result; a result of a session that failed is no answer (the check grades
    itself, in a fresh session)."""
    if isinstance(answer, dict) and "result" in answer:
        try:
            result = from_record(answer["result"])
        except MalformedResult as error:
            return Answer(None, f"the check server sent what is not a result ({error})")
        if result.internal_error:
            return Answer(None, f"the check server failed ({result.internal_error[:300]})")
        return Answer(result)
    error = answer.get("error") if isinstance(answer, dict) else None
    return Answer(None, f"the check server refused: {str(error)[:300]}" if error else "the check server answered nonsense")


def _answer_seconds(course: Assignment) -> float:
    """How long a grade may take: every function at the course's time limit, twice (its repair search), and
    a server that is still starting."""
    return STARTUP_SECONDS + 2 * course.timeout * max(1, len(course.functions)) + 60.0


def _token(where: Place) -> str:
    """The server's token, from the user's own file (empty when there is none to read)."""
    try:
        handle = os.open(where.token, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return ""
    with os.fdopen(handle, "rb") as token:
        if os.fstat(token.fileno()).st_uid != os.geteuid():
            return ""
        return token.read(MAX_TOKEN_BYTES).decode("ascii", errors="replace")


def _connect(path: Path) -> socket.socket | None:
    """A connection to the server listening at ``path``, when it is this user's own socket; None when there
    is none (no socket, or a stale one). Raises Busy when one listens but does not take the connection."""
    try:
        info = path.lstat()
    except OSError:
        return None
    if info.st_uid != os.geteuid() or not stat.S_ISSOCK(info.st_mode):
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(CONNECT_SECONDS)
    try:
        connection.connect(str(path))
    except TimeoutError as error:
        connection.close()
        raise Busy(str(path)) from error
    except OSError:
        connection.close()
        return None
    return connection


def _make_room(where: Place) -> None:
    """Stop the servers that graded least recently until a new one keeps the user's count within
    ``MAX_SERVERS`` (a server of a course version that is no longer current first)."""
    others = []
    for path in place.servers(where.folder):
        answer = ask(path, {"status": True}) if path != where.socket else None
        status = answer.get("status") if isinstance(answer, dict) else None
        if isinstance(status, dict) and isinstance(status.get("idle"), (int, float)):
            others.append((status.get("current") is not True, status["idle"], path))
    for *_, path in sorted(others, reverse=True)[:max(0, len(others) - place.MAX_SERVERS + 1)]:
        ask(path, {"stop": True})


def _start(settings: Settings, where: Place, idle: float) -> socket.socket | str:
    """Start the server (one at a time per key: the others wait on its lock, then connect), and connect once it
    listens; or say why it could not be. The server closes the pipe it is given once it listens (or ends)."""
    try:
        lock = os.open(where.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        return f"no lock for a check server: {error}"
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        connection = _connect(where.socket)  # another check started it while this one waited
        if connection is not None:
            return connection
        _make_room(where)
        return _spawn(settings, where, idle)
    finally:
        os.close(lock)


def _spawn(settings: Settings, where: Place, idle: float) -> socket.socket | str:
    """Run ``python -m grader.daemon`` (which leaves its server running on its own), wait until it listens or
    ends, and connect."""
    ready, told = os.pipe()
    try:
        log = os.open(where.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            subprocess.run([sys.executable, "-P", "-m", "grader.daemon", *settings.arguments(), "--socket",
                            str(where.socket), "--idle", str(idle), "--ready-fd", str(told)],
                           stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(told,), cwd="/",
                           start_new_session=True, check=False, timeout=STARTUP_SECONDS)
        finally:
            os.close(log)
        os.close(told)
        told = None
        readable, _, _ = select.select([ready], [], [], STARTUP_SECONDS)
    except (OSError, subprocess.SubprocessError) as error:
        return f"the check server did not start: {error}"
    finally:
        os.close(ready)
        if told is not None:
            os.close(told)
    connection = _connect(where.socket) if readable else None
    return connection or f"the check server did not start (see {where.log})"


class Checker:
    """Grades through the warm server while it answers; else, and from then on, in a session of its own (made
    by ``local`` when first needed), saying once why (``say``: a line for the person, on stderr)."""

    def __init__(self, settings: Settings | None, course: Assignment, local: Callable[[], Session],
                 say: Callable[[str], None]):
        self.settings, self.course, self.local, self.say = settings, course, local, say
        self.session: Session | None = None

    def grade(self, submission: Path) -> SubmissionResult:
        """The submission's result."""
        if self.settings is not None:
            answer = grade(self.settings, self.course, submission)
            if answer.started and answer.result is not None:
                self.say(f"started a check server for this course: later checks are answered by it (it leaves "
                         f"after {place.IDLE_SECONDS / 60:g} idle minutes; `autograde server stop` stops it)")
            if answer.result is not None:
                return replace(answer.result, submission=str(submission))  # as the student named it
            self.say(f"note: {answer.problem}; checking without it")
            self.settings = None
        if self.session is None:
            self.session = self.local()
        return self.session.grade(submission)

    def close(self) -> None:
        """Stop this process's own session, if it made one (a server stays, for the next check)."""
        if self.session is not None:
            self.session.close()
