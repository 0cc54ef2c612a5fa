"""The class report's figures, written as SVG text without a drawing library: identical trajectories drawn
once, numbers a student's code returned never breaking a picture, round ticks, student text escaped, and
nothing heavy imported to draw them."""

from __future__ import annotations

import re
import subprocess
import sys

from grader.reporters import graph_figure, plots, svg
from tests.conftest import ROOT

LABELS = ["max_epochs=1", "max_epochs=2", "max_epochs=3", "max_epochs=12"]
EXPECTED = [[1.0 + 0.01 * epoch, 1.0 - 0.02 * epoch, -0.01 * epoch] for epoch in (1, 2, 3, 12)]


def _runs(trajectories: list[list[list[float | None]]], students: int) -> dict[str, dict]:
    """``students`` runs, student i's parameters the i-th trajectory, cycling."""
    return {f"s{index:03d}": {"labels": LABELS, "parameters": ["W[0]", "W[1]", "b[0]"], "expected": EXPECTED,
                              "got": trajectories[index % len(trajectories)]} for index in range(students)}


def test_identical_trajectories_are_drawn_once():
    drifted = [[[value * (1 + drift * epoch) for value in values] for epoch, values in enumerate(EXPECTED, 1)]
               for drift in (1e-3, 1e-2)]
    picture = plots.trajectory("learn", _runs([EXPECTED, *drifted], 200), {})
    for colour in plots.GROUP_COLOURS[:2]:  # a line in each parameter's panel, the distance panel and the legend
        assert len(re.findall(f'<polyline [^>]*stroke="{colour}"', picture)) == 3 + 1 + 1
    assert plots.GROUP_COLOURS[2] not in picture and plots.OTHERS not in picture
    assert ">67 students<" in picture and ">66 students<" in picture and "tolerance (67 students within it)" in picture


def test_numbers_a_student_returned_never_break_a_figure():
    odd = [[None, float("nan"), 1.0], [float("inf"), -1e308, 2.0], [1e308, 0.0, -float("inf")], [3.0, 4.0, 5.0]]
    picture = plots.trajectory("learn", _runs([EXPECTED, odd, [[1.0]] * 4, []], 8), {})
    assert picture.startswith("<svg") and ">2 students<" in picture
    assert not [value for value in re.findall(r'="([^"]*)"', picture) if re.search("nan|inf", value, re.IGNORECASE)]
    histogram = plots.score_histogram([0.0, 100.0, 55.5])
    assert len(re.findall(r"<rect ", histogram)) == 3  # the bins of 0-10, 50-60 and 90-100 (the maximum counts there)


def test_ticks_are_round_and_labelled_to_the_digit_they_differ_in():
    assert [label for _, label in svg.ticks(0.9996, 1.0046, 4)] == ["1.000", "1.002", "1.004"]
    assert [label for _, label in svg.ticks(-0.035, 0.002, 4)] == ["\u22120.03", "\u22120.02", "\u22120.01", "0.00"]
    assert [label for _, label in svg.ticks(-1e11, 3.9e12, 4)] == ["0", "1e12", "2e12", "3e12"]
    assert "\u22121.75e\u22125" in [label for _, label in svg.ticks(-2e-5, -1e-5)]
    assert [label for _, label in svg.ticks(0, 7.8, whole=True)] == ["0", "2", "4", "6"]
    assert [label for _, label in svg.log_ticks(1e-6, 1e-1)] == [f"10\u207b{digit}" for digit in "\u2076\u2075\u2074\u00b3\u00b2\u00b9"]
    assert svg.ticks(1.0, 1.0) == []


def test_a_graph_figure_escapes_what_the_student_named():
    graph = {"roots": [{"output": 0, "requires_grad": True, "node": 0}], "nodes": [{"name": "<script>x</script>"}],
             "edges": [], "cuts": [], "missing": []}
    picture = graph_figure.figure({"yours": graph, "reference": graph, "outputs": ["<b>out</b>"]})
    assert "<script>" not in picture and "&lt;script&gt;x&lt;/script&gt;" in picture and "&lt;b&gt;out" in picture
    assert picture.count("<svg") == 1 and "reference graph" in picture


def test_the_report_imports_neither_a_plotting_library_nor_torch():
    loaded = subprocess.run([sys.executable, "-c", "import sys, grader.cli; from grader.reporters import html; "
                             "print(sorted({name.split('.')[0] for name in sys.modules}))"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "'matplotlib'" not in loaded and "'torch'" not in loaded and "'grader'" in loaded
