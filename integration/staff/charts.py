"""Small self-contained SVG line charts (no JavaScript, no CDN: the machines are offline)."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, PAD = 240, 60, 4


def line_chart(values: list[float | None], labels: list[str], *, title: str = "") -> SafeString:
    """A polyline per run of known values (None leaves a gap), a dot per point with its label as tooltip."""
    known = [v for v in values if v is not None]
    top = max(known) if known else 0.0
    bottom = min(0.0, min(known)) if known else 0.0
    span = (top - bottom) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)

    def point(i: int, v: float) -> tuple[float, float]:
        return round(PAD + i * step, 1), round(HEIGHT - PAD - (v - bottom) / span * (HEIGHT - 2 * PAD), 1)

    runs: list[list[tuple[float, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
        else:
            runs[-1].append(point(i, v))
    lines = format_html_join(
        "", '<polyline points="{}"/>', ((" ".join(f"{x},{y}" for x, y in run),) for run in runs if len(run) > 1)
    )
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2"><title>{}: {}</title></circle>',
        ((*point(i, v), labels[i], _fmt(v)) for i, v in enumerate(values) if v is not None),
    )
    return format_html(
        '<svg class="staff-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="none">{}{}</svg>',
        WIDTH, HEIGHT, title, lines, dots,
    )


def _fmt(value: float) -> str:
    return f"{value:g}"


def multi_line_chart(lines: list[tuple[str, list[float | None], str]], labels: list[str], *, title: str = "",
                     width: int = 480, height: int = 120) -> SafeString:
    """Several series on one scale (name, values, css class), a polyline each; the legend is the caller's."""
    known = [v for _name, values, _css in lines for v in values if v is not None]
    top = max(known) if known else 0.0
    span = top or 1.0
    count = max((len(values) for _name, values, _css in lines), default=0)
    step = (width - 2 * PAD) / max(count - 1, 1)

    def xy(i: int, v: float) -> str:
        return f"{round(PAD + i * step, 1)},{round(height - PAD - v / span * (height - 2 * PAD), 1)}"

    polylines = []
    for name, values, css in lines:
        runs: list[list[str]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(xy(i, v))
        for run in runs:
            if len(run) == 1:
                run.append(run[0])
        polylines.append(format_html_join(
            "", '<polyline class="staff-line-{}" points="{}"><title>{}</title></polyline>',
            ((css, " ".join(run), name) for run in runs if run),
        ))
    return format_html(
        '<svg class="staff-chart staff-trend" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'preserveAspectRatio="none"><text x="{}" y="10" class="staff-chart-top">{}</text>{}</svg>',
        width, height, title, PAD, _fmt(top), format_html_join("", "{}", ((p,) for p in polylines)),
    )
