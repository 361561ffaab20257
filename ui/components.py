"""Panel building blocks of the dashboard: KPI cards, the AUM donut, tables, charts.

Each builder returns plain HTML or a Bokeh/HoloViews object from the rows that
:mod:`ui.model` computed; :mod:`ui.app` places them and swaps them in place when the
state files change. No I/O here.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

import pandas as pd
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.models.annotations import Legend, LegendItem
from bokeh.plotting import figure

from ui import fmt
from ui.model import Card
from ui.static_files import ASSETS_ROUTE, CSS_PATH, css, css_url  # noqa: F401  (the panes' stylesheet)

#: Slice colours: futures NAV, BTC, XAUT (gold), USDC, then spares.
PALETTE = ("#1d4ed8", "#f7931a", "#c9a227", "#14b8a6", "#8b5cf6", "#ec4899", "#64748b")
DONUT_SOURCE = "aum-donut-source"


def esc(text: Any) -> str:
    """HTML-escape any value's string form."""
    return html.escape(str(text), quote=True)


def title_bar_html(title: str) -> str:
    """The dark bar at the top of the page with the dashboard's title."""
    return f'<div class="title-bar">{esc(title)}</div>'


def section_title(title: str, sub: str = "") -> str:
    """A section heading with an optional muted subtitle."""
    sub_html = f'<span class="sub">{esc(sub)}</span>' if sub else ""
    return f'<div class="section-title"><h2>{esc(title)}</h2>{sub_html}</div>'


def cards_html(cards: list[Card]) -> str:
    """A responsive grid of KPI cards; each carries ``data-kpi`` for tests and scripts."""
    parts = []
    for c in cards:
        is_word = bool(c.value) and not any(ch.isdigit() for ch in c.value) and c.value != fmt.NA
        parts.append(
            f'<div class="kpi {esc(c.tone)}" data-kpi="{esc(c.key)}">'
            f'<div class="title">{esc(c.title)}</div>'
            f'<div class="value{" word" if is_word else ""}" title="{esc(c.value)}">{esc(c.value)}</div>'
            f'<div class="caption" title="{esc(c.caption)}">{esc(c.caption)}</div></div>')
    return f'<div class="cards">{"".join(parts)}</div>'


def status_html(items: list[tuple[str, str]], pill: tuple[str, str]) -> str:
    """The status strip under the header: a freshness pill and ``label value`` pairs."""
    word, tone = pill
    body = "".join(f"<span>{esc(k)} <b>{esc(v)}</b></span>" for k, v in items)
    return f'<div class="status"><span class="pill {esc(tone)}">{esc(word)}</span>{body}</div>'


def banner_html(text: str | None, tone: str = "bad") -> str:
    """A full-width banner under the status strip (empty string when there is nothing to say)."""
    if not text:
        return ""
    return f'<div class="banner {esc(tone)}" data-banner="entry_drought">{esc(text)}</div>'


def empty_home_html(home: str) -> str:
    """What to do when the home has no state files (empty or mistyped ``--home``)."""
    return (
        '<div class="guide"><h3>No fund data here yet</h3>'
        f"<p>The dashboard reads the state files under <code>{esc(home)}/state</code>, and there are none.</p>"
        "<ul><li>Record a simulated session into this home: "
        f"<code>hedge run --bars 2000 --home {esc(home)}</code> (or <code>hedge demo</code>).</li>"
        "<li>Or point the dashboard at the home your engine writes to: "
        "<code>hedge dashboard --home DIR</code>, or set <code>HEDGE_HOME</code>.</li>"
        "<li>If the log exists but the state files do not, rebuild them: <code>hedge rebuild</code>.</li></ul>"
        "<p>This page fills in by itself as soon as the files appear.</p></div>")


def _signed_class(value: float | None) -> str:
    if value is None or value == 0:
        return ""
    return "pos" if value > 0 else "neg"


def aum_table_html(slices: list[dict[str, Any]], total: Any, total_pnl: Any) -> str:
    """The AUM figures beside the donut: bucket, value, PnL, share, and the total."""
    if not slices:
        return '<div class="empty">No AUM figures yet: they appear with the first NAV reading of a session.</div>'
    rows = []
    for i, s in enumerate(slices):
        rows.append(
            f'<tr data-bucket="{esc(s["key"])}"><td><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}">'
            f'</span>{esc(s["label"])}</td><td class="num">{esc(fmt.usd(s["value"]))}</td>'
            f'<td class="num {_signed_class(s["pnl"])}">{esc(fmt.usd(s["pnl"], sign=True))}</td>'
            f'<td class="num">{esc(fmt.pct(s["share"], 1))}</td></tr>')
    pnl = fmt.num(total_pnl)
    rows.append(f'<tr class="total"><td>Total AUM</td><td class="num" data-aum-total>{esc(fmt.usd(total))}</td>'
                f'<td class="num {_signed_class(pnl)}">{esc(fmt.usd(pnl, sign=True))}</td><td class="num">100%</td></tr>')
    head = '<tr><th>Bucket</th><th class="num">Value</th><th class="num">PnL</th><th class="num">Share</th></tr>'
    return f'<table class="aum">{head}{"".join(rows)}</table>'


def donut_data(slices: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """ColumnDataSource columns for the donut: one row per bucket (zero-size when no value)."""
    values = [max(s["value"] or 0.0, 0.0) for s in slices]
    total = sum(values)
    start, starts, ends = math.pi / 2, [], []
    for v in values:
        sweep = 2 * math.pi * v / total if total else 0.0
        starts.append(start - sweep)
        ends.append(start)
        start -= sweep
    return {
        "key": [s["key"] for s in slices], "label": [s["label"] for s in slices], "value": values,
        "value_fmt": [fmt.usd(s["value"]) for s in slices],
        "pnl_fmt": [fmt.usd(s["pnl"], sign=True) for s in slices],
        "share_fmt": [fmt.pct(s["share"], 1) for s in slices],
        "start": starts, "end": ends, "color": [PALETTE[i % len(PALETTE)] for i in range(len(slices))],
    }


def donut(slices: list[dict[str, Any]], total: Any) -> tuple[Any, ColumnDataSource, ColumnDataSource]:
    """A Bokeh donut (annular wedges sized in screen pixels, so it stays round and inside its
    column at any width) with value and PnL per slice on hover and the total in the hole."""
    source = ColumnDataSource(donut_data(slices), name=DONUT_SOURCE)
    centre = ColumnDataSource({"x": [0, 0], "y": [0.1, -0.14], "text": ["AUM", fmt.usd(total, 0)],
                               "size": ["12px", "17px"], "color": ["#5b6b80", "#0f1b2d"]}, name="aum-donut-centre")
    p = figure(height=290, min_width=260, sizing_mode="stretch_width", x_range=Range1d(start=-1, end=1), y_range=Range1d(start=-1, end=1),
               toolbar_location=None, tools="", outline_line_color=None, name="aum-donut",
               css_classes=["aum-donut"])
    wedges = p.annular_wedge(x=0, y=0, inner_radius=74, outer_radius=122, inner_radius_units="screen",
                             outer_radius_units="screen", start_angle="start", end_angle="end",
                             fill_color="color", line_color="white", line_width=2, source=source,
                             hover_fill_alpha=0.85, hover_line_color="#0f1b2d")
    p.text(x="x", y="y", text="text", text_font_size="size", text_color="color", text_align="center",
           text_baseline="middle", text_font_style="bold", source=centre)
    p.add_tools(HoverTool(renderers=[wedges], tooltips=[("", "@label"), ("Value", "@value_fmt"),
                                                          ("PnL", "@pnl_fmt"), ("Share", "@share_fmt")]))
    legend_item = LegendItem(label={"field": "label"}, renderers=[wedges])  # type: ignore[list-item]
    p.add_layout(Legend(items=[legend_item],
                        location="center", border_line_color=None, label_text_font_size="12px"), "right")
    p.axis.visible = False
    p.grid.visible = False
    p.background_fill_color = None
    p.border_fill_color = None
    return p, source, centre


#: A cell that reads as a figure ("$1,234.50", "-0.42%", "+12 bps", "1.8x", "3"): right-aligned.
_FIGURE = re.compile(r"^[+\-\u2212]?\$?[\d.,]+\s*(%|x|bps|ms|s)?$")


def data_table_html(name: str, columns: list[str], rows: list[dict[str, str]], *, scroll: bool = False) -> str:
    """Rows as a plain HTML table (``data-table="name"``); a column whose every value is a
    figure is right-aligned; ``scroll``: inside a box of about ten rows' height that scrolls.

    The dashboard's tables are small (a row per symbol, 50 recent risk checks): plain HTML
    costs the browser nothing to lay out, where a grid widget cost ~1 s of the first render
    (docs/performance.md)."""
    if not rows:
        return ""
    figure = {col: all(v in ("", "-") or _FIGURE.match(v) for v in (r.get(col, "") for r in rows))
              for col in columns}
    head = "".join(f'<th class="num">{esc(col)}</th>' if figure[col] else f"<th>{esc(col)}</th>"
                   for col in columns)
    body = "".join("<tr>" + "".join(f'<td class="num">{esc(r.get(col, ""))}</td>' if figure[col]
                                    else f'<td>{esc(r.get(col, ""))}</td>' for col in columns) + "</tr>"
                   for r in rows)
    table = f'<table class="data" data-table="{esc(name)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="scroll">{table}</div>' if scroll else table


def mode_banner_html(word: str | None) -> str:
    """The account-mode banner (SIMULATED / PAPER / TESTNET); empty for a live account."""
    if not word:
        return ""
    return (f'<div class="mode-banner" role="status">{esc(word)} account · '
            "these numbers are not a live fund's</div>")


def windows_html(columns: list[str], rows: list[dict[str, str]]) -> str:
    """The "KPIs by window" table: one row per KPI, one column per window."""
    if not rows:
        return ""
    head = "".join(f'<th class="{"num" if i else ""}">{esc(c)}</th>' for i, c in enumerate(columns))
    body = "".join("<tr>" + "".join(f'<td class="{"num" if i else ""}">{esc(r.get(c, ""))}</td>'
                                    for i, c in enumerate(columns)) + "</tr>" for r in rows)
    return f'<table class="aum windows"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def nav_charts(points: list[dict[str, float]],
               markers: list[dict[str, Any]] | None = None) -> tuple[Any, Any] | None:
    """hvplot NAV line and drawdown area over time, or None with fewer than 2 points.
    ``markers``: session starts drawn as dashed vertical lines on both charts."""
    if len(points) < 2:
        return None
    import holoviews as hv
    import hvplot.pandas  # noqa: F401  (registers .hvplot; imported late: it is slow)

    df = pd.DataFrame(points)
    df["time"] = pd.to_datetime(df["ts"], unit="s", utc=True).dt.tz_localize(None)
    df["drawdown_pct"] = -100.0 * df["drawdown_frac"]
    common = {"x": "time", "responsive": True, "xlabel": "", "grid": True, "tools": ["hover"],
              "toolbar": None}
    nav = df.hvplot.line(y="nav_usd", ylabel="NAV (USD)", height=260, color="#1d4ed8", line_width=2,
                         yformatter="$%.0f", hover_cols=["nav_usd"], title="", **common)
    dd = df.hvplot.area(y="drawdown_pct", ylabel="Drawdown (%)", height=170, color="#c53030", alpha=0.35,
                        line_color="#c53030", yformatter="%.2f%%", title="", **common)
    t0, t1 = df["time"].iloc[0], df["time"].iloc[-1]
    lines = []
    for m in markers or []:
        at = pd.to_datetime(m["ts"], unit="s", utc=True).tz_localize(None)
        if t0 <= at <= t1:
            lines.append(hv.VLine(at).opts(color="#64748b", line_dash="dashed", line_width=1))
    if lines:
        nav = nav * hv.Overlay(lines)
        dd = dd * hv.Overlay(lines)
    return nav, dd


def bars_html(counts: list[tuple[str, int]], decisions: dict[str, str]) -> str:
    """Vetoes by gate as horizontal bars, with the session's allow/clamp/veto counts above."""
    head = ('<div class="counts"><span>session decisions</span>'
            + "".join(f'<span data-decisions="{esc(k)}">{esc(k)} <b>{esc(v)}</b></span>'
                      for k, v in decisions.items()) + "<span>· vetoes by gate</span></div>")
    if not counts:
        return head + '<div class="empty">No vetoes in this session.</div>'
    top = max(n for _, n in counts) or 1
    rows = "".join(
        f'<div class="row" data-gate="{esc(g)}"><span>{esc(g)}</span><div class="track">'
        f'<div class="fill" style="width:{100 * n / top:.1f}%"></div></div><span class="n">{n}</span></div>'
        for g, n in counts)
    return head + f'<div class="bars">{rows}</div>'
