"""The instructor's class report: one self-contained HTML file built from an ``autograde grade``
output folder (no network: figures are inline SVG, the little script and style are inline).

Everything that comes from students (ids, messages, captured output, feedback) is escaped, its
control characters made visible, and no line of the file forms a GitHub Actions workflow command.
"""

from __future__ import annotations

import json
import re
from html import escape as html_escape
from pathlib import Path

from grader import class_summary, gradebook, tamper
from grader.assignment import Assignment
from grader.reporters import graph_figure, plots
from grader.reporters.workflow_commands import neutralise
from grader.results import PASS, Flag
from grader.textsafe import visible

REPORT_FILE = "report.html"
FENCE_OPENING = re.compile("(`{3,})")  # a fenced code block of the feedback's Markdown opens ...
FENCE_CLOSING = re.compile(" {0,3}(`{3,})[ \t]*")  # ... and closes with a run at least as long (CommonMark)
BLOCK_LABELS = ("FAIL:", "ERROR:", "INTERNAL ERROR:", "call:", "got:", "expected:", "diagnosis:", "hint:", "note:",
                "your graph:", "reference graph:", "graph cut:")


def write(out: Path, assignment: Assignment, summary: class_summary.Summary | None = None) -> Path:
    """Build ``OUT/report.html`` from the records, run.json and feedback files in ``out``; pass the
    run's ``summary`` to keep what records lack (similar code), else it is computed from the records."""
    records = gradebook.load(out)
    try:
        run = json.loads((out / gradebook.RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        run = {}
    feedback = {}
    for student in records:
        path = gradebook.feedback_file(out, student)
        if path.exists():
            feedback[student] = path.read_text(encoding="utf-8")
    path = out / REPORT_FILE
    summary = summary or class_summary.summarise(records, assignment, [])
    path.write_text(render(records, summary, assignment, run, feedback), encoding="utf-8")
    return path


def render(records: dict[str, dict], summary: class_summary.Summary, assignment: Assignment, run: dict,
           feedback: dict[str, str]) -> str:
    """The report as one HTML document; ``feedback`` maps a student to their Markdown feedback."""
    listed = summary.as_dict()  # clusters and similar code, where this grader finds them
    students = sorted(records)
    anchors = {student: f"student-{index}" for index, student in enumerate(students)}
    drawn: dict[str, str] = {}  # the graph figures, by their graphs' JSON text
    body = [_overview(summary, records, run), _to_act_on(summary, anchors), _trajectories(records),
            _clusters(listed.get("clusters") or [], anchors), _similar_code(listed.get("similar_code") or [], anchors),
            _suspicious(summary.suspicious, anchors),
            _student_table(students, records, anchors),
            "<h2>Feedback per student</h2>",
            *(_student(records[student], anchors[student], feedback.get(student), drawn) for student in students)]
    title = f"autograde: {assignment.name}"
    document = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
                f"<style>{STYLE}</style></head><body><main><h1 id=\"top\">{escape(title)}</h1>"
                + "\n".join(part for part in body if part) + f"</main><script>{SORT_SCRIPT}</script></body></html>\n")
    return neutralise(document, "xml")  # character references: the page reads the same (style and script have no "::" line)


def _overview(summary: class_summary.Summary, records: dict[str, dict], run: dict) -> str:
    graded = [r for r in records.values() if not r.get("internal_error")]
    stats = summary.statistics()
    facts = [f"{summary.count} students", f"seed {escape(str(run.get('seed', '?')))}"]
    if stats["mean"] is not None:
        facts.append(f"score out of {summary.max_score:g}: mean {stats['mean']:.1f}, median {stats['median']:g}, "
                     f"min {stats['min']:g}, max {stats['max']:g}")
    if summary.errors:
        facts.append(f"{summary.errors} internal grader errors")
    distribution = [_figure(plots.score_histogram([100 * r["score"] / r["max_score"] if r["max_score"] else 0.0
                                                   for r in graded]))] if graded else []
    table = ""
    if summary.mistakes:
        distribution.append(_figure(plots.mistakes(summary.mistakes)))
        rows = "".join(f"<tr><td><code>{escape(name)}</code></td><td class=\"number\">{count}</td>"
                       f"<td>{escape(summary.meanings.get(name, ''))}</td></tr>" for name, count in summary.mistakes)
        table = f"<div class=\"card\"><h3>What to re-teach</h3>{_table(['mistake', 'students', 'meaning'], rows)}</div>"
    if summary.repairs:
        rows = "".join(f"<tr><td><code>{escape(function)}</code></td><td><code>{escape(edit)}</code></td>"
                       f"<td class=\"number\">{count}</td></tr>" for (function, edit), count in summary.repairs)
        table += (f"<div class=\"card\"><h3>One-edit repairs</h3><p>The single edit of a student's own function that "
                  f"makes every check of it pass, by how many students it repairs.</p>"
                  f"{_table(['function', 'edit', 'students'], rows)}</div>")
    rates = _figure(plots.pass_rates(summary.pass_rates)) if graded else ""
    return (f"<h2>The class</h2><p class=\"facts\">{' · '.join(facts)}</p><div class=\"grid\">"
            f"<div>{''.join(distribution)}</div>{rates}</div>{table}")


def _figure(svg: str) -> str:
    return f"<figure class=\"card\">{svg}</figure>"


def _drawn(draw, *args) -> str:
    """A figure of students' numbers, or a line saying it could not be drawn: numbers a student's code
    returned (huge, odd) must not cost the class its report."""
    try:
        return draw(*args)
    except Exception as error:  # noqa: BLE001 - contained to this figure, and said
        return f"<p>This figure could not be drawn ({escape(type(error).__name__)}: {escape(str(error)[:200])}).</p>"


def _trajectories(records: dict[str, dict]) -> str:
    functions: dict[str, dict[str, dict]] = {}
    mistakes: dict[str, dict[str, str]] = {}
    for student, record in sorted(records.items()):
        for function, run in (record.get("trajectories") or {}).items():
            functions.setdefault(function, {})[student] = run
            named = [t["mistake"] for t in record["tests"] if t["function"] == function and t["mistake"]]
            if named:
                mistakes.setdefault(function, {})[student] = named[0]
    if not functions:
        return ""
    figures = "".join(_figure(_drawn(plots.trajectory, function, runs, mistakes.get(function, {})))
                      for function, runs in functions.items())
    return ("<h2>Training trajectories</h2><p>Parameters after each graded training (the x axis is its length in "
            "epochs): the reference in black, each distinct wrong trajectory in colour, named by its students "
            f"and diagnosis. Distances under the dashed line match the reference.</p>{figures}")


def _clusters(clusters: list[dict], anchors: dict[str, str]) -> str:
    if not clusters:
        return ""
    rows = "".join(f"<tr><td>{escape(str(c.get('function', '')))}</td><td class=\"number\">{len(c.get('students', []))}"
                   f"</td><td>{_mistake(c.get('mistake'))}</td><td>{escape(str(c.get('description', '')))}</td>"
                   f"<td>{_links(c.get('students', []), anchors)}</td></tr>" for c in clusters)
    return "<h2>Identical wrong answers</h2>" + _table(["function", "students", "mistake", "what they return", "who"], rows)


def _similar_code(pairs: list[dict], anchors: dict[str, str]) -> str:
    if not pairs:
        return ""
    rows = "".join(f"<tr><td>{_links(p.get('students', []), anchors)}</td>"
                   f"<td class=\"number\">{100 * float(p.get('similarity', 0)):.0f}%</td>"
                   f"<td>{escape(', '.join(map(str, p.get('functions', []))))}</td></tr>" for p in pairs)
    return "<h2>Most similar code</h2>" + _table(["students", "similarity", "functions"], rows)


def _to_act_on(summary: class_summary.Summary, anchors: dict[str, str]) -> str:
    """What the instructor must act on before trusting the numbers: code that did not load, entries of the
    download that were not graded, and the grader's own failures."""
    parts = []
    if summary.could_not_load:
        rows = "".join(f"<tr><td>{_links([student], anchors)}</td><td>{'<br>'.join(escape(p) for p in problems)}</td></tr>"
                       for student, problems in summary.could_not_load.items())
        parts.append("<h3>Code that did not load</h3><p>The functions of these files lost their points: the "
                     "students should hear why.</p>" + _table(["student", "file and problem"], rows))
    if summary.unrecognised:
        items = "".join(f"<li>{escape(item)}</li>" for item in summary.unrecognised)
        parts.append(f"<h3>Not graded: not recognised in the download</h3><ul>{items}</ul>")
    if summary.internal_errors:
        rows = "".join(f"<tr><td>{_links([student], anchors)}</td><td>{escape(message[:500])}</td></tr>"
                       for student, message in summary.internal_errors.items())
        parts.append("<h3>Internal grader errors (not the students' fault; please report them)</h3>"
                     + _table(["student", "error"], rows))
    return "<h2>To act on</h2>" + "".join(parts) if parts else ""


def _suspicious(suspicious: dict[str, list[Flag]], anchors: dict[str, str]) -> str:
    """The students whose code reaches into the grading machinery, each finding with its place (the tamper scan)."""
    if not suspicious:
        return ""
    rows = "".join(f"<tr><td>{_links([student], anchors)}</td><td>{'<br>'.join(map(_finding, flags))}</td></tr>"
                   for student, flags in suspicious.items())
    return ("<h2>Suspicious code</h2><p>Code that reaches into the grader, torch's internals, the process or the "
            "network, found by reading it (the tamper scan, see SECURITY.md). Forging a result in the student's own "
            "process needs such code: read it before trusting the checks measured there (<code>inputs-unchanged</code>, "
            "<code>differentiable</code>, <code>leaf-parameters</code>, <code>no-autograd</code>, the attributes of "
            "<code>returns</code> checks).</p>"
            + _table(["student", "findings"], rows))


def _finding(flag: Flag) -> str:
    meaning = tamper.CATEGORIES.get(flag.category, "")
    return (f"<code>{escape(flag.where)}</code> <span class=\"tag\" title=\"{escape(meaning)}\">{escape(flag.category)}</span> "
            f"{escape(flag.text)}")


def _flags(record: dict) -> str:
    """A student's own findings, above their feedback."""
    flags = [Flag.from_dict(flag) for flag in record.get("flags") or [] if isinstance(flag, dict)]
    if not flags:
        return ""
    return f"<p class=\"flags\"><strong>Suspicious code:</strong><br>{'<br>'.join(map(_finding, flags))}</p>"


def _table(headers: list[str], rows: str) -> str:
    """A plain table: the header cells, then the rows (already HTML)."""
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _student_table(students: list[str], records: dict[str, dict], anchors: dict[str, str]) -> str:
    rows = []
    for student in students:
        record = records[student]
        failed = [t for t in record["tests"] if t["status"] != PASS]
        percent = 100 * record["score"] / record["max_score"] if record["max_score"] else 0.0
        mistakes = sorted({t["mistake"] for t in failed if t["mistake"]})
        status = "internal error" if record.get("internal_error") else f"{len(failed)}"
        rows.append(f"<tr><td data-value=\"{escape(student)}\"><a href=\"#{anchors[student]}\">{escape(student)}</a></td>"
                    f"<td class=\"number\" data-value=\"{record['score']}\">{record['score']:g} / {record['max_score']:g}</td>"
                    f"<td class=\"number\" data-value=\"{percent}\">{percent:.0f}%</td>"
                    f"<td class=\"number\" data-value=\"{len(failed)}\">{status}</td>"
                    f"<td>{' '.join(_mistake(m) for m in mistakes)}</td></tr>")
    return ("<h2>Students</h2><p class=\"hint\">Click a column title to sort; click a student for their feedback.</p>"
            "<table class=\"sortable\"><thead><tr><th data-type=\"text\">student</th><th data-type=\"number\">score</th>"
            "<th data-type=\"number\">%</th><th data-type=\"number\">failed checks</th><th data-type=\"text\">mistakes</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _student(record: dict, anchor: str, feedback: str | None, drawn: dict[str, str]) -> str:
    percent = 100 * record["score"] / record["max_score"] if record["max_score"] else 0.0
    figures = {t["name"]: _graph_figure(t["graphs"], drawn) for t in record["tests"] if t.get("graphs") and t["status"] != PASS}
    body = _markdown(feedback, figures) if feedback is not None else _checks(record, figures)
    return (f"<section class=\"student card\" id=\"{anchor}\"><h3>{escape(record['id'])} "
            f"<span class=\"score\">{record['score']:g} / {record['max_score']:g} ({percent:.0f}%)</span></h3>"
            f"{_flags(record)}{body}<p><a href=\"#top\">back to the top</a></p></section>")


def _graph_figure(graphs: dict, drawn: dict[str, str]) -> str:
    """A failing check's graphs as a figure, drawn once a report for all the students who built the same ones
    (``drawn`` holds the figures drawn so far, by their graphs' JSON text)."""
    key = json.dumps(graphs, sort_keys=True)
    if key not in drawn:
        drawn[key] = _figure(graph_figure.figure(graphs))
    return drawn[key]


def _checks(record: dict, figures: dict[str, str]) -> str:
    """The failing checks from a record alone, for an output folder without feedback files; ``figures``
    maps a check's name to its picture."""
    failed = [t for t in record["tests"] if t["status"] != PASS]
    if record.get("internal_error"):
        return f"<pre class=\"block\">INTERNAL ERROR in the grader: {escape(record['internal_error'])}</pre>"
    if not failed:
        return "<p>Every check passes.</p>"
    return "".join(f"<h5>{escape(t['name'])}</h5>" + _block([f"{t['status'].upper()}: {t['message']}"]
                                                             + ([f"diagnosis: {t['mistake']}"] if t["mistake"] else []))
                   + figures.get(t["name"], "") for t in failed)


def _markdown(text: str, figures: dict[str, str]) -> str:
    """The student's feedback file (the terminal reporter's Markdown) as HTML: its heading dropped
    (the section has one), the table of checks folded away, text blocks kept as the student reads them,
    each check's picture (``figures``, by check name) after its block."""
    html, block, table, figure, fence = [], None, [], "", ""
    for line in text.split("\n"):  # Markdown's line ends only, as the file was written
        if block is not None:
            closing = FENCE_CLOSING.fullmatch(line)
            if closing and len(closing.group(1)) >= len(fence):
                html += [_block(block), figure]
                block, figure = None, ""
            else:
                block.append(line)
            continue
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            html.append(f"<details><summary>every check</summary><pre>{escape(chr(10).join(table))}</pre></details>")
            table = []
        opening = FENCE_OPENING.match(line)
        if opening:
            block, fence = [], opening.group(1)
        elif line.startswith("### "):
            html.append(f"<h5>{escape(line[4:])}</h5>")
            figure = next((shown for name, shown in figures.items()
                           if line[4:] == name or line[4:].startswith(f"{name} (")), "")
        elif line.startswith("## "):
            html.append(f"<h4>{escape(line[3:])}</h4>")
        elif line.startswith("- "):
            html.append(f"<p class=\"item\">{escape(line[2:])}</p>")
        elif line.strip() and not line.startswith("# "):
            html.append(f"<p>{escape(line)}</p>")
    return "".join(html)


def _block(lines: list[str]) -> str:
    """A got/expected/diagnosis block, its labels highlighted."""
    shown = []
    for line in lines:
        label = next((label for label in BLOCK_LABELS if line.startswith(label)), None)
        shown.append(f"<span class=\"label {label[:-1].lower()}\">{escape(label)}</span>{escape(line[len(label):])}"
                     if label else escape(line))
    return f"<pre class=\"block\">{chr(10).join(shown)}</pre>"


def escape(text: str) -> str:
    """Text as HTML: its control characters made visible, then ``&``, ``<``, ``>`` and quotes escaped."""
    return html_escape(visible(text))


def _mistake(mistake: str | None) -> str:
    return f"<span class=\"tag\">{escape(mistake)}</span>" if mistake else ""


def _links(students: list, anchors: dict[str, str]) -> str:
    return ", ".join(f"<a href=\"#{anchors[s]}\">{escape(s)}</a>" if s in anchors else escape(str(s)) for s in students)


STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --accent: #2b6cb0; --bad: #c53030; --good: #2f855a; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f7fa; color: var(--ink); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { margin: 0 0 4px; font-size: 26px; } h2 { margin: 34px 0 12px; font-size: 20px; border-bottom: 2px solid var(--line); }
h3 { margin: 0 0 8px; font-size: 17px; } h4 { margin: 16px 0 6px; } h5 { margin: 14px 0 4px; font-size: 14px; }
.facts, .hint { color: var(--muted); margin: 4px 0 12px; }
.grid { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; } .grid > * { flex: 1 1 420px; min-width: 0; }
.card { background: white; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin: 0 0 14px; }
figure.card { margin: 0 0 14px; overflow-x: auto; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; background: white; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef2f7; } .sortable th { cursor: pointer; user-select: none; } .sortable th:hover { color: var(--accent); }
th.ascending::after { content: " ▲"; } th.descending::after { content: " ▼"; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
td code { white-space: nowrap; }
.tag { display: inline-block; background: #fdecea; color: var(--bad); border-radius: 10px; padding: 0 8px; margin: 1px 2px;
       font: 12px ui-monospace, "DejaVu Sans Mono", monospace; }
.score { color: var(--muted); font-weight: normal; font-size: 15px; margin-left: 8px; }
pre { font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; overflow-x: auto; margin: 4px 0 10px; }
pre.block { background: #1f2933; color: #e4e7eb; padding: 10px 12px; border-radius: 6px; white-space: pre-wrap; }
.label { font-weight: bold; } .label.fail, .label.error { color: #ff8a80; } .label.got { color: #ffd180; }
.label.expected { color: #b9f6ca; } .label.diagnosis { color: #82b1ff; } .label.hint { color: #e1bee7; }
details summary { cursor: pointer; color: var(--muted); } p.item { margin: 2px 0 2px 14px; }
section.student:target { outline: 3px solid var(--accent); }
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (header, column) {
  header.addEventListener("click", function () {
    var table = header.closest("table"), body = table.tBodies[0];
    var ascending = !header.classList.contains("ascending");
    table.querySelectorAll("th").forEach(function (other) { other.classList.remove("ascending", "descending"); });
    header.classList.add(ascending ? "ascending" : "descending");
    var numeric = header.dataset.type === "number";
    var key = function (row) { var cell = row.cells[column]; var value = cell.dataset.value || cell.textContent;
                               return numeric ? parseFloat(value) : value.toLowerCase(); };
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""
