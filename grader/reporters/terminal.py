"""The student's view: a table of checks, each failure in detail, one line per function not yet written, the total.

What the student's code or files decided (file names, messages, printed output) is shown as text:
control characters escaped, one-line fields kept on one line, each failure in a Markdown fence it
cannot close, and no line a GitHub Actions runner would take for a workflow command.
"""

from __future__ import annotations

from tabulate import tabulate

from grader.reporters import workflow_commands
from grader.results import INTERNAL, INTERNAL_NOTE, NOT_IMPLEMENTED, PASS, SubmissionResult, TestResult
from grader.textsafe import fence, one_line, visible

STATUS_MARK = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "internal": "INTERNAL ERROR"}
OUTPUT_LINES = 15


def render(result: SubmissionResult, markdown: bool = False) -> str:
    """The full report as text (or Markdown, for feedback files)."""
    submission = one_line(result.submission)
    lines = [f"# autograde: {submission}" if markdown else f"autograde check {submission}",
             f"random inputs seed: {result.seed} (rerun with --seed {result.seed} to get the same inputs)"]
    lines += [f"course: {result.course}", ""] if result.course else [""]
    if result.internal_error:
        lines += [f"{INTERNAL_NOTE}:", *_block([result.internal_error], markdown), ""]
    if result.load_problems:
        lines += [f"error: {one_line(problem)}" for problem in result.load_problems]
        lines += ["(what a file defines after a syntax error, or uses of what failed to load, cannot run: fix these first)", ""]
    lines += [f"warning: {one_line(warning)}" for warning in result.warnings if warning not in result.load_problems]
    rows = [[test.function, test.name.split(": ", 1)[-1], f"{test.score:g}/{test.max_score:g}", STATUS_MARK[test.status]]
            for test in result.tests]
    lines += [tabulate(rows, headers=["function", "check", "points", "status"], tablefmt="github" if markdown else "simple"), ""]
    failures = [test for test in result.tests if test.status != PASS and not test.not_implemented and not test.not_found]
    if failures:
        lines.append(_heading("Failures", markdown))
        for test in failures:
            lines += _failure(test, markdown)
    unfinished: dict[str, TestResult] = {}
    for test in result.tests:
        if test.not_implemented:
            unfinished.setdefault(test.function, test)
    if unfinished:
        lines.append(_heading("Not implemented yet", markdown))
        lines += [_unfinished(test, markdown) for test in unfinished.values()]
    missing: dict[str, list[str]] = {}
    for test in result.tests:
        if test.not_found and test.function not in missing.get(_module_of(test), []):
            missing.setdefault(_module_of(test), []).append(test.function)
    if missing:
        lines.append(_heading("Not found", markdown))
        bullet = "- " if markdown else ""
        lines += [f"{bullet}not in {one_line(module)}{_unloaded(module, result)}: {', '.join(names)}"
                  for module, names in missing.items()]
    if failures:
        lines += [""] if unfinished else []
        lines.append(_heading("Short summary", markdown))
        bullet = "- " if markdown else ""
        lines += [f"{bullet}{STATUS_MARK[t.status]} {t.name}" + (f" [{t.mistake}]" if t.mistake else "") for t in failures]
    if result.internal_error and not result.tests:
        lines += ["", "Total: not graded (an internal grader error stopped it)"]
    else:
        percent = 100 * result.score / result.max_score if result.max_score else 0.0
        lines += ["", f"Total: {result.score:g} / {result.max_score:g} points ({percent:.1f}%)"]
    return workflow_commands.neutralise(visible("\n".join(lines) + "\n"))


def _unloaded(module: str, result: SubmissionResult) -> str:
    """`` (it did not load: see the error above)`` when the file is one whose problem the report leads with."""
    return " (it did not load: see the error above)" if any(module in problem for problem in result.load_problems) else ""


def _module_of(test: TestResult) -> str:
    """The file a function that was not found belongs in (its message names it)."""
    named = test.message.rsplit("(in ", 1)
    return named[1].split(")", 1)[0] if len(named) == 2 else "the submission"


def _heading(title: str, markdown: bool) -> str:
    if markdown:
        return f"## {title}"
    padding = max(0, 70 - len(title) - 2)
    return f"{'=' * (padding // 2)} {title.upper()} {'=' * (padding - padding // 2)}"


def _unfinished(test: TestResult, markdown: bool) -> str:
    """One line for a function that is still the stub: where it is, and the stub's hint."""
    where = f" ({one_line(test.location)})" if test.location else ""
    line = f"{test.function}{where}: {one_line(test.message[test.message.index(NOT_IMPLEMENTED):])}"
    return f"- {line}" if markdown else line


def _failure(test: TestResult, markdown: bool) -> list[str]:
    """A failing check: its title, then what went wrong (in Markdown, as a code block)."""
    where = f" ({one_line(test.location)})" if test.location else ""
    title = f"### {test.name}{where}" if markdown else f"___ {test.name}{where} ___"
    first, *rest = test.explanation
    mark = INTERNAL_NOTE if test.status == INTERNAL else STATUS_MARK[test.status]
    body = [f"{mark}: {first}", *rest]
    if test.output.strip():
        shown = test.output.rstrip().splitlines()
        body += ["captured output:"] + ["  " + line for line in shown[:OUTPUT_LINES]]
        if len(shown) > OUTPUT_LINES:
            body.append(f"  ... ({len(shown) - OUTPUT_LINES} more lines)")
    return [title, *([""] if markdown else []), *_block(body, markdown), ""]


def _block(body: list[str], markdown: bool) -> list[str]:
    """Lines that may hold the student's text: in Markdown, a code block whose fence they cannot close."""
    if not markdown:
        return body
    marks = fence("\n".join(body))
    return [f"{marks}text", *body, marks]
