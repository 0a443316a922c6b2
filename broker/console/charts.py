"""Charts drawn on the server as SVG: bars by period (grouped), horizontal bars, a line. No script, no library.

Every chart carries its numbers as text too (a <title> per mark, the values on the bars), so a
screen reader and a test read the same figures as the eye.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

PALETTE = ("#a4123f", "#1f6f8b", "#e0a100", "#4a8c3a", "#7a4ea3", "#c45a1a", "#5d6b7a", "#2a9d8f")
WIDTH = 720
HEIGHT = 260
PAD = 36

Number = Callable[[object], str]


def _svg(body: str, height: int, title: str, css_id: str) -> str:
    return (
        f'<svg id="{escape(css_id)}" class="chart-svg" role="img" aria-label="{escape(title)}" direction="ltr" '
        f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f"{body}</svg>"
    )


def grouped_bars(
    title: str, css_id: str, labels: Sequence[str], series: dict[str, list[int]], names: dict[str, str], n: Number
) -> str:
    """One group of bars per period, one bar per series, with a legend."""
    top = max([max(v, default=0) for v in series.values()] + [1])
    count = max(len(labels), 1)
    group = (WIDTH - 2 * PAD) / count
    bar = max(group * 0.8 / max(len(series), 1), 1.0)
    base = HEIGHT - PAD
    parts = [f'<line x1="{PAD}" y1="{base}" x2="{WIDTH - PAD}" y2="{base}" stroke="#999"/>']
    for i, text in enumerate(labels):
        x = PAD + i * group + group / 2
        parts.append(f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle">{escape(n(text))}</text>')
    for j, (name, values) in enumerate(series.items()):
        colour = PALETTE[j % len(PALETTE)]
        for i, value in enumerate(values):
            h = (base - PAD) * value / top
            x = PAD + i * group + group * 0.1 + j * bar
            tip = f"{names.get(name, name)} {labels[i]}: {value}"
            parts.append(
                f'<rect class="bar" data-series="{escape(name)}" data-value="{value}" x="{x:.1f}" '
                f'y="{base - h:.1f}" width="{bar * 0.9:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            if value:
                parts.append(
                    f'<text x="{x + bar * 0.45:.1f}" y="{base - h - 3:.1f}" text-anchor="middle">'
                    f"{escape(n(value))}</text>"
                )
    legend = "".join(
        f'<rect x="{PAD + k * 150}" y="6" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>'
        f'<text x="{PAD + k * 150 + 14}" y="15">{escape(names.get(name, name))}</text>'
        for k, name in enumerate(series)
    )
    return _svg(legend + "".join(parts), HEIGHT, title, css_id)


def horizontal_bars(
    title: str, css_id: str, rows: Sequence[tuple[str, float | None, str]], top: float, n: Number
) -> str:
    """One bar per row (label, value or None, the value as shown), on a scale from 0 to `top`."""
    line = 24
    height = PAD + line * max(len(rows), 1)
    left = 260
    parts = []
    for i, (name, value, shown) in enumerate(rows):
        y = 10 + i * line
        width = (WIDTH - left - 60) * (value or 0) / top
        parts.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(name)}</text>')
        parts.append(
            f'<rect class="bar" data-value="{"" if value is None else value}" x="{left}" y="{y}" '
            f'width="{width:.1f}" height="{line - 6}" fill="{PALETTE[1]}">'
            f"<title>{escape(name)}: {escape(shown)}</title></rect>"
        )
        parts.append(f'<text x="{left + width + 6:.1f}" y="{y + 14}">{escape(n(shown))}</text>')
    return _svg("".join(parts), height, title, css_id)


def line(title: str, css_id: str, points: Sequence[tuple[str, int]], n: Number) -> str:
    """A line through the points (label, value), left to right in time."""
    top = max([v for _, v in points] + [1])
    base = HEIGHT - PAD
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)
    xy = [(PAD + i * step, base - (base - PAD) * v / top) for i, (_, v) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    parts = [
        f'<line x1="{PAD}" y1="{base}" x2="{WIDTH - PAD}" y2="{base}" stroke="#999"/>',
        f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>',
    ]
    for (text, value), (x, y) in zip(points, xy, strict=True):
        parts.append(
            f'<circle class="point" data-value="{value}" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[0]}">'
            f"<title>{escape(text)}: {value}</title></circle>"
        )
    if points:
        parts.append(f'<text x="{PAD}" y="{base + 14}">{escape(n(points[0][0]))}</text>')
        parts.append(f'<text x="{WIDTH - PAD}" y="{base + 14}" text-anchor="end">{escape(n(points[-1][0]))}</text>')
        parts.append(f'<text x="{PAD}" y="{PAD - 6}">{escape(n(top))}</text>')
    return _svg("".join(parts), HEIGHT, title, css_id)


def sparkline(title: str, css_id: str, values: Sequence[int]) -> str:
    """Small bars of counts for a table cell (one bar reads too), its numbers in its <title>."""
    width, height = 120, 28
    top = max([*values, 1])
    step = width / max(len(values), 1)
    bars = "".join(
        f'<rect class="bar" data-value="{v}" x="{i * step + step * 0.1:.1f}" y="{height - (height - 2) * v / top:.1f}" '
        f'width="{step * 0.8:.1f}" height="{(height - 2) * v / top:.1f}" fill="{PALETTE[0]}"/>'
        for i, v in enumerate(values)
    )
    return (
        f'<svg id="{escape(css_id)}" class="sparkline" role="img" aria-label="{escape(title)}" direction="ltr" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{bars}</svg>"
    )
