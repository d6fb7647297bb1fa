"""A report's charts as inline SVG, drawn here in Python: no JavaScript, nothing fetched, crisp in print.

Three kinds (`Chart.kind`): grouped vertical bars, lines, and horizontal bars (rankings). Each has
axes, light gridlines, value labels, a legend and the unit. Sizes are SVG user units (about CSS px);
the SVG scales to the width of the page, so text sizes here are chosen for an A4 column of ~180 mm.
"""

from __future__ import annotations

import math
import re
import unicodedata
from html import escape as _escape

from lingtan.api.reports.model import Chart, Text

WIDTH = 680.0
PLOT_HEIGHT = 190.0          # bar and line charts: the plot area's height
FONT = 10.0                  # axis labels
SMALL = 8.5                  # value labels
# Print-safe colours that stay apart in greyscale: green, blue, orange, purple, red, slate.
PALETTE = ("#2e7d5b", "#3b6ea8", "#e08a2c", "#8a6bb8", "#c4473a", "#6b7a8f")
INK, GRID, MUTED = "#222", "#dcdcdc", "#666"
MAX_LABEL_CHARS = 16         # category labels longer than this are cut with "…" (the full text is the tooltip)
HBAR_LABEL_CHARS = 30        # a ranking's label wraps at this width (CJK counts two), onto at most two lines
MISSING = "–"
MAX_HBAR_ROWS = 40          # a horizontal bar chart of more rows would not fit on an A4 page
WORDS = {"unit": Text("单位", "Unit"), "none": Text("无数据", "No data"),
         "first": Text("前 {n} 项（共 {of} 项，全部见表）", "The first {n} of {of} (all in the table)")}


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def escape(text: str) -> str:
    """`text` escaped for HTML and SVG, without the control characters that neither may hold."""
    return _escape(_CONTROL.sub("", text))


def chart_svg(chart: Chart, lang: str = "zh") -> str:
    """The chart as an `<svg>` element, every label in `lang` and escaped."""
    categories = [c(lang) if isinstance(c, Text) else str(c) for c in chart.categories]
    series = [(name(lang), [_finite(v) for v in values]) for name, values in chart.series]
    for name, values in series:
        if len(values) != len(categories):
            raise ValueError(f"chart {chart.key!r}: series {name!r} has {len(values)} values "
                             f"for {len(categories)} categories")
    if chart.kind == "hbar":
        return _hbar(chart, lang, categories, series)
    if chart.kind in ("bar", "line"):
        return _columns(chart, lang, categories, series)
    raise ValueError(f"chart {chart.key!r}: kind {chart.kind!r} is not one of bar, line, hbar")


# ---- the two layouts ---------------------------------------------------------------------------

def _columns(chart: Chart, lang: str, categories: list[str], series: list[tuple[str, list]]) -> str:
    values = [v for _, vs in series for v in vs if v is not None]
    fmt = _value_format(values)
    n, ns = max(len(categories), 1), max(len(series), 1)
    top = 34.0
    tick_probe = _ticks(min(values, default=0.0), max(values, default=1.0))
    left = 14 + max(_width(_number(t, _tick_digits(tick_probe)), FONT) for t in tick_probe)
    plot_w = WIDTH - left - 14
    slot = plot_w / n
    bar_w = slot * (0.72 if ns > 1 else 0.6) / ns if chart.kind == "bar" else 0.0
    label_w = max((_width(fmt(v), SMALL) for v in values), default=0.0)
    # bars too narrow for a level label get an upright one, which needs head room above the tallest bar
    rotate = chart.kind == "bar" and label_w > bar_w + 2
    lo, hi = min(values, default=0.0), max(values, default=1.0)
    pad = (label_w + 6 if rotate else SMALL + 6) / PLOT_HEIGHT
    # both kinds start at 0, so a line's rise and fall are read against its size, not against a cut axis
    ticks = _ticks(min(lo, 0.0), hi, pad_hi=pad, pad_lo=pad if lo < 0 else 0.0, zero=True)
    cats = [_cut(c) for c in categories]
    tilt = max((_width(c, FONT) for c in cats), default=0.0) > slot - 4
    bottom = 12 + (max((_width(c, FONT) for c in cats), default=0.0) * 0.6 + FONT if tilt else FONT + 8)
    height = top + PLOT_HEIGHT + bottom
    y0, y1 = top, top + PLOT_HEIGHT

    def y(v: float) -> float:
        return y1 - (v - ticks[0]) / (ticks[-1] - ticks[0]) * PLOT_HEIGHT

    out = _open(chart, lang, height)
    out += _legend_and_unit(chart, lang, [s for s, _ in series])
    digits = _tick_digits(ticks)
    for t in ticks:
        out.append(f'<line x1="{left:.1f}" y1="{y(t):.1f}" x2="{WIDTH - 14:.1f}" y2="{y(t):.1f}" '
                   f'stroke="{INK if t == 0 else GRID}" stroke-width="{0.8 if t == 0 else 0.6}"/>')
        out.append(_text(left - 6, y(t) + FONT * 0.35, _number(t, digits), FONT, anchor="end", fill=MUTED))
    out.append(f'<line x1="{left:.1f}" y1="{y0:.1f}" x2="{left:.1f}" y2="{y1:.1f}" stroke="{INK}" stroke-width="0.8"/>')
    for i, (cat, full) in enumerate(zip(cats, categories, strict=True)):
        cx = left + slot * (i + 0.5)
        if tilt:
            out.append(_text(cx, y1 + FONT + 4, cat, FONT, anchor="end", fill=INK, rotate=-35, title=full))
        else:
            out.append(_text(cx, y1 + FONT + 6, cat, FONT, anchor="middle", fill=INK, title=full))
    if not values:
        out.append(_text(left + plot_w / 2, y0 + PLOT_HEIGHT / 2, WORDS["none"](lang), FONT, anchor="middle",
                         fill=MUTED))
    elif chart.kind == "bar":
        base = y(max(ticks[0], 0.0)) if ticks[0] <= 0 <= ticks[-1] else y1
        for s, (name, vs) in enumerate(series):
            colour = PALETTE[s % len(PALETTE)]
            for i, v in enumerate(vs):
                x = left + slot * i + (slot - bar_w * ns) / 2 + bar_w * s
                if v is None:  # missing, which is not zero: a dash on the base line
                    out.append(_text(x + bar_w / 2, base - 3, MISSING, SMALL, anchor="middle", fill=MUTED))
                    continue
                yt = y(v)
                out.append(f'<rect x="{x:.1f}" y="{min(yt, base):.1f}" width="{bar_w:.1f}" '
                           f'height="{abs(base - yt):.1f}" fill="{colour}"><title>{escape(name)}: '
                           f'{escape(fmt(v))}</title></rect>')
                cx = x + bar_w / 2
                if rotate:
                    ly = yt - 3 if v >= 0 else yt + 3
                    out.append(_text(cx + SMALL * 0.35, ly, fmt(v), SMALL, anchor="start" if v >= 0 else "end",
                                     fill=INK, rotate=-90))
                else:
                    ly = yt - 3 if v >= 0 else yt + SMALL + 2
                    out.append(_text(cx, ly, fmt(v), SMALL, anchor="middle", fill=INK))
    else:
        labelled = len(series) <= 2 and label_w <= slot - 2
        for s, (name, vs) in enumerate(series):
            colour = PALETTE[s % len(PALETTE)]
            points = [(left + slot * (i + 0.5), y(v)) if v is not None else None for i, v in enumerate(vs)]
            for run in _runs(points):
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                           f'stroke-linejoin="round"/>')
            for i, (p, v) in enumerate(zip(points, vs, strict=True)):
                if p is None:
                    continue
                out.append(f'<circle cx="{p[0]:.1f}" cy="{p[1]:.1f}" r="2.6" fill="#fff" stroke="{colour}" '
                           f'stroke-width="1.6"><title>{escape(name)}: {escape(fmt(v))}</title></circle>')
                last = i == max(j for j, q in enumerate(points) if q is not None)
                if labelled or last:
                    others = [vs2[i] for k, (_, vs2) in enumerate(series) if k != s and vs2[i] is not None]
                    below = any(o > v for o in others)  # the lower of two lines gets its labels below
                    ly = p[1] + SMALL + 5 if below else p[1] - 6
                    dx, anchor = _beside(vs[i - 1] if i else None, v, vs[i + 1] if i + 1 < len(vs) else None, below)
                    out.append(_text(p[0] + dx, ly, fmt(v), SMALL, anchor=anchor, fill=colour))
    out.append("</svg>")
    return "".join(out)


def _hbar(chart: Chart, lang: str, categories: list[str], series: list[tuple[str, list]]) -> str:
    shown = len(categories)
    if shown > MAX_HBAR_ROWS:  # taller than a page: the first rows (a ranking's top), and says so
        categories, series = categories[:MAX_HBAR_ROWS], [(s, vs[:MAX_HBAR_ROWS]) for s, vs in series]
    values = [v for _, vs in series for v in vs if v is not None]
    fmt = _value_format(values)
    n, ns = max(len(categories), 1), max(len(series), 1)
    bar_h = (11.0 if ns > 1 else 13.0) if len(categories) <= 15 else (7.0 if ns > 1 else 9.0)
    # a long name wraps onto a second line rather than being cut ("乙新材料 (New material…")
    cats = [_wrap(c, HBAR_LABEL_CHARS) for c in categories]
    row = max(bar_h * ns + 8, (FONT * 1.15 * max((len(c) for c in cats), default=1) + 4))
    top = 34.0 if shown <= MAX_HBAR_ROWS else 40.0
    left = 12 + min(max((_width(line, FONT) for c in cats for line in c), default=40.0), 210.0)
    right = 14.0
    plot_w = WIDTH - left - right
    plot_h = row * n
    label_w = max((_width(fmt(v), SMALL) for v in values), default=0.0)
    lo, hi = min(values, default=0.0), max(values, default=1.0)
    pad = (label_w + 8) / plot_w
    ticks = _ticks(min(lo, 0.0), hi, pad_hi=pad, pad_lo=pad if lo < 0 else 0.0, zero=True)
    height = top + plot_h + FONT + 14

    def x(v: float) -> float:
        return left + (v - ticks[0]) / (ticks[-1] - ticks[0]) * plot_w

    out = _open(chart, lang, height)
    out += _legend_and_unit(chart, lang, [s for s, _ in series])
    if shown > MAX_HBAR_ROWS:
        out.append(_text(2, 28, WORDS["first"](lang).format(n=MAX_HBAR_ROWS, of=shown), FONT, anchor="start",
                         fill=MUTED))
    digits = _tick_digits(ticks)
    for t in ticks:
        out.append(f'<line x1="{x(t):.1f}" y1="{top:.1f}" x2="{x(t):.1f}" y2="{top + plot_h:.1f}" '
                   f'stroke="{INK if t == 0 else GRID}" stroke-width="{0.8 if t == 0 else 0.6}"/>')
        out.append(_text(x(t), top + plot_h + FONT + 6, _number(t, digits), FONT, anchor="middle", fill=MUTED))
    base = x(0.0)
    for i, (cat, full) in enumerate(zip(cats, categories, strict=True)):
        ry = top + row * i
        first_y = ry + row / 2 + FONT * 0.35 - FONT * 1.15 * (len(cat) - 1) / 2
        for k, line in enumerate(cat):
            out.append(_text(left - 6, first_y + FONT * 1.15 * k, line, FONT, anchor="end", fill=INK,
                             title=full if k == 0 and "".join(cat) != full else None))
        for s, (name, vs) in enumerate(series):
            v = vs[i]
            by = ry + 4 + bar_h * s
            if v is None:  # missing, which is not zero
                out.append(_text(base + 4, by + bar_h / 2 + SMALL * 0.35, MISSING, SMALL, anchor="start", fill=MUTED))
                continue
            xv = x(v)
            out.append(f'<rect x="{min(xv, base):.1f}" y="{by:.1f}" width="{abs(xv - base):.1f}" '
                       f'height="{bar_h - 1:.1f}" fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)}: '
                       f'{escape(fmt(v))}</title></rect>')
            lx, anchor = (xv + 4, "start") if v >= 0 else (xv - 4, "end")
            out.append(_text(lx, by + bar_h / 2 + SMALL * 0.35, fmt(v), SMALL, anchor=anchor, fill=INK))
    if not values:
        out.append(_text(left + plot_w / 2, top + plot_h / 2 + FONT, WORDS["none"](lang), FONT, anchor="middle",
                         fill=MUTED))
    out.append("</svg>")
    return "".join(out)


# ---- pieces ------------------------------------------------------------------------------------

def _open(chart: Chart, lang: str, height: float) -> list[str]:
    label = escape(f"{chart.title(lang)} ({chart.unit})")
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH:.0f} {height:.0f}" '
            f'role="img" aria-label="{label}" font-family="\'Noto Sans CJK SC\', \'DejaVu Sans\', sans-serif">']


def _legend_and_unit(chart: Chart, lang: str, names: list[str]) -> list[str]:
    """The unit at the top left, the legend (one swatch per series) from the top right."""
    out = [_text(2, 14, f"{WORDS['unit'](lang)}{'：' if lang != 'en' else ': '}{chart.unit}", FONT,
                 anchor="start", fill=MUTED)]
    x = WIDTH - 4
    for s in range(len(names) - 1, -1, -1):
        name = _cut(names[s], 24)
        w = _width(name, FONT)
        x -= w
        out.append(_text(x, 14, name, FONT, anchor="start", fill=INK, title=names[s]))
        x -= 14
        colour = PALETTE[s % len(PALETTE)]
        if chart.kind == "line":
            out.append(f'<line x1="{x:.1f}" y1="10" x2="{x + 10:.1f}" y2="10" stroke="{colour}" stroke-width="2"/>')
        else:
            out.append(f'<rect x="{x:.1f}" y="5" width="10" height="10" fill="{colour}"/>')
        x -= 14
    return out


def _text(x: float, y: float, s: str, size: float, *, anchor: str, fill: str, rotate: float = 0.0,
          title: str | None = None) -> str:
    turn = f' transform="rotate({rotate:g} {x:.1f} {y:.1f})"' if rotate else ""
    tip = f"<title>{escape(title)}</title>" if title is not None and title != s else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="{anchor}" fill="{fill}"{turn}>'
            f"{tip}{escape(s)}</text>")


def _beside(before: float | None, v: float, after: float | None, below: bool) -> tuple[float, str]:
    """Where a line's value label goes, away from the line: a label above the point moves off the
    side where the line rises above it, a label below off the side where it falls below it."""
    def crosses(n: float | None) -> bool:
        return n is not None and (n < v if below else n > v)
    left, right = crosses(before), crosses(after)
    return (-4.0, "end") if right and not left else (4.0, "start") if left and not right else (0.0, "middle")


def _runs(points: list) -> list[list[tuple[float, float]]]:
    """Consecutive known points: a missing value breaks the line instead of bridging it."""
    runs, run = [], []
    for p in points:
        if p is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append(p)
    if run:
        runs.append(run)
    return runs


def _ticks(lo: float, hi: float, *, count: int = 5, pad_hi: float = 0.0, pad_lo: float = 0.0,
           zero: bool = False) -> list[float]:
    """Round gridline values (1, 2, 2.5 or 5 × 10^k apart) covering lo..hi plus the head room asked."""
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-6:  # one value (or none, or values closer than labels can tell): a span around it
        lo, hi = (min(lo, 0.0), max(hi, 0.0) + 1.0) if max(abs(lo), abs(hi)) < 1e-6 else \
            (lo - abs(lo) * 0.5, hi + abs(hi) * 0.5)
    span = hi - lo
    hi, lo = hi + span * pad_hi, lo - span * pad_lo
    span = hi - lo
    magnitude = 10 ** math.floor(math.log10(span / count))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if span / (m * magnitude) <= count)
    start, end = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    return [round(start + i * step, 10) for i in range(round((end - start) / step) + 1)]


def _tick_digits(ticks: list[float]) -> int:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return 0 if step >= 1 else min(6, max(0, -math.floor(math.log10(step) + 1e-9) + (1 if _frac25(step) else 0)))


def _frac25(step: float) -> bool:
    scaled = step / 10 ** math.floor(math.log10(step) + 1e-9)
    return abs(scaled - 2.5) < 1e-6


def _value_format(values: list[float]):
    """One number format for a chart's value labels, from the size of its values."""
    top = max((abs(v) for v in values), default=0.0)
    digits = 0 if top >= 100 else 1 if top >= 10 else 2
    return lambda v: _number(v, digits)


def _number(v: float, digits: int) -> str:
    s = f"{v:,.{digits}f}"
    return s[1:] if s.startswith("-") and not any(c not in "-0.," for c in s) else s  # no "-0.0"


def _finite(v: float | None) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def _cut(s: str, limit: int = MAX_LABEL_CHARS) -> str:
    """At most `limit` wide (CJK counts two), ending in "…" when cut."""
    out, used = [], 0.0
    for c in s:
        w = 2 if unicodedata.east_asian_width(c) in "WF" else 1
        if used + w > limit:
            return "".join(out).rstrip() + "…"
        out.append(c)
        used += w
    return s


def _wrap(s: str, limit: int, lines: int = 2) -> list[str]:
    """`s` in at most `lines` lines of `limit` wide (CJK counts two), breaking at a space or bracket
    where one is near, the last line cut with "…" only if the text is longer still."""
    out = []
    rest = s
    while rest and len(out) < lines - 1 and _cut(rest, limit) != rest:
        head = _cut(rest, limit)[:-1]
        brk = max(head.rfind(" "), head.rfind("("), head.rfind("（"))
        if brk > len(head) // 2:
            head = head[:brk]
        out.append(head.rstrip())
        rest = rest[len(head):].lstrip()
    out.append(_cut(rest, limit))
    return out


def _width(s: str, size: float) -> float:
    """The text's approximate width in user units: CJK glyphs are one em, others about 0.56 em."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else size * 0.56 for c in s)
