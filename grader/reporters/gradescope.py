"""Gradescope's ``results.json``: one test per check, partial credit per check."""

from __future__ import annotations

import json

from grader.reporters import terminal, workflow_commands
from grader.results import PASS, SubmissionResult


def document(result: SubmissionResult, visibility: str = "visible") -> dict:
    """The results object Gradescope reads from ``/autograder/results/results.json``."""
    tests = []
    for number, test in enumerate(result.tests, start=1):
        lines = test.explanation
        tests.append({
            "name": test.name,
            "number": str(number),
            "score": test.score,
            "max_score": test.max_score,
            "status": "passed" if test.status == PASS else "failed",
            "output": "\n".join(line for line in lines if line) or "passed",
            "visibility": visibility,
            "tags": [test.function, test.check] + ([test.mistake] if test.mistake else []),
        })
    summary = terminal.render(result).splitlines()[-1]
    if result.internal_errors:
        summary = ("The autograder failed (not your fault; your instructor has been told): "
                   + "; ".join(result.internal_errors))
    return {"score": result.score, "output": summary, "visibility": visibility, "stdout_visibility": "hidden",
            "tests": tests}


def render(result: SubmissionResult) -> str:
    """The document as JSON (no workflow command forged by its strings)."""
    return workflow_commands.neutralise(json.dumps(document(result), indent=2) + "\n", "json")
