"""``--format json``: exactly one JSON document on stdout."""

from __future__ import annotations

import json

from grader.reporters import workflow_commands
from grader.results import SubmissionResult


def render(result: SubmissionResult) -> str:
    """The document: ``{"score", "max_score", "tests": [...]}`` (no workflow command forged by its strings)."""
    return workflow_commands.neutralise(json.dumps(result.as_dict(), indent=2) + "\n", "json")
