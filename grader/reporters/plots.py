"""The class report's figures (scores, pass rates, mistakes, training trajectories) as inline SVG text."""

from __future__ import annotations

import math
from collections import Counter

from grader.reporters import svg
from grader.textsafe import one_line

ACCENT, REFERENCE, OTHERS = "#2b6cb0", "#111111", "#9aa5b1"
GROUP_COLOURS = ("#d94841", "#e8a33d", "#7b4fb5", "#2e9e6b", "#c2569b")
TOLERANCE = 1e-4  # a trajectory whose relative distance stays below this matches the reference (the default rtol)
SHOWN_PARAMETERS = 3
WIDTH = 500  # of the class's figures, in pixels
ROW, SMALL = 20, 10  # a bar's row, and the font size of its name


def score_histogram(percentages: list[float]) -> str:
    """Students per tenth of the maximum score."""
    counts = [0] * 10
    for percent in percentages:
        counts[min(max(int(percent // 10), 0), 9)] += 1
    highest = max(max(counts), 1) * 1.05
    y_ticks = svg.ticks(0, highest, whole=True)
    left = 28 + max(svg.width_of(label, 12) for _, label in y_ticks)
    picture = svg.Picture(WIDTH, 280)
    axes = svg.Axes(picture, (left, 30, WIDTH - left - 12, 200), (0, 100), (0, highest))
    for tenth, count in enumerate(counts):
        if count:
            top = axes.y(count)
            picture.rect(axes.x(10 * tenth), top, axes.x(10) - axes.x(0), axes.y(0) - top, ACCENT, "white")
    axes.frame(svg.ticks(0, 100), y_ticks, "score (% of the maximum)", "students", "Score distribution")
    return picture.svg()


def pass_rates(rates: dict[str, float]) -> str:
    """Share of students passing every check of each function, in contract order."""
    values = [100 * rate for rate in rates.values()]
    return _bars(list(rates), values, [ACCENT if value >= 75 else GROUP_COLOURS[0] for value in values],
                 [f"{value:.0f}%" for value in values], 112, svg.ticks(0, 100),
                 "students passing all its checks (%)", "Pass rate per function")


def mistakes(counts: list[tuple[str, int]]) -> str:
    """Students per diagnosed mistake, most common first."""
    highest = max((count for _, count in counts), default=1) * 1.12
    return _bars([name for name, _ in counts], [count for _, count in counts], [GROUP_COLOURS[0]] * len(counts),
                 [str(count) for _, count in counts], highest, svg.ticks(0, highest, whole=True), "students",
                 "Mistakes by diagnosis")


def _bars(names: list[str], values: list[float], colours: list[str], shown: list[str], highest: float,
          x_ticks: list[tuple[float, str]], x_label: str, title: str) -> str:
    """One horizontal bar a name, top to bottom, each with its value written after it."""
    left = 12 + max((svg.width_of(one_line(name), SMALL) for name in names), default=0)
    picture = svg.Picture(max(WIDTH, left + 260), 76 + ROW * len(names))
    axes = svg.Axes(picture, (left, 30, picture.width - left - 12, ROW * len(names)), (0, highest), (len(names), 0))
    for row, (value, colour, text) in enumerate(zip(values, colours, shown)):
        picture.rect(axes.x(0), axes.y(row + 0.1), axes.x(value) - axes.x(0), 0.8 * ROW, colour)
        picture.text(axes.x(value) + 4, axes.y(row + 0.5), text, SMALL)
    axes.frame(x_ticks, [(row + 0.5, one_line(name)) for row, name in enumerate(names)], x_label, title=title,
               y_tick_size=SMALL)
    return picture.svg()


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
    x_axis = ([(step, label.split("=")[-1]) for step, label in enumerate(labels)], (-0.25, len(labels) - 0.75),
              labels[0].split("=")[0])  # the ticks, range and label of every panel's x axis
    picture = svg.Picture(0, 240)
    picture.text(8, 12, f"{function}: the reference (black) and the class", 13, bold=True)
    for index in range(parameters):
        lines = [[_at(values, index) for values in key] for key in shown]
        title = names[index] if index < len(names) else f"parameter {index + 1}"
        picture.width += _parameter(picture, title, lines, [_at(values, index) for values in expected], x_axis)
    legend = [(_colour(rank), False, _group_label(groups[key], mistakes)) for rank, key in enumerate(shown[:len(GROUP_COLOURS)])]
    matching = sum(len(students) for key, students in groups.items() if key not in shown)
    legend.append((REFERENCE, True, f"tolerance ({matching} students within it)"))
    _distance(picture, [_distances(key, expected, labels) for key in shown], legend, x_axis)
    return picture.svg()


def _parameter(picture: svg.Picture, title: str, lines: list[list[float]], reference: list[float], x_axis: tuple) -> float:
    """A panel of one parameter over the trainings, right of what the picture holds: each distinct trajectory
    (``lines``, most common first) under the reference's; the width it takes."""
    low, high = svg.limits(reference + [value for line in lines for value in line])
    y_ticks = svg.ticks(low, high, 4)
    margin = 16 + max((svg.width_of(label, 12) for _, label in y_ticks), default=0)
    x_ticks, x_range, x_label = x_axis
    axes = svg.Axes(picture, (picture.width + margin, 50, 150, 140), x_range, (low, high))
    axes.frame(x_ticks, y_ticks, x_label, title=title)
    for rank, line in reversed(list(enumerate(lines))):
        picture.line([(axes.x(step), axes.y(value)) for step, value in enumerate(line)], _colour(rank), 1, opacity=0.8)
    picture.line([(axes.x(step), axes.y(value)) for step, value in enumerate(reference)], REFERENCE, 2, dots=2.5)
    return margin + 150 + 16


def _distance(picture: svg.Picture, distances: list[list[float]], legend: list[tuple[str, bool, str]],
              x_axis: tuple) -> None:
    """The panel of each distinct trajectory's distance to the reference (log scale, the tolerance dashed), right
    of what the picture holds, and the legend (colour, dashed, label) beside it; the picture widened to hold them."""
    low, high = svg.log_limits([TOLERANCE] + [distance for row in distances for distance in row])
    y_ticks = svg.log_ticks(low, high)
    x_ticks, x_range, x_label = x_axis
    left = picture.width + 28 + max(svg.width_of(label, 12) for _, label in y_ticks)
    axes = svg.Axes(picture, (left, 50, 160, 140), x_range, (low, high), log_y=True)
    axes.frame(x_ticks, y_ticks, x_label, "relative L2 distance", "distance to the reference")
    picture.line([(left, axes.y(TOLERANCE)), (left + 160, axes.y(TOLERANCE))], REFERENCE, 2, dashed=True)
    for rank, row in reversed(list(enumerate(distances))):
        picture.line([(axes.x(step), axes.y(distance)) for step, distance in enumerate(row)], _colour(rank), 1.5, dots=2.5)
    left += 174
    for number, (colour, dashed, label) in enumerate(legend):
        y = 56 + 14 * number
        picture.line([(left, y), (left + 18, y)], colour, 2 if dashed else 1.5, dashed)
        if not dashed:
            picture.line([(left + 9, y)], colour, dots=2.5)
        picture.text(left + 24, y, label, 9)
    picture.width = left + 32 + max(svg.width_of(label, 9) for _, _, label in legend)


def _group_label(students: list[str], mistakes: dict[str, str]) -> str:
    named = Counter(mistakes[student] for student in students if student in mistakes).most_common(1)
    who = one_line(students[0]) if len(students) == 1 else f"{len(students)} students"
    return f"{who}: {named[0][0]}" if named else who


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
