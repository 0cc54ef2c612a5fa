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


@dataclass(frozen=True)
class Answer:
    """A server's result, or why there is none (then the caller grades itself)."""

    result: SubmissionResult | None
    problem: str = ""


def grade(settings: Settings, course: Assignment, submission: Path, idle: float = place.IDLE_SECONDS) -> Answer:
    """Grade ``submission`` on the server for these settings, started first when none runs."""
    folder = place.runtime_folder()
    if folder is None:
        return Answer(None, "no private runtime folder for a check server")
    where = Place(folder, settings.key(course))
    connection = _connect(where.socket) or _start(settings, where, idle)
    if isinstance(connection, str):
        return Answer(None, connection)
    with connection:
        try:
            wire.send(connection, {"protocol": PROTOCOL, "grade": str(submission.resolve())})
            answer = wire.receive(connection, wire.MAX_ANSWER_BYTES, _answer_seconds(course))
        except (OSError, wire.WireError) as error:
            return Answer(None, f"the check server did not answer: {error}")
    if isinstance(answer, dict) and "result" in answer:
        try:
            return Answer(from_record(answer["result"]))
        except (MalformedResult, KeyError, TypeError) as error:
            return Answer(None, f"the check server sent what is not a result ({error})")
    error = answer.get("error") if isinstance(answer, dict) else None
    return Answer(None, f"the check server refused: {str(error)[:300]}" if error else "the check server answered nonsense")


def ask(path: Path, request: dict, seconds: float = 10.0) -> object | None:
    """Send one request (``status``, ``stop``) to the server at ``path``; its answer, or None."""
    connection = _connect(path)
    if connection is None:
        return None
    with connection:
        try:
            wire.send(connection, {"protocol": PROTOCOL, **request})
            return wire.receive(connection, wire.MAX_REQUEST_BYTES, seconds)
        except (OSError, wire.WireError):
            return None


def _answer_seconds(course: Assignment) -> float:
    """How long a grade may take: every function at the course's time limit, twice (its repair search), and
    a server that is still starting."""
    return STARTUP_SECONDS + 2 * course.timeout * max(1, len(course.functions)) + 60.0


def _connect(path: Path) -> socket.socket | None:
    """A connection to the server listening at ``path``, when it is this user's own socket and answers."""
    try:
        info = path.lstat()
    except OSError:
        return None
    if info.st_uid != os.geteuid() or not stat.S_ISSOCK(info.st_mode):
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        return None
    return connection


def _make_room(where: Place) -> None:
    """Stop the servers idle longest until a new one keeps the user's count within ``MAX_SERVERS``."""
    others = []
    for path in place.servers(where.folder):
        answer = ask(path, {"status": True}) if path != where.socket else None
        status = answer.get("status") if isinstance(answer, dict) else None
        if isinstance(status, dict) and isinstance(status.get("idle"), (int, float)):
            others.append((status["idle"], path))
    for _, path in sorted(others, reverse=True)[:max(0, len(others) - place.MAX_SERVERS + 1)]:
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
        ready, told = os.pipe()
        try:
            with open(where.log, "wb") as log:
                os.chmod(where.log, 0o600)
                subprocess.run([sys.executable, "-m", "grader.daemon", *settings.arguments(), "--socket",
                                str(where.socket), "--idle", str(idle), "--ready-fd", str(told)],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(told,),
                               start_new_session=True, check=False, timeout=STARTUP_SECONDS)
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
    finally:
        os.close(lock)


class Checker:
    """Grades through the warm server while it answers; else, and from then on, in a session of its own (made
    by ``local`` when first needed), saying once why."""

    def __init__(self, settings: Settings | None, course: Assignment, local: Callable[[], Session],
                 note: Callable[[str], None]):
        self.settings, self.course, self.local, self.note = settings, course, local, note
        self.session: Session | None = None

    def grade(self, submission: Path) -> SubmissionResult:
        """The submission's result."""
        if self.settings is not None:
            answer = grade(self.settings, self.course, submission)
            if answer.result is not None:
                return replace(answer.result, submission=str(submission))  # as the student named it
            self.note(f"{answer.problem}; checking without it")
            self.settings = None
        if self.session is None:
            self.session = self.local()
        return self.session.grade(submission)

    def close(self) -> None:
        """Stop this process's own session, if it made one (a server stays, for the next check)."""
        if self.session is not None:
            self.session.close()
