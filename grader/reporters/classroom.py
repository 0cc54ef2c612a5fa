"""GitHub Classroom's autograding result object, as its grading reporter action reads it.

The reporter (classroom-resources/autograding-grading-reporter@v1) reads, for each runner id,
the environment variable ``<ID>_RESULTS``: base64 of this object. It sums ``tests[].score`` (as
numbers) into "Points x/y" and fails the job when the top-level status is ``fail`` or ``error``.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from grader.reporters import workflow_commands
from grader.results import ERROR, FAIL, INTERNAL, PASS, SubmissionResult
from grader.textsafe import visible

MESSAGE_LIMIT = 300


def document(result: SubmissionResult) -> dict:
    """The result object, with partial credit per check."""
    statuses = {test.status for test in result.tests}
    status = ERROR if result.internal_errors or {ERROR, INTERNAL} & statuses else FAIL if FAIL in statuses else PASS
    return {
        "version": 1,
        "status": status,
        "max_score": result.max_score,
        "tests": [{
            "name": test.name,
            "status": test.status,
            "score": test.score,
            "message": short_message(_logged(test.message), test.mistake),
            "test_code": f"autograde check --only {test.function}",
            "filename": _logged(relative(test.file)),
            "line_no": test.line or 0,
            "duration": round(min(test.duration, 86_400.0) * 1000),
        } for test in result.tests],
    }


def _logged(text: str) -> str:
    """Text the reporter action prints into the Actions log: control characters visible, no workflow command."""
    return workflow_commands.neutralise(visible(text))


def short_message(message: str, mistake: str | None) -> str:
    """A message short enough to read in the Actions log."""
    text = f"[{mistake}] {message}" if mistake else message
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def relative(path: str | None) -> str:
    """The file relative to the workspace (``$GITHUB_WORKSPACE``, else the working folder), as GitHub
    resolves annotation paths; empty when the file lies outside it (an absolute path would not resolve)."""
    if not path:
        return ""
    workspace = Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()
    try:
        return Path(path).resolve().relative_to(workspace).as_posix()
    except ValueError:
        return ""


def encoded(result: SubmissionResult) -> str:
    """The object as the reporter expects it: base64 of its JSON."""
    return base64.b64encode(json.dumps(document(result)).encode()).decode()


def render(result: SubmissionResult) -> str:
    """The object as JSON on stdout (no workflow command forged by its strings); appended as
    ``result=<base64>`` to ``$GITHUB_OUTPUT`` when set."""
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(f"result={encoded(result)}\n")
    return workflow_commands.neutralise(json.dumps(document(result), indent=2) + "\n", "json")
