"""The student's report as HTML for a notebook's output: per function its checks, and each failure's call,
got, expected, diagnosis and hint; a failing autograd check's graphs as a picture where they can be drawn.

Every text that the student's code or files decided (messages, printed output, locations) is escaped.
"""

from __future__ import annotations

import html

from grader.reporters import graph_figure
from grader.results import INTERNAL, INTERNAL_NOTE, PASS, SubmissionResult, TestResult
from grader.textsafe import visible

COLOURS = {"pass": "#1b7f3b", "fail": "#b42318", "error": "#b42318", "internal": "#8a4b00"}
MARKS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "internal": "INTERNAL ERROR"}
OUTPUT_LINES = 15
_PRE = "margin:4px 0 8px 0;padding:6px;background:rgba(127,127,127,0.08);white-space:pre-wrap"


def _text(value: str) -> str:
    return html.escape(visible(str(value)))


def _badge(status: str) -> str:
    return f'<b style="color:{COLOURS.get(status, "inherit")}">{MARKS.get(status, _text(status))}</b>'


def render(result: SubmissionResult, pictures: dict[int, str] | None = None) -> str:
    """The report as one ``<div>``; ``pictures`` (from ``draw_graphs``) are shown under their checks."""
    percent = 100 * result.score / result.max_score if result.max_score else 0.0
    status = "pass" if result.passed and result.tests else "fail"
    head = (f"<p>{_badge(status)} <b>autograde</b>: {result.score:g} / {result.max_score:g} points ({percent:.1f}%)"
            f" &middot; random inputs seed {result.seed}" + (f" &middot; course {_text(result.course)}" if result.course else "")
            + "</p>")
    parts = ['<div class="autograde-result">', head]
    if result.internal_error:
        parts.append(f"<p><b>{_text(INTERNAL_NOTE)}</b></p><pre style=\"{_PRE}\">{_text(result.internal_error)}</pre>")
    parts += [f"<p>warning: {_text(warning)}</p>" for warning in result.warnings]
    functions: dict[str, list[tuple[TestResult, str]]] = {}
    for index, test in enumerate(result.tests):
        functions.setdefault(test.function, []).append((test, (pictures or {}).get(index, "")))
    parts += [_function(name, tests) for name, tests in functions.items()]
    parts.append("</div>")
    return "\n".join(parts)


def _function(name: str, shown: list[tuple[TestResult, str]]) -> str:
    tests = [test for test, _ in shown]
    earned, available = sum(t.score for t in tests), sum(t.max_score for t in tests)
    passed = all(test.status == PASS for test in tests)
    where = next((test.location for test in tests if test.location), "")
    title = (f"<h4 style=\"margin:10px 0 4px 0\">{_badge('pass' if passed else 'fail')} <code>{_text(name)}</code> "
             f"{earned:g} / {available:g} points" + (f" <small>({_text(where)})</small>" if where else "") + "</h4>")
    rows = "".join(f"<tr><td style=\"text-align:left\">{_text(test.name.split(': ', 1)[-1])}</td>"
                   f"<td>{test.score:g}/{test.max_score:g}</td><td>{_badge(test.status)}</td></tr>" for test in tests)
    table = f'<table><tr><th style="text-align:left">check</th><th>points</th><th>status</th></tr>{rows}</table>'
    return "\n".join([title, table, *(_failure(test) + (f"<div>{picture}</div>" if picture else "")
                                        for test, picture in shown if test.status != PASS)])


def _failure(test: TestResult) -> str:
    """What went wrong: the message, call, got, expected, diagnosis and hint, and the captured output."""
    first, *rest = test.explanation
    mark = INTERNAL_NOTE if test.status == INTERNAL else MARKS.get(test.status, test.status)
    lines = [f"{mark}: {first}", *rest]
    if test.output.strip():
        shown = test.output.rstrip().splitlines()
        lines += ["captured output:", *("  " + line for line in shown[:OUTPUT_LINES])]
        if len(shown) > OUTPUT_LINES:
            lines.append(f"  ... ({len(shown) - OUTPUT_LINES} more lines)")
    return f"<p style=\"margin:6px 0 0 0\">{_text(test.name)}</p><pre style=\"{_PRE}\">{_text(chr(10).join(lines))}</pre>"


def draw_graphs(result: SubmissionResult) -> dict[int, str]:
    """The autograd graphs of each failing check that has them, by the check's index, as ``<svg>`` pictures.
    What cannot be drawn is left out (the text says it all)."""
    pictures = {}
    for index, test in enumerate(result.tests):
        if test.graphs and test.status != PASS:
            try:
                pictures[index] = graph_figure.figure(test.graphs)
            except Exception:  # noqa: BLE001 - the check's text says what the picture would
                continue
    return pictures
