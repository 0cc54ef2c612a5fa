"""The instructor's class picture on the terminal: distribution, pass rates, common mistakes."""

from __future__ import annotations

from tabulate import tabulate

from grader import diagnosis
from grader.gradebook import Summary

BAR_WIDTH = 30


def render(summary: Summary) -> str:
    """The class summary as text."""
    lines = [f"{summary.count} students graded"]
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
        rows = [[mistake, count, diagnosis.MISTAKES[mistake][0]] for mistake, count in summary.mistakes]
        lines += ["", "Most common mistakes (what to re-teach):", tabulate(rows, headers=["mistake", "students", "meaning"])]
    if summary.errors:
        lines.append(f"\n{summary.errors} submissions hit an INTERNAL grader error: see results.json")
    if summary.unrecognised:
        lines += ["", "Not graded (not recognised):"] + [f"  {item}" for item in summary.unrecognised]
    return "\n".join(lines) + "\n"
