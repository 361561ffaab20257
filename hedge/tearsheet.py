"""``hedge report --html FILE``: one self-contained HTML tearsheet of a session.

Bokeh figures with INLINE resources (BokehJS embedded: the file loads nothing from
the network or the disk, whichever other Bokeh extension, e.g. Panel, the process
has imported), plus plain HTML tables. Charts: equity and drawdown, monthly returns
heatmap, distribution of daily returns, vetoes by gate per day, exposure by tier.
Tables: the headline figures (the report's), per symbol, per month, round trips.
The header names the session, the config hash and the log head (``SEQ:HASH``) the
report was built from, so an auditor can tie it to the log (``hedge verify --head``).
"""

from __future__ import annotations

import html
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import BasicTicker, ColumnDataSource, LinearColorMapper, NumeralTickFormatter
from bokeh.models.annotations import ColorBar
from bokeh.models.widgets import Div
from bokeh.palettes import Category10_10, RdYlGn11
from bokeh.plotting import figure
from bokeh.resources import Resources

from projections.audit_sql import connect

WIDTH = 1000
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
CHART_NAMES = ("equity", "drawdown", "monthly_returns", "return_distribution", "vetoes_by_gate", "exposure_by_tier")


class SelfContained(Resources):
    """INLINE resources that reference no file.

    Bokeh adds the ``__javascript__``/``__css__`` files of every model class registered
    in the process, used or not: once Panel is imported, that is a ``<script src>`` of
    Panel's es-module-shims. The tearsheet draws only Bokeh's own models, all inline.
    """

    def __init__(self, components: list[Any] | None = None) -> None:
        super().__init__(mode="inline", components=components)

    def clone(self, *, components: list[Any] | None = None) -> SelfContained:
        return SelfContained(components if components is not None else list(self.components))

    @property
    def js_files(self) -> list[str]:
        return []

    @property
    def css_files(self) -> list[str]:
        return []


def _frame(con: Any, sql: str, params: list[Any]) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()  # type: ignore[no-any-return]


def _window(rep: dict[str, Any]) -> tuple[str, list[Any]]:
    w = rep["window"]
    start = datetime.fromisoformat(w["from"].rstrip("Z")) if w["from"] else None
    end = datetime.fromisoformat(w["to"].rstrip("Z")) if w["to"] else None
    sql: str = ""
    params: list[Any] = []
    if start is not None:
        sql, params = sql + " AND ts >= ?", [*params, start]
    if end is not None:
        sql, params = sql + " AND ts <= ?", [*params, end]
    return sql, params


def _fig(name: str, title: str, height: int = 260, **kw: Any) -> Any:
    p = figure(name=name, title=title, width=WIDTH, height=height, toolbar_location="right",
               tools="pan,wheel_zoom,box_zoom,reset,save", **kw)
    p.title.text_font_size = "13px"  # type: ignore[union-attr]
    return p


def _equity(nav: pl.DataFrame) -> list[Any]:
    d = nav.with_columns(dd=1.0 - pl.col("nav_usd") / pl.col("nav_usd").cum_max())
    src = ColumnDataSource({"ts": d["ts"].to_list(), "nav": d["nav_usd"].to_list(), "dd": (-d["dd"]).to_list()})
    eq = _fig("equity", "Equity (NAV, USD)", x_axis_type="datetime")
    eq.line("ts", "nav", source=src, line_width=1.6, color="#1f4e79")
    eq.yaxis.formatter = NumeralTickFormatter(format="$0,0")
    dd = _fig("drawdown", "Drawdown from the running peak", 180, x_axis_type="datetime", x_range=eq.x_range)
    dd.varea(x="ts", y1=0, y2="dd", source=src, color="#c0392b", alpha=0.45)
    dd.yaxis.formatter = NumeralTickFormatter(format="0.0%")
    return [eq, dd]


def _heatmap(months: list[dict[str, Any]]) -> Any:
    years = sorted({m["month"][:4] for m in months})
    data: dict[str, list[Any]] = {"year": [], "month": [], "ret": [], "label": []}
    for m in months:
        if m["return_frac"] is None:
            continue
        data["year"].append(m["month"][:4])
        data["month"].append(MONTHS[int(m["month"][5:7]) - 1])
        data["ret"].append(m["return_frac"])
        data["label"].append(f"{m['return_frac'] * 100:+.2f}%")
    lim = max([abs(x) for x in data["ret"]] + [0.01])
    mapper = LinearColorMapper(palette=list(reversed(RdYlGn11)), low=-lim, high=lim)
    p = _fig("monthly_returns", "Monthly returns", 90 + 50 * max(1, len(years)), x_range=MONTHS, y_range=years,
             tooltips=[("month", "@month @year"), ("return", "@label")])
    src = ColumnDataSource(data)
    p.rect(x="month", y="year", width=1, height=1, source=src, line_color="white",
           fill_color={"field": "ret", "transform": mapper})
    p.text(x="month", y="year", text="label", source=src, text_align="center", text_baseline="middle",
           text_font_size="11px")
    p.add_layout(ColorBar(color_mapper=mapper, ticker=BasicTicker(desired_num_ticks=5),
                          formatter=NumeralTickFormatter(format="0.0%")), "right")
    p.grid.grid_line_color = None
    return p


def _distribution(nav: pl.DataFrame) -> Any:
    daily = (nav.sort("ts").group_by_dynamic("ts", every="1d").agg(pl.col("nav_usd").last())
             .with_columns(r=pl.col("nav_usd").pct_change()).drop_nulls("r"))
    rets = daily["r"].to_numpy()
    p = _fig("return_distribution", f"Distribution of daily returns ({len(rets)} days)", 240)
    if len(rets):
        hist, edges = np.histogram(rets, bins=min(40, max(5, int(math.sqrt(len(rets))) * 2)))
        p.quad(top=hist, bottom=0, left=edges[:-1], right=edges[1:], fill_color="#2e86c1", line_color="white")
    p.xaxis.formatter = NumeralTickFormatter(format="0.0%")
    p.yaxis.axis_label = "days"
    return p


def _vetoes(dec: pl.DataFrame) -> Any:
    v = dec.filter(pl.col("outcome") == "veto").with_columns(day=pl.col("ts").dt.truncate("1d"))
    gates = sorted(v["gate"].unique().to_list()) if v.height else []
    p = _fig("vetoes_by_gate", "Vetoes per day, by gate", 260, x_axis_type="datetime")
    if gates:
        wide = v.pivot(on="gate", index="day", values="seq", aggregate_function="len").fill_null(0).sort("day")
        data: dict[str, list[Any]] = {"day": wide["day"].to_list()}
        for g in gates:
            data[g] = wide[g].cast(pl.Int64).to_list() if g in wide.columns else [0] * wide.height
        colors = [Category10_10[i % 10] for i in range(len(gates))]
        p.vbar_stack(gates, x="day", width=86_400_000 * 0.8, color=colors, source=ColumnDataSource(data),
                     legend_label=gates)
        p.legend.location = "top_left"
        p.legend.label_text_font_size = "10px"
    return p


def _exposure(trades: pl.DataFrame, tiers: dict[str, str], t0: datetime | None, t1: datetime | None) -> Any:
    p = _fig("exposure_by_tier", "Gross exposure by tier (entry notional of open round trips, USD)", 260,
             x_axis_type="datetime")
    if trades.is_empty() or t0 is None or t1 is None:
        return p
    hours = pl.datetime_range(t0, t1, "1h", eager=True)
    n = hours.len()
    h0 = hours[0]
    t = trades.with_columns(tier=pl.col("symbol").replace_strict(tiers, default="OTHER"),
                            notional=pl.col("qty") * pl.col("entry_price"),
                            a=((pl.col("entry_ts") - h0).dt.total_seconds() // 3600).clip(0, n),
                            b=((pl.col("exit_ts").fill_null(t1) - h0).dt.total_seconds() // 3600 + 1).clip(0, n))
    names = sorted(t["tier"].unique().to_list())
    data: dict[str, Any] = {"ts": hours.to_list()}
    for name in names:
        acc = np.zeros(n + 1)
        sub = t.filter(pl.col("tier") == name)
        np.add.at(acc, sub["a"].cast(pl.Int64).to_numpy(), sub["notional"].to_numpy())
        np.add.at(acc, sub["b"].cast(pl.Int64).to_numpy(), -sub["notional"].to_numpy())
        data[name] = np.cumsum(acc)[:n].round(2).tolist()
    colors = [Category10_10[i % 10] for i in range(len(names))]
    p.varea_stack(names, x="ts", color=colors, source=ColumnDataSource(data), legend_label=names, alpha=0.7)
    p.yaxis.formatter = NumeralTickFormatter(format="$0,0")
    p.legend.location = "top_left"
    return p


def _cell(v: Any) -> str:
    return html.escape("—" if v is None else str(v))


def _table(name: str, head: list[str], rows: list[list[Any]], caption: str) -> str:
    ths = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    empty = f'<tr><td colspan="{len(head)}">none in this window</td></tr>' if not rows else ""
    return (f'<table class="t" id="{name}"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{ths}</tr></thead><tbody>{trs}{empty}</tbody></table>")


def _tables(rep: dict[str, Any], trades: pl.DataFrame) -> str:
    from hedge.report_fmt import days, num, pct, usd

    t, r, nav, c = rep["trades"], rep["risk"], rep["nav"], rep["costs"]
    head = [
        ["Start NAV", f"{usd(nav['start_usd'])} USD"], ["End NAV", f"{usd(nav['end_usd'])} USD"],
        ["Return", pct(nav["return_frac"], sign=True)], ["CAGR", pct(nav["cagr"], 1, sign=True)],
        ["Sharpe", num(r["sharpe"])], ["Sortino", num(r["sortino"])], ["Calmar", num(r["calmar"])],
        ["Max drawdown", f"{pct(r['max_dd_frac'])} over {days(r['max_dd_duration_days'])}"],
        ["Round trips", f"{t['round_trips']} closed, {t['open']} open"], ["Win rate", pct(t["win_rate"], 1)],
        ["Profit factor", num(t["profit_factor"])], ["Expectancy", f"{usd(t['expectancy_usd'], True)} USD"],
        ["Avg win / loss", f"{usd(t['avg_win_usd'], True)} / {usd(t['avg_loss_usd'], True)} USD"],
        ["Exposure", pct(rep["exposure"]["time_frac"], 0)], ["Fees", f"{usd(c['fees_usd'])} USD"],
        ["Funding", f"{usd(c['funding_usd'], True)} USD"], ["Net PnL", f"{usd(t['net_pnl_usd'], True)} USD"],
        ["Vetoes", f"{rep['vetoes']['total']} ({rep['vetoes']['clamps']} clamps)"],
        ["Days without a trade", f"{rep['activity']['days_without_trade']} of {rep['activity']['days']}"],
    ]
    out = [_table("headline", ["figure", "value"], head, "Headline figures (definitions: docs/report.md)")]
    out.append(_table("per_symbol", ["symbol", "round trips", "open", "win rate", "net PnL", "fees", "funding"],
                      [[s["symbol"], s["round_trips"], s["open"], pct(s["win_rate"], 1), usd(s["net_pnl_usd"], True),
                        usd(s["fees_usd"]), usd(s["funding_usd"], True)] for s in rep["symbols"]], "Per symbol"))
    out.append(_table("per_month", ["month", "start NAV", "end NAV", "return", "round trips", "net PnL"],
                      [[m["month"], usd(m["start_nav_usd"]), usd(m["end_nav_usd"]), pct(m["return_frac"], sign=True),
                        m["round_trips"], usd(m["net_pnl_usd"], True)] for m in rep["months"]], "Per month"))
    rows = [[x["trade_id"], x["direction"], x["status"], f"{x['qty']:g}",
             str(x["entry_ts"])[:16], usd(x["entry_price"]), str(x["exit_ts"] or "")[:16] or None,
             usd(x["exit_price"]), days(x["holding_s"] / 86_400 if x["holding_s"] is not None else None),
             usd(x["gross_pnl"], True), usd(x["fees_usd"]), usd(x["funding_usd"], True), usd(x["net_pnl"], True)]
            for x in trades.iter_rows(named=True)]
    out.append(_table("trades", ["trade", "side", "status", "qty", "entry (UTC)", "entry price", "exit (UTC)",
                                 "exit price", "held", "gross PnL", "fees", "funding", "net PnL"],
                      rows, f"Round trips ({len(rows)})"))
    return "\n".join(out)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1040px;color:#1b2631}
h1{font-size:22px;margin:0 0 4px} .meta{color:#566573;font-size:12px;font-family:ui-monospace,monospace;
word-break:break-all} table.t{border-collapse:collapse;margin:18px 0;font-size:12px;width:100%}
table.t caption{text-align:left;font-weight:600;font-size:14px;padding:6px 0}
table.t th,table.t td{border-bottom:1px solid #e5e8e8;padding:3px 8px;text-align:right;white-space:nowrap}
table.t th:first-child,table.t td:first-child{text-align:left} #headline{width:auto}
"""


def write_tearsheet(home: Path, rep: dict[str, Any], path: Path) -> None:
    """Write the tearsheet of report ``rep`` (from ``projections.report.build``) to ``path``."""
    sid = rep["session"]["session_id"]
    w, wp = _window(rep)
    con = connect(home)
    try:
        nav = _frame(con, f"SELECT ts, nav_usd FROM nav WHERE session_id = ? AND sources_ok{w} ORDER BY seq",
                     [sid, *wp])
        trades = _frame(con, "SELECT * FROM trades WHERE session_id = ? ORDER BY entry_seq", [sid])
        dec = _frame(con, f"SELECT seq, ts, outcome, gate, symbol, observations->>'tier' AS tier "
                          f"FROM risk_decisions WHERE session_id = ?{w}", [sid, *wp])
    finally:
        con.close()
    tiers = {r["symbol"]: r["tier"] for r in dec.drop_nulls("tier").unique("symbol").iter_rows(named=True)}
    w0 = datetime.fromisoformat(rep["window"]["from"].rstrip("Z")) if rep["window"]["from"] else None
    w1 = datetime.fromisoformat(rep["window"]["to"].rstrip("Z")) if rep["window"]["to"] else None
    s = rep["session"]
    title = f"gpt-hedge tearsheet · session {sid[:8]}"
    header = Div(name="header", text=(
        f"<style>{CSS}</style><h1>{html.escape(title)}</h1><div class='meta'>{html.escape(s['mode'] or '')} on "
        f"{html.escape(s['venue'] or '')} · data {html.escape(s['data_source'] or '-')} · "
        f"{html.escape(rep['window']['from'] or '')} → {html.escape(rep['window']['to'] or '')}<br>"
        f"session {html.escape(sid)} · config {html.escape(s['config_hash'] or '')}<br>"
        f"log head <span id='log-head'>{html.escape(rep.get('log_head', '-'))}</span> "
        f"(check with: hedge verify --head SEQ:HASH)</div>"), width=WIDTH)
    charts = [*_equity(nav), _heatmap(rep["months"]), _distribution(nav), _vetoes(dec),
              _exposure(trades, tiers, w0, w1)]
    # a Div renders in its own shadow root: its style goes inside it
    tables = Div(name="tables", text=f"<style>{CSS}</style>" + _tables(rep, trades), width=WIDTH)
    doc = file_html(column(header, *charts, tables, name="tearsheet"), resources=SelfContained(), title=title)
    path.write_text(doc, encoding="utf-8")
