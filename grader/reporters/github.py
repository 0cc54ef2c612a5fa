"""Inside GitHub Actions: a Markdown job summary and error annotations on the student's lines."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grader.reporters import terminal
from grader.reporters.classroom import relative, short_message
from grader.results import ERROR, INTERNAL, PASS, SubmissionResult
from grader.textsafe import visible

MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step


def escape_data(text: str) -> str:
    """Escape a workflow-command message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotations(result: SubmissionResult) -> list[str]:
    """``::error file=…,line=…,title=…::message`` lines, worst first, at most ten; each on one line,
    its control characters made visible, then escaped as GitHub documents. A located repair in a Python file
    puts the annotation on its line, and says so."""
    failing = [test for test in result.tests if test.status != PASS]
    failing.sort(key=lambda t: (t.status not in (ERROR, INTERNAL), -t.max_score))
    lines = []
    for test in failing[:MAX_ANNOTATIONS]:
        properties = [f"title={escape_property(visible(f'{test.name} ({test.score:g}/{test.max_score:g})'))}"]
        message = short_message(test.message, test.mistake)
        line = test.line or 1
        if test.repair and str(test.file).endswith(".py"):
            line, message = test.repair.line, f"{message} ({test.repair.text})"
        if relative(test.file):
            properties = [f"file={escape_property(visible(relative(test.file)))}", f"line={line}", *properties]
        lines.append(f"::error {','.join(properties)}::{escape_data(visible(message))}")
    return lines


def note(text: str) -> None:
    """When running in GitHub Actions: a line of the grader's own in the job summary (not student text)."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY") if os.environ.get("GITHUB_ACTIONS") == "true" else None
    if summary:
        with open(Path(summary), "a", encoding="utf-8") as handle:
            handle.write(f"**autograde**: {text}\n\n")


def publish(result: SubmissionResult) -> None:
    """When running in GitHub Actions: append the job summary and print the annotations."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(Path(summary), "a", encoding="utf-8") as handle:
            handle.write(terminal.render(result, markdown=True))
    for line in annotations(result):
        print(line, file=sys.stderr, flush=True)  # the runner reads workflow commands from stderr too
