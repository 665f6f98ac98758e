"""The scale benchmark's curves as a small SVG (no plotting library) and its generated docs section.

Both axes are logarithmic: x is the chunk count, y holds every series in its own unit (MB, s, ms), which
log scale puts on one axis readably across orders of magnitude. A missing figure (NaN, None, <= 0) leaves
a gap rather than a made-up point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

BEGIN = "<!-- scale:begin -->"
END = "<!-- scale:end -->"
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 230, 30, 50


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _decades(values: Sequence[float]) -> tuple[int, int]:
    low = math.floor(math.log10(min(values)))
    high = math.ceil(math.log10(max(values)))
    return low, max(high, low + 1)


def render_svg(x: Sequence[float], series: Mapping[str, Sequence[float | None]], title: str) -> str:
    """A log-log line plot of `series` (name -> one value per x) against `x`, with axes and a legend."""
    xs = [v for v in x if _usable(v)]
    ys = [float(v) for values in series.values() for v in values if v is not None and _usable(v)]
    if not xs or not ys:
        raise ValueError("nothing to plot: no positive finite figures")
    x0, x1 = _decades(xs)
    y0, y1 = _decades(ys)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(value: float) -> float:
        return LEFT + (math.log10(value) - x0) / (x1 - x0) * plot_w

    def py(value: float) -> float:
        return TOP + plot_h - (math.log10(value) - y0) / (y1 - y0) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="14">{escape(title)}</text>',
    ]
    for d in range(x0, x1 + 1):
        gx = px(10.0**d)
        out.append(f'<line x1="{gx:.1f}" y1="{TOP}" x2="{gx:.1f}" y2="{TOP + plot_h}" stroke="#ddd"/>')
        out.append(f'<text x="{gx:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{_label(d)}</text>')
    for d in range(y0, y1 + 1):
        gy = py(10.0**d)
        out.append(f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{LEFT + plot_w}" y2="{gy:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">{_label(d)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>')
    out.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 12}" text-anchor="middle">chunks (log scale)</text>'
    )
    for i, (name, values) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = [
            (px(xv), py(float(yv)))
            for xv, yv in zip(x, values, strict=True)
            if _usable(xv) and yv is not None and _usable(yv)
        ]
        out.append(f'<g class="series" data-name="{escape(name)}" stroke="{colour}" fill="{colour}">')
        if len(points) > 1:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in points)
            out.append(f'<polyline points="{path}" fill="none" stroke-width="2"/>')
        out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.5"/>' for a, b in points]
        out.append("</g>")
        ly = TOP + 10 + 20 * i
        lx = LEFT + plot_w + 15
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 20}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 26}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _label(decade: int) -> str:
    value = 10.0**decade
    if decade >= 6:
        return f"{value / 1e6:g} M"
    if decade >= 3:
        return f"{value / 1e3:g} k"
    return f"{value:g}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats rounded to what the measurement supports, NaN/None as "-"."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return (
            f"{value:.2f}" if abs(value) < 10 else f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.1f}"
        )
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def update_section(path: Path, body: str, title: str = "# Scaling") -> None:
    """Replace the generated section of `path` (between the markers), appending it when the markers are
    missing; a missing file is created with only a title and the section (the rest of it is hand-written)."""
    section = f"{BEGIN}\n{body.strip()}\n{END}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{title}\n\n{section}\n", encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        path.write_text(f"{head}{section}{tail}", encoding="utf-8")
    else:
        path.write_text(text.rstrip("\n") + f"\n\n{section}\n", encoding="utf-8")
