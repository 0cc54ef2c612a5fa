"""The class report's figures, drawn with matplotlib (Agg) and returned as inline SVG text."""

from __future__ import annotations

import io
import math
from collections import Counter

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from grader.textsafe import one_line  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
                     "axes.titlesize": 10, "axes.titleweight": "bold",
                     "font.sans-serif": ["DejaVu Sans", "Arial"]})  # short: every SVG text element repeats it
ACCENT, REFERENCE, OTHERS = "#2b6cb0", "#111111", "#9aa5b1"
GROUP_COLOURS = ("#d94841", "#e8a33d", "#7b4fb5", "#2e9e6b", "#c2569b")
TOLERANCE = 1e-4  # a trajectory whose relative distance stays below this matches the reference (the default rtol)
SHOWN_PARAMETERS = 3


def svg(figure) -> str:
    """The figure as an ``<svg>`` element (no XML prologue), ready to inline in HTML."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def score_histogram(percentages: list[float]) -> str:
    """Students per tenth of the maximum score."""
    figure, axes = plt.subplots(figsize=(5.2, 2.8))
    axes.hist([min(p, 99.999) for p in percentages], bins=range(0, 101, 10), color=ACCENT, edgecolor="white")
    axes.set(xlabel="score (% of the maximum)", ylabel="students", xlim=(0, 100), title="Score distribution")
    axes.yaxis.get_major_locator().set_params(integer=True)
    return svg(figure)


def pass_rates(rates: dict[str, float]) -> str:
    """Share of students passing every check of each function, in contract order."""
    names = list(rates)
    figure, axes = plt.subplots(figsize=(5.2, 0.6 + 0.22 * len(names)))
    values = [100 * rates[name] for name in names]
    axes.barh(names, values, color=[ACCENT if v >= 75 else GROUP_COLOURS[0] for v in values])
    for row, value in enumerate(values):
        axes.text(value + 1.5, row, f"{value:.0f}%", va="center", fontsize=8)
    axes.invert_yaxis()
    axes.set(xlim=(0, 112), xticks=range(0, 101, 20), xlabel="students passing all its checks (%)", title="Pass rate per function")
    axes.tick_params(axis="y", labelsize=8)
    return svg(figure)


def mistakes(counts: list[tuple[str, int]]) -> str:
    """Students per diagnosed mistake, most common first."""
    figure, axes = plt.subplots(figsize=(5.2, 0.6 + 0.26 * len(counts)))
    axes.barh([name for name, _ in counts], [count for _, count in counts], color=GROUP_COLOURS[0])
    axes.invert_yaxis()
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set(xlabel="students", title="Mistakes by diagnosis")
    axes.tick_params(axis="y", labelsize=8)
    return svg(figure)


def trajectory(function: str, runs: dict[str, dict], mistakes: dict[str, str]) -> str:
    """The reference's parameters over the graded trainings beside every student's, and each
    student's relative distance to the reference; identical trajectories are drawn once, named by
    their students (or how many) and diagnosis (``mistakes``: student to mistake)."""
    first = next(iter(runs.values()))
    labels, expected = first["labels"], first["expected"]
    names = first.get("parameters") or []
    groups: dict[tuple, list[str]] = {}
    for student, run in runs.items():
        groups.setdefault(_key(run["got"]), []).append(student)
    ranked = sorted(groups, key=lambda key: -len(groups[key]))
    shown = [key for key in ranked if not _matches(_distances(key, expected, labels))]
    parameters = min(SHOWN_PARAMETERS, min((len(values) for values in expected), default=0))
    figure, axes = plt.subplots(1, parameters + 1, figsize=(2.6 * (parameters + 1), 2.6), squeeze=False)
    axes = axes[0]
    steps = range(len(labels))
    ticks = [label.split("=")[-1] for label in labels]
    for index, panel in enumerate(axes[:parameters]):
        for rank, key in enumerate(shown):
            panel.plot(steps, [_at(values, index) for values in key], color=_colour(rank), lw=1, alpha=0.8)
        panel.plot(steps, [values[index] for values in expected], color=REFERENCE, lw=2, marker="o", ms=3)
        title = names[index] if index < len(names) else f"parameter {index + 1}"
        panel.set(title=title, xticks=steps, xticklabels=ticks, xlabel=labels[0].split("=")[0])
        panel.ticklabel_format(axis="y", useOffset=False)
    distance = axes[-1]
    for rank, key in enumerate(shown):
        label = _group_label(groups[key], mistakes) if rank < len(GROUP_COLOURS) else None
        distance.plot(steps, _distances(key, expected, labels), color=_colour(rank), lw=1.5, marker="o", ms=3, label=label)
    matching = sum(len(students) for key, students in groups.items() if key not in shown)
    distance.axhline(TOLERANCE, color=REFERENCE, lw=2, ls="--", label=f"tolerance ({matching} students within it)")
    distance.set(yscale="log", title="distance to the reference", xticks=steps, xticklabels=ticks,
                 xlabel=labels[0].split("=")[0], ylabel="relative L2 distance")
    distance.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.suptitle(f"{function}: the reference (black) and the class", fontsize=10, fontweight="bold", x=0.02,
                    ha="left")
    figure.tight_layout()
    return svg(figure)


def _group_label(students: list[str], mistakes: dict[str, str]) -> str:
    named = Counter(mistakes[student] for student in students if student in mistakes).most_common(1)
    who = one_line(students[0]) if len(students) == 1 else f"{len(students)} students"
    label = f"{who}: {named[0][0]}" if named else who
    return label.replace("$", r"\$")  # a "$" in a student id is text, not mathematics


def _key(runs: list[list[float | None]]) -> tuple:
    return tuple(tuple(values) for values in runs)


def _colour(rank: int) -> str:
    return GROUP_COLOURS[rank] if rank < len(GROUP_COLOURS) else OTHERS


def _at(values: tuple, index: int) -> float:
    return values[index] if index < len(values) and values[index] is not None else math.nan


def _matches(distances: list[float]) -> bool:
    return all(distance < TOLERANCE for distance in distances)  # False for NaN: nothing comparable was returned


def _distances(got: tuple, expected: list[list[float | None]], labels: list[str]) -> list[float]:
    """Relative L2 distance per graded training, floored for the log scale (NaN where the student
    returned nothing comparable)."""
    distances = []
    for step in range(len(labels)):
        mine = got[step] if step < len(got) else ()
        theirs = expected[step]
        if len(mine) != len(theirs) or None in mine or None in theirs:
            distances.append(math.nan)
            continue
        gap = math.dist(mine, theirs) / max(math.hypot(*theirs), 1e-12)
        distances.append(max(gap, TOLERANCE / 100))
    return distances
