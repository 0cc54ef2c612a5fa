"""The instructor's class picture on the terminal: distribution, pass rates, common mistakes, clusters
of identical wrong answers, similar code, internal errors.

Student ids and file names are shown on one line each, control characters escaped, and no line is
one a GitHub Actions runner would take for a workflow command.
"""

from __future__ import annotations

from tabulate import tabulate

from grader.class_summary import Summary
from grader.reporters import workflow_commands
from grader.textsafe import one_line, visible

BAR_WIDTH = 30
TOP = 5  # clusters and similar pairs shown; --format json has them all
NAMES_SHOWN = 8
FLAGS_SHOWN = 5  # findings shown per student; --format json has them all
MESSAGE_WIDTH = 160


REPAIRS_SHOWN = 15


def render(summary: Summary) -> str:
    """The class summary as text."""
    lines = [f"{summary.count} students graded"]
    if summary.could_not_load:
        count = len(summary.could_not_load)
        whose = "1 student's" if count == 1 else f"{count} students'"
        lines += ["", f"{whose} code did not load (each such file's functions lose their points; tell them):"]
        lines += [f"  {one_line(student)}: {_shorten(problem)}" for student, problems in summary.could_not_load.items()
                  for problem in problems[:FLAGS_SHOWN]]
        lines.append("")
    stats = summary.statistics()
    if stats["mean"] is not None:
        lines.append(f"score out of {summary.max_score:g}: mean {stats['mean']:.2f}, median {stats['median']:g}, "
                     f"min {stats['min']:g}, max {stats['max']:g}")
        histogram = summary.histogram()
        peak = max(histogram) or 1
        for index, count in enumerate(histogram):
            low, high = 10 * index, 10 * (index + 1)
            lines.append(f"  {low:3d}-{high:3d}% | {'#' * round(BAR_WIDTH * count / peak):<{BAR_WIDTH}} {count}")
    lines += ["", tabulate([[name, f"{100 * rate:.0f}%"] for name, rate in summary.pass_rates.items()],
                           headers=["function", "students passing all checks"])]
    if summary.mistakes:
        rows = [[mistake, count, summary.meanings.get(mistake, '')] for mistake, count in summary.mistakes]
        lines += ["", "Most common mistakes (what to re-teach):", tabulate(rows, headers=["mistake", "students", "meaning"])]
    if summary.repairs:
        rows = [[function, one_line(edit), count] for (function, edit), count in summary.repairs[:REPAIRS_SHOWN]]
        lines += ["", "One-edit repairs (the single edit that makes every check of the function pass):",
                  tabulate(rows, headers=["function", "edit", "students"])]
    lines += _clusters(summary) + _similar_code(summary)
    if not summary.clusters and not summary.similar_code and stats["mean"] is not None:
        lines += ["", "No two students gave the same wrong result, and no two wrote similar code."]
    lines += _suspicious(summary)
    if summary.not_compared:
        lines += ["", "Code left out of the similarity comparison (it could not be read as code):"]
        lines += [f"  {one_line(student)}: {_shorten(reason)}" for student, reason in summary.not_compared.items()]
    if summary.internal_errors:
        lines += ["", f"{summary.errors} submissions hit an INTERNAL grader error (not the students' fault):"]
        lines += [f"  {one_line(student)}: {_shorten(message)}" for student, message in summary.internal_errors.items()]
    if summary.unrecognised:
        lines += ["", "Not graded (not recognised):"] + [f"  {one_line(item)}" for item in summary.unrecognised]
    return workflow_commands.neutralise(visible("\n".join(lines) + "\n"))


def _clusters(summary: Summary) -> list[str]:
    """The largest groups of students with the same wrong result: each explained once."""
    if not summary.clusters:
        return []
    lines = ["", "Same wrong answer (explain it once):"]
    for cluster in summary.clusters[:TOP]:
        named = f" ({cluster.mistake})" if cluster.mistake else ""
        lines += [f"  {len(cluster.students)} students return exactly the same wrong {cluster.function}{named}: "
                  f"{_shorten(cluster.description)}", f"    {_names(cluster.students)}"]
    return lines + _more(summary.clusters)


def _similar_code(summary: Summary) -> list[str]:
    """The most similar pairs of submissions, starter and reference code not counted."""
    if not summary.similar_code:
        return []
    lines = ["", "Most similar code (starter and reference code not counted):"]
    lines += [f"  {' and '.join(map(one_line, pair.students))}: {100 * pair.similarity:.0f}% alike; same code in {', '.join(pair.functions)}"
              for pair in summary.similar_code[:TOP]]
    return lines + _more(summary.similar_code)


def _suspicious(summary: Summary) -> list[str]:
    """The students whose code reaches into the grading machinery (the tamper scan): each finding's place
    and category, for the instructor to read."""
    if not summary.suspicious:
        return []
    lines = ["", "Suspicious code (reaches into the grader, torch's internals or the process: read it):"]
    for student, flags in summary.suspicious.items():
        lines.append(f"  {one_line(student)}: {len(flags)} finding{'s' if len(flags) != 1 else ''}")
        lines += [f"    {one_line(flag.where)} {one_line(flag.category)}: {_shorten(flag.text)}" for flag in flags[:FLAGS_SHOWN]]
        lines += [f"    ... and {len(flags) - FLAGS_SHOWN} more in summary.json"] if len(flags) > FLAGS_SHOWN else []
    return lines


def _more(items: list) -> list[str]:
    return [f"  ... and {len(items) - TOP} more in --format json"] if len(items) > TOP else []


def _names(students: list[str]) -> str:
    shown = ", ".join(map(one_line, students[:NAMES_SHOWN]))
    return shown + (f" and {len(students) - NAMES_SHOWN} more" if len(students) > NAMES_SHOWN else "")


def _shorten(message: str) -> str:
    """One line: the message's first line and, for a traceback, its last (the exception)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()] or [""]
    line = one_line(lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}")
    return line if len(line) <= MESSAGE_WIDTH else line[:MESSAGE_WIDTH - 3] + "..."
