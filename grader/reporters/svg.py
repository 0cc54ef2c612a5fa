"""Pictures written directly as inline SVG text: the few shapes the report's figures need (lines, boxes,
text, arrows) and a plot's axes with their ticks. No drawing library: a figure costs a millisecond, and
nothing global (a backend, a style) is set.

Text is measured by its length: DejaVu Sans Mono is ``CHAR`` font sizes wide a character, DejaVu Sans
narrower, so what is placed by that measure fits. Student text is escaped; coordinates that are not
finite break a line instead of reaching the picture.
"""

from __future__ import annotations

import math
from html import escape

from grader.textsafe import xml_text

FONT = "DejaVu Sans, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, monospace"
CHAR = 0.6  # a character's width, in font sizes: exact for DejaVu Sans Mono, generous for DejaVu Sans
INK = "#111111"
TICK = 4  # length of a tick mark
MINUS, SUPERSCRIPT = "\u2212", str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
LARGEST = 1e300  # values beyond this are treated as not finite: their differences would overflow


def width_of(text: str, size: float) -> float:
    """The width ``text`` takes at font ``size`` (its longest line)."""
    return CHAR * size * max(map(len, text.split("\n")))


def finite(value: float | None) -> bool:
    """Whether ``value`` can be placed: a number, finite and not absurdly large."""
    return value is not None and math.isfinite(value) and abs(value) < LARGEST


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


class Picture:
    """An SVG picture, in pixels, drawn element by element; ``svg()`` gives the ``<svg>`` element."""

    def __init__(self, width: float, height: float):
        self.width, self.height = width, height
        self.parts: list[str] = []

    def line(self, points: list[tuple[float, float]], colour: str, width: float = 1.0, dashed: bool = False,
             dots: float = 0.0, opacity: float = 1.0) -> None:
        """A line through ``points``, broken where a point is not finite, with dots of radius ``dots`` on them."""
        style = (f' stroke="{colour}" stroke-width="{width:g}"' + (' stroke-dasharray="6 3"' if dashed else "")
                 + (f' stroke-opacity="{opacity:g}"' if opacity < 1 else ""))
        run: list[tuple[float, float]] = []
        for point in [*points, (math.nan, math.nan)]:
            if all(map(math.isfinite, point)):
                run.append(point)
                continue
            if len(run) > 1:
                self.parts.append(f'<polyline fill="none"{style} points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in run)}"/>')
            if dots:
                self.parts += [f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{dots:g}" fill="{colour}"/>' for x, y in run]
            run = []

    def rect(self, x: float, y: float, width: float, height: float, fill: str, stroke: str = "none",
             radius: float = 0.0, dashed: bool = False) -> None:
        """A box from its top left corner, rounded by ``radius``, its border dashed if asked."""
        self.parts.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" height="{_n(height)}" fill="{fill}"'
                          + (f' stroke="{stroke}" stroke-width="0.8"' if stroke != "none" else "")
                          + (f' rx="{radius:g}"' if radius else "") + (' stroke-dasharray="4 2"' if dashed else "") + "/>")

    def text(self, x: float, y: float, text: str, size: float = 12, anchor: str = "start", bold: bool = False,
             mono: bool = False, turned: bool = False) -> None:
        """``text`` (escaped) with its middle at height ``y``, aligned on ``x`` by ``anchor`` (start, middle,
        end); lines of a multi-line text stacked around ``y``; ``turned`` reads upwards."""
        lines = xml_text(text).split("\n")
        first = y + size * 0.35 - (len(lines) - 1) * size * 0.6
        attributes = (f'x="{_n(x)}" y="{_n(first)}" font-size="{size:g}"' + (f' text-anchor="{anchor}"' if anchor != "start" else "")
                      + (' font-weight="bold"' if bold else "") + (f' font-family="{MONO}"' if mono else "")
                      + (f' transform="rotate(-90 {_n(x)} {_n(y)})"' if turned else ""))
        body = escape(lines[0], quote=False) if len(lines) == 1 else "".join(
            f'<tspan x="{_n(x)}" dy="{0 if index == 0 else _n(size * 1.2)}">{escape(line, quote=False)}</tspan>'
            for index, line in enumerate(lines))
        self.parts.append(f"<text {attributes}>{body}</text>")

    def arrow(self, start: tuple[float, float], end: tuple[float, float], colour: str, dashed: bool = False) -> None:
        """A line from ``start`` with an open arrowhead at ``end``."""
        length = math.dist(start, end)
        if not length:
            return
        (x, y), dx, dy = end, (end[0] - start[0]) / length, (end[1] - start[1]) / length
        self.line([start, end], colour, 0.8, dashed)
        self.line([(x - 6 * dx - 3 * dy, y - 6 * dy + 3 * dx), end, (x - 6 * dx + 3 * dy, y - 6 * dy - 3 * dx)], colour, 0.8)

    def svg(self) -> str:
        """The picture as an ``<svg>`` element, ready to inline in HTML."""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{math.ceil(self.width)}" height="{math.ceil(self.height)}" '
                f'viewBox="0 0 {math.ceil(self.width)} {math.ceil(self.height)}" font-family="{FONT}" fill="{INK}">\n'
                + "\n".join(self.parts) + "\n</svg>")


class Axes:
    """A plot's frame in a picture: its box (left, top, width, height in pixels), data coordinates to pixels
    (``y`` on a log scale if asked), and the left and bottom axes with their ticks, labels and title."""

    def __init__(self, picture: Picture, box: tuple[float, float, float, float], x_range: tuple[float, float],
                 y_range: tuple[float, float], log_y: bool = False):
        self.picture, self.box, self.x_range, self.log_y = picture, box, x_range, log_y
        self.y_range = tuple(map(math.log10, y_range)) if log_y else y_range

    def x(self, value: float | None) -> float:
        """The pixel column of ``value`` (NaN where it cannot be placed)."""
        left, _, width, _ = self.box
        low, high = self.x_range
        return left + (value - low) / (high - low) * width if finite(value) else math.nan

    def y(self, value: float | None) -> float:
        """The pixel row of ``value`` (NaN where it cannot be placed)."""
        _, top, _, height = self.box
        low, high = self.y_range
        if not finite(value) or (self.log_y and value <= 0):
            return math.nan
        value = math.log10(value) if self.log_y else value
        return top + (high - value) / (high - low) * height

    def frame(self, x_ticks: list[tuple[float, str]], y_ticks: list[tuple[float, str]], x_label: str = "",
              y_label: str = "", title: str = "", y_tick_size: float = 12) -> None:
        """The left and bottom axes, each tick (value, label) marked, the axes' labels and the title above."""
        picture, (left, top, width, height) = self.picture, self.box
        bottom = top + height
        picture.line([(left, top), (left, bottom), (left + width, bottom)], INK, 0.8)
        for value, label in x_ticks:
            x = self.x(value)
            picture.line([(x, bottom), (x, bottom + TICK)], INK, 0.8)
            picture.text(x, bottom + TICK + 9, label, 12, "middle")
        for value, label in y_ticks:
            y = self.y(value)
            picture.line([(left - TICK, y), (left, y)], INK, 0.8)
            picture.text(left - TICK - 3, y, label, y_tick_size, "end")
        if x_label:
            picture.text(left + width / 2, bottom + TICK + 27, x_label, 12, "middle")
        if y_label:
            widest = max((width_of(label, y_tick_size) for _, label in y_ticks), default=0)
            picture.text(left - TICK - 12 - widest, top + height / 2, y_label, 12, "middle", turned=True)
        if title:
            picture.text(left + width / 2, top - 12, title, 13, "middle", bold=True)


def limits(values: list[float | None], margin: float = 0.05) -> tuple[float, float]:
    """The range of the finite ``values``, widened by ``margin`` of it on each side (around a lone value, by a
    little; (0, 1) when none is finite)."""
    shown = [value for value in values if finite(value)]
    if not shown:
        return 0.0, 1.0
    low, high = min(shown), max(shown)
    spread = (high - low) * margin or max(abs(low) * margin, 0.05)
    return low - spread, high + spread


def ticks(low: float, high: float, count: int = 5, whole: bool = False) -> list[tuple[float, str]]:
    """About ``count`` round values between ``low`` and ``high`` (1, 2, 2.5 or 5 times a power of ten apart,
    whole numbers only if ``whole``), each with its label."""
    if not high > low:
        return []
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(power * factor for factor in ((1, 2, 5, 10) if whole else (1, 2, 2.5, 5, 10)) if power * factor >= raw)
    step = max(step, 1) if whole else step
    first = math.ceil(low / step - 1e-9)
    values = [(first + index) * step for index in range(int((high - low) / step + 1e-9) + 2)]
    return [(value, tick_label(value, step)) for value in values if low - 1e-9 * step <= value <= high + 1e-9 * step]


def tick_label(value: float, step: float) -> str:
    """``value`` to the last digit that ticks ``step`` apart differ in; in scientific notation when huge or tiny."""
    power = math.floor(math.log10(step))
    last = power - len(f"{step / 10 ** power:.6f}".rstrip("0").partition(".")[2])  # 2.5e-6: its 5 is at 1e-7
    if abs(value) < step * 1e-9:
        value = 0.0
    largest = max(abs(value), step)
    if largest >= 1e5 or largest < 1e-4:
        mantissa, _, exponent = f"{value:.{max(1, math.floor(math.log10(largest)) - last + 1)}g}".partition("e")
        shown = f"{mantissa}e{int(exponent)}" if exponent else mantissa
    else:
        shown = f"{value:.{max(0, -last)}f}"
    return shown.replace("-", MINUS)


def log_limits(values: list[float | None]) -> tuple[float, float]:
    """The range of the finite positive ``values`` on a log scale, widened a little on each side and to at
    least two powers of ten."""
    shown = [math.log10(value) for value in values if finite(value) and value > 0] or [0.0]
    low, high = min(shown), max(shown)
    margin = max(0.06 * (high - low), 0.15)
    low, high = low - margin, high + margin
    if math.floor(high) - math.ceil(low) < 1:
        low, high = math.floor(low), math.ceil(high)
    return 10.0 ** low, 10.0 ** high


def log_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Powers of ten between ``low`` and ``high`` (at most about six of them), labelled ``10⁻⁴``."""
    first, last = math.ceil(math.log10(low) - 1e-9), math.floor(math.log10(high) + 1e-9)
    step = max(1, math.ceil((last - first + 1) / 6))
    first = math.ceil(first / step) * step
    return [(10.0 ** exponent, f"10{str(exponent).translate(SUPERSCRIPT)}") for exponent in range(first, last + 1, step)]
