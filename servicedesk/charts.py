"""Server-rendered SVG charts of report tables: vertical bars, horizontal bars, lines.

Drawn on the server because the admin ships no chart library and the content security policy
allows no script from elsewhere: an SVG is text in the page, works without JavaScript, prints,
and scales with its viewBox. Every text from the data (a category, a series' label) goes
through format_html, so a fault code named `<script>` is drawn as those characters.

The chart is a picture for the eye (role="img" with a label); the table beside it holds the
same figures for a screen reader and for copying. Each bar and point carries a <title>, which
browsers show on hover. Colours are the Okabe-Ito palette, told apart by people with the
common colour-vision deficiencies; lines also differ by dash pattern, and text and grid use
currentColor, so they follow the admin's light or dark theme.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from core import reports
from servicedesk import report_values

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
DASHES = ["", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4"]
WIDTH = 800
HEIGHT = 300
MAX_X_LABELS = 12
LABEL_CHARS = 26


def _join(parts: Sequence[str]) -> SafeString:
    # Every part was built by format_html (escaped), so the joined text is safe too.
    return mark_safe("".join(parts))


def _f(value: float) -> str:
    return f"{value:.1f}"


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _width(text: str) -> float:
    """About how wide text is drawn at 12 px: Chinese characters are twice a Latin letter."""
    return sum(12.0 if ord(char) >= 0x2E80 else 6.8 for char in text)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step)
    ticks = []
    k = first
    while True:
        value = round(float(k * step), 10)
        ticks.append(int(value) if value.is_integer() else value)
        if value >= high:
            break
        k += 1
    return ticks


def _tick_text(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")
    if not unit:
        return text
    return f"{text} {unit}"


class _Data:
    """The table's categories and series, read once: labels as text, values as floats."""

    def __init__(self, table: reports.Table) -> None:
        chart = table.chart
        columns = {column.key: column for column in table.columns}
        x_column = columns.get(chart.x)
        self.categories = [
            report_values.display(x_column.kind if x_column else reports.TEXT, row.get(chart.x))
            for row in table.rows
        ]
        self.series = []
        for key in chart.series:
            column = columns.get(key)
            kind = column.kind if column else reports.DECIMAL
            self.series.append(
                {
                    "label": str(column.label) if column else key,
                    "values": [report_values.number(row.get(key)) for row in table.rows],
                    "show": lambda v, kind=kind: report_values.display(kind, v),
                }
            )
        values = [v for s in self.series for v in s["values"] if v is not None]
        if chart.target is not None:
            values.append(float(chart.target))
        self.low = min([0.0, *values])
        self.high = max([0.0, *values])
        self.ticks = nice_ticks(self.low, self.high)
        self.low, self.high = self.ticks[0], self.ticks[-1]

    def scale(self, value: float, length: float) -> float:
        return (value - self.low) / (self.high - self.low) * length


def _legend(data: _Data, x: float, y: float, *, lines: bool) -> list[str]:
    if len(data.series) < 2:
        return []
    parts = []
    for i, series in enumerate(data.series):
        colour = PALETTE[i % len(PALETTE)]
        if lines:
            parts.append(
                format_html(
                    '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="3" '
                    'stroke-dasharray="{}"/>',
                    _f(x),
                    _f(y - 4),
                    _f(x + 18),
                    _f(y - 4),
                    colour,
                    DASHES[i % len(DASHES)] or "none",
                )
            )
        else:
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="12" height="12" fill="{}"/>',
                    _f(x),
                    _f(y - 10),
                    colour,
                )
            )
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="chart-legend">{}</text>',
                _f(x + 22),
                _f(y),
                _short(series["label"], 24),
            )
        )
        x += 34 + _width(_short(series["label"], 24))
    return ['<g class="chart-legend-items" fill="currentColor">', *parts, "</g>"]


def _hover(category: str, series: dict[str, Any], value: float, many: bool) -> str:
    if many:
        return f"{category} · {series['label']}: {series['show'](value)}"
    return f"{category}: {series['show'](value)}"


def _target_label(chart: reports.Chart) -> str:
    return _("Target %(value)s") % {"value": _tick_text(float(chart.target), chart.unit)}


def _vertical(table: reports.Table, data: _Data, *, lines: bool) -> tuple[int, list[str]]:
    chart = table.chart
    left, right, top = 64, 16, 34 if len(data.series) > 1 else 14
    n = len(data.categories)
    step = max(1, math.ceil(n / MAX_X_LABELS))
    longest = max((_width(_short(c, 16)) for c in data.categories[::step]), default=0)
    band = (WIDTH - left - right) / max(n, 1)
    rotate = longest > band * step - 6
    bottom = 24 + (int(longest * 0.7) + 6 if rotate else 0)
    plot_h = HEIGHT - top - bottom

    def y(value: float) -> float:
        return top + plot_h - data.scale(value, plot_h)

    parts = _legend(data, left, 16, lines=lines)
    parts.append('<g class="chart-grid" fill="currentColor">')
    for tick in data.ticks:
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="currentColor" '
                'stroke-opacity="{}"/><text x="{}" y="{}" text-anchor="end">{}</text>',
                left,
                _f(y(tick)),
                WIDTH - right,
                _f(y(tick)),
                "0.5" if tick == 0 else "0.15",
                left - 6,
                _f(y(tick) + 4),
                _tick_text(tick, chart.unit),
            )
        )
    parts.append("</g>")
    many = len(data.series) > 1
    if lines:
        for i, series in enumerate(data.series):
            colour = PALETTE[i % len(PALETTE)]
            points = [
                (left + band * (j + 0.5), y(v), j, v)
                for j, v in enumerate(series["values"])
                if v is not None
            ]
            segments, current, previous = [], [], None
            for point in points:
                if previous is not None and point[2] != previous + 1:
                    segments.append(current)
                    current = []
                current.append(point)
                previous = point[2]
            if current:
                segments.append(current)
            parts.append(format_html('<g class="chart-series chart-series-{}">', i))
            for segment in segments:
                if len(segment) > 1:
                    parts.append(
                        format_html(
                            '<polyline fill="none" stroke="{}" stroke-width="2.5" '
                            'stroke-dasharray="{}" points="{}"/>',
                            colour,
                            DASHES[i % len(DASHES)] or "none",
                            " ".join(f"{_f(px)},{_f(py)}" for px, py, _j, _v in segment),
                        )
                    )
            for px, py, j, v in points:
                parts.append(
                    format_html(
                        '<circle cx="{}" cy="{}" r="{}" fill="{}"><title>{}</title></circle>',
                        _f(px),
                        _f(py),
                        "3.5" if n <= 60 else "2",
                        colour,
                        _hover(data.categories[j], series, v, many),
                    )
                )
            parts.append("</g>")
    else:
        group = band * 0.8
        width = group / max(len(data.series), 1)
        zero = y(max(data.low, min(0.0, data.high)))
        for i, series in enumerate(data.series):
            colour = PALETTE[i % len(PALETTE)]
            parts.append(format_html('<g class="chart-series chart-series-{}">', i))
            for j, v in enumerate(series["values"]):
                if v is None:
                    continue
                top_y, bottom_y = sorted((y(v), zero))
                parts.append(
                    format_html(
                        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                        "<title>{}</title></rect>",
                        _f(left + band * j + band * 0.1 + width * i),
                        _f(top_y),
                        _f(max(width - 1, 0.5)),
                        _f(max(bottom_y - top_y, 0.5 if v else 0)),
                        colour,
                        _hover(data.categories[j], series, v, many),
                    )
                )
            parts.append("</g>")
    if chart.target is not None:
        ty = y(float(chart.target))
        parts.append(
            format_html(
                '<g class="chart-target" fill="currentColor"><line x1="{}" y1="{}" x2="{}" '
                'y2="{}" stroke="currentColor" stroke-width="1.5" stroke-dasharray="6 4"/>'
                '<text x="{}" y="{}" text-anchor="end">{}</text></g>',
                left,
                _f(ty),
                WIDTH - right,
                _f(ty),
                WIDTH - right,
                _f(ty - 5),
                _target_label(chart),
            )
        )
    parts.append('<g class="chart-x" fill="currentColor">')
    base = top + plot_h + 16
    for j in range(0, n, step):
        cx = left + band * (j + 0.5)
        label = _short(data.categories[j], 16)
        if rotate:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="end" transform="rotate(-40 {} {})">{}</text>',
                    _f(cx),
                    _f(base),
                    _f(cx),
                    _f(base),
                    label,
                )
            )
        else:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle">{}</text>', _f(cx), _f(base), label
                )
            )
    parts.append("</g>")
    return HEIGHT, parts


def _horizontal(table: reports.Table, data: _Data) -> tuple[int, list[str]]:
    chart = table.chart
    n, k = len(data.categories), max(len(data.series), 1)
    longest = max((_width(_short(c)) for c in data.categories), default=0)
    left = min(16 + int(longest), 240)
    right, top = 70, 34 if k > 1 else 14
    bar = 16 if k == 1 else 12
    band = bar * k + 10
    bottom = 26
    plot_w = WIDTH - left - right
    height = top + band * n + bottom

    def x(value: float) -> float:
        return left + data.scale(value, plot_w)

    parts = _legend(data, left, 16, lines=False)
    parts.append('<g class="chart-grid" fill="currentColor">')
    for tick in data.ticks:
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="currentColor" '
                'stroke-opacity="{}"/><text x="{}" y="{}" text-anchor="middle">{}</text>',
                _f(x(tick)),
                top,
                _f(x(tick)),
                top + band * n,
                "0.5" if tick == 0 else "0.15",
                _f(x(tick)),
                top + band * n + 16,
                _tick_text(tick, chart.unit),
            )
        )
    parts.append("</g>")
    zero = x(max(data.low, min(0.0, data.high)))
    many = len(data.series) > 1
    parts.append('<g class="chart-y" fill="currentColor">')
    for j, category in enumerate(data.categories):
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end">{}</text>',
                left - 6,
                _f(top + band * j + band / 2 + 4),
                _short(category),
            )
        )
    parts.append("</g>")
    for i, series in enumerate(data.series):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(format_html('<g class="chart-series chart-series-{}">', i))
        for j, v in enumerate(series["values"]):
            if v is None:
                continue
            x0, x1 = sorted((zero, x(v)))
            y0 = top + band * j + 5 + bar * i
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title>'
                    '</rect><text x="{}" y="{}" fill="currentColor" class="chart-value">{}</text>',
                    _f(x0),
                    _f(y0),
                    _f(max(x1 - x0, 0.5 if v else 0)),
                    bar - 2,
                    colour,
                    _hover(data.categories[j], series, v, many),
                    _f(x1 + 4),
                    _f(y0 + bar - 5),
                    series["show"](v),
                )
            )
        parts.append("</g>")
    if chart.target is not None:
        tx = x(float(chart.target))
        parts.append(
            format_html(
                '<g class="chart-target" fill="currentColor"><line x1="{}" y1="{}" x2="{}" '
                'y2="{}" stroke="currentColor" stroke-width="1.5" stroke-dasharray="6 4"/>'
                '<text x="{}" y="{}" text-anchor="middle">{}</text></g>',
                _f(tx),
                top - 4,
                _f(tx),
                top + band * n,
                _f(tx),
                top - 6,
                _target_label(chart),
            )
        )
    return height, parts


DRAW: dict[str, Callable[..., tuple[int, list[str]]]] = {
    reports.BARS: lambda table, data: _vertical(table, data, lines=False),
    reports.LINES: lambda table, data: _vertical(table, data, lines=True),
    reports.HBARS: _horizontal,
}


def chart_svg(table: reports.Table) -> SafeString:
    """The table's chart as an inline <svg>, or "" when it has no chart or nothing to draw."""
    chart = table.chart
    if chart is None or not table.rows or chart.kind not in DRAW:
        return mark_safe("")
    data = _Data(table)
    if not any(v is not None for s in data.series for v in s["values"]):
        return mark_safe("")
    height, parts = DRAW[chart.kind](table, data)
    label = _("%(title)s, chart; the table below gives the figures") % {"title": table.title}
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="report-chart report-chart-{}" '
        'viewBox="0 0 {} {}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" '
        'aria-label="{}" font-size="12" font-family="inherit"><title>{}</title>{}</svg>',
        chart.kind,
        WIDTH,
        height,
        label,
        str(table.title),
        _join(parts),
    )
