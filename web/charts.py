"""Charts as SVG drawn on the server: no script, CJK labels as text in the page's font stack, and every
bar or marker a link (to the inbox filtered to what it counts), so they work without JavaScript."""
from __future__ import annotations

from typing import Callable

from markupsafe import Markup, escape

LABELS = ("positive", "neutral", "negative")  # stacked bottom to top


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, title: str, parts: list[str]) -> Markup:
    return Markup(f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
                  f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
                  + "".join(parts) + "</svg>")


def _link(href: str, tip: str, inner: str) -> str:
    return f'<a href="{escape(href)}"><title>{escape(tip)}</title>{inner}</a>'


def stacked_columns(title: str, columns: list[dict], href: Callable[[dict], str],
                    spike_href: Callable[[dict], str] | None = None, width: int = 760, height: int = 240) -> Markup:
    """Columns of {"label", "counts": {sentiment: n}, "tip", "spike"} stacked by sentiment."""
    left, bottom, top = 44, 28, 18
    plot_w, plot_h = width - left - 8, height - bottom - top
    highest = max([sum(c["counts"].values()) for c in columns] + [1])
    parts = [f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}"/>']
    for fraction in (0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{_number(highest * fraction)}</text>'
                     f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}"/>')
    step = plot_w / max(len(columns), 1)
    bar = max(step * 0.7, 1)
    every = max(1, len(columns) // 8)
    for i, column in enumerate(columns):
        x = left + i * step + (step - bar) / 2
        y = top + plot_h
        rects = []
        for label in LABELS:
            h = plot_h * column["counts"].get(label, 0) / highest
            if h:
                y -= h
                rects.append(f'<rect class="{label}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}"/>')
        # An invisible full-height target so that an empty or thin column is still easy to click.
        rects.append(f'<rect class="target" x="{x:.1f}" y="{top}" width="{bar:.1f}" height="{plot_h}"/>')
        parts.append(_link(href(column), column["tip"], "".join(rects)))
        if column.get("spike") and spike_href:
            marker = (f'<path class="spike" d="M{x + bar / 2:.1f} {y - 4:.1f} l6 -10 h-12 z"/>')
            parts.append(_link(spike_href(column), column["spike"], marker))
        if i % every == 0:
            parts.append(f'<text class="tick" x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                         f'{escape(column["label"])}</text>')
    return _svg(width, height, title, parts)


def bars(title: str, rows: list[dict], href: Callable[[dict], str] | None = None, width: int = 360) -> Markup:
    """Horizontal bars of {"label", "counts": {sentiment: n}} or {"label", "value"}, with the number after."""
    row_h, label_w = 24, 130
    height = row_h * len(rows) + 8
    totals = [sum(r["counts"].values()) if "counts" in r else r["value"] for r in rows]
    highest = max([abs(t) for t in totals] + [1e-9])
    plot_w = width - label_w - 50
    parts = []
    for i, (row, total) in enumerate(zip(rows, totals)):
        y = 4 + i * row_h
        inner = [f'<text class="label" x="{label_w - 6}" y="{y + 15}" text-anchor="end">'
                 f'{escape(_shorten(row["label"]))}</text>']
        x = label_w
        segments = [(label, row["counts"].get(label, 0)) for label in LABELS] if "counts" in row else [("value", total)]
        for css, value in segments:
            w = plot_w * abs(value) / highest
            if w:
                inner.append(f'<rect class="{css}" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}"/>')
                x += w
        shown = row.get("shown", _number(total))
        inner.append(f'<text class="value" x="{x + 4:.1f}" y="{y + 15}">{escape(shown)}</text>')
        tip = f'{row["label"]}: {shown}'
        parts.append(_link(href(row), tip, "".join(inner)) if href else
                     f"<g><title>{escape(tip)}</title>{''.join(inner)}</g>")
    return _svg(width, height, title, parts)


def lines(title: str, periods: list[str], series: dict[str, dict[str, float]], low: float, high: float,
          width: int = 760, height: int = 240) -> Markup:
    """One line per series over the periods (e.g. average stars per brand), with a legend."""
    left, bottom, top = 44, 28, 18
    plot_w, plot_h = width - left - 130, height - bottom - top
    step = plot_w / max(len(periods) - 1, 1)

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (value - low) / ((high - low) or 1))

    parts = [f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>']
    for value in (low, (low + high) / 2, high):
        parts.append(f'<text class="tick" x="{left - 6}" y="{y_of(value) + 4:.1f}" text-anchor="end">'
                     f'{_number(value)}</text><line class="grid" x1="{left}" y1="{y_of(value):.1f}" '
                     f'x2="{left + plot_w}" y2="{y_of(value):.1f}"/>')
    every = max(1, len(periods) // 8)
    for i, period in enumerate(periods):
        if i % every == 0:
            parts.append(f'<text class="tick" x="{left + i * step:.1f}" y="{height - 8}" text-anchor="middle">'
                         f'{escape(period)}</text>')
    for n, (name, points) in enumerate(series.items()):
        coordinates = [(left + i * step, y_of(points[p])) for i, p in enumerate(periods) if points.get(p) is not None]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
        parts.append(f'<polyline class="series-{n % 6}" points="{path}"/>')
        parts += [f'<circle class="series-{n % 6}" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(name)}: '
                  f'{_number(points[p])} ({escape(p)})</title></circle>'
                  for (x, y), p in zip(coordinates, [p for p in periods if points.get(p) is not None])]
        parts.append(f'<rect class="series-{n % 6}" x="{width - 120}" y="{top + n * 18}" width="10" height="10"/>'
                     f'<text class="label" x="{width - 105}" y="{top + n * 18 + 9}">{escape(_shorten(name))}</text>')
    return _svg(width, height, title, parts)


def _shorten(text: str, limit: int = 16) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
