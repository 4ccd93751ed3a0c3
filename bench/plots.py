"""Tiny SVG charts for the benchmark report (no plotting library needed): lines and horizontal bars."""

from __future__ import annotations

from html import escape

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 360, 70, 250, 30, 50


def _svg(body: list[str], title: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>'
            f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>')
    return "\n".join([head, *body, "</svg>"]) + "\n"


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, x_label: str, y_label: str) -> str:
    """One line per series over categorical x values (e.g. concurrency levels)."""
    xs = sorted({x for points in series.values() for x, _ in points})
    top = max((y for points in series.values() for _, y in points), default=1) * 1.1 or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (xs.index(x) + 0.5) * plot_w / max(len(xs), 1)

    def py(y: float) -> float:
        return TOP + plot_h - y / top * plot_h

    body = [f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="black"/>',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="black"/>',
            f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 12}" text-anchor="middle">{escape(x_label)}</text>',
            f'<text x="16" y="{TOP + plot_h / 2}" transform="rotate(-90 16 {TOP + plot_h / 2})" '
            f'text-anchor="middle">{escape(y_label)}</text>']
    for tick in range(5):
        value = top * tick / 4
        body.append(f'<text x="{LEFT - 6}" y="{py(value) + 4:.1f}" text-anchor="end">{value:,.0f}</text>')
        body.append(f'<line x1="{LEFT}" y1="{py(value):.1f}" x2="{LEFT + plot_w}" y2="{py(value):.1f}" '
                    'stroke="#ddd"/>')
    for x in xs:
        body.append(f'<text x="{px(x):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{x:g}</text>')
    for index, (name, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(points))
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        body += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>' for x, y in points]
        legend_y = TOP + 14 + index * 18
        body.append(f'<rect x="{WIDTH - RIGHT + 14}" y="{legend_y - 9}" width="12" height="12" fill="{colour}"/>')
        body.append(f'<text x="{WIDTH - RIGHT + 32}" y="{legend_y + 1}">{escape(name)}</text>')
    return _svg(body, title)


def bar_chart(values: dict[str, float], title: str, unit: str) -> str:
    """One horizontal bar per label."""
    label_w, bar_h, gap = 300, 22, 8
    height = TOP + 20 + len(values) * (bar_h + gap) + 20
    top = max(values.values(), default=1) or 1
    plot_w = WIDTH - label_w - 80
    body = []
    for index, (label, value) in enumerate(values.items()):
        y = TOP + 10 + index * (bar_h + gap)
        width = value / top * plot_w
        body.append(f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{escape(label)}</text>')
        body.append(f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{bar_h}" '
                    f'fill="{COLOURS[index % len(COLOURS)]}"/>')
        body.append(f'<text x="{label_w + width + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{value:,.0f} {escape(unit)}</text>')
    return _svg(body, title, height=height)
