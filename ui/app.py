"""The investor dashboard: one Panel page per browser session, rebuilt from state files.

``create_app(home)`` builds the page; a periodic callback compares the state files'
(mtime, size) signature every ``REFRESH_MS`` and, when anything changed, re-reads the
files and swaps every pane's content in place (no page reload, no flicker of the layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import panel as pn

from ui import components as c
from ui import fmt, model, state

REFRESH_MS = 2000
HISTORY = str(Path("state") / "nav_history.json")  # its entry in state.signature()
TITLE = "gpt-hedge · Fund dashboard"
POSITION_COLUMNS = ["Symbol", "Side", "Qty", "Entry", "Mark", "Notional", "PnL", "TP", "SL",
                    "Symbol DD state", "Symbol DD today", "ATR ratio", "ATR regime"]
SYMBOL_COLUMNS = ["Symbol", "Position", "Last close", "ATR", "ATR %", "ATR ratio", "ATR regime",
                  "Symbol DD state", "Symbol DD today"]
VETO_COLUMNS = ["Time", "Symbol", "Outcome", "Gate", "Threshold", "Observation"]
#: A live account's data older than this (wall clock) is shown as stale, in red.
LIVE_STALE_S = 300
TUNING_COLUMNS = ["Symbol", "Routing proposal", "Evidence", "Routing", "Weight", "Weight evidence", "Allocation"]
ROUTER_COLUMNS = ["Symbol", "Quality", "Score", "Maker fill", "Fallback", "Slip p50 (bps)",
                  "Slip q95 (bps)", "Fills", "Orders", "Post-only rejects", "Last fill"]

#: Each section is a card on a grey page (styles of the section's Column).
CARD = {"background": "#ffffff", "border-radius": "8px", "box-shadow": "0 1px 3px rgba(15, 27, 45, .10)",
        "padding": "6px 4px"}


def _html(text: str = "", **kw: Any) -> pn.pane.HTML:
    return pn.pane.HTML(text, stylesheets=[c.css_url()], sizing_mode="stretch_width", **{"margin": (4, 8), **kw})


#: Section titles and subtitles. A section whose body starts with one HTML pane carries its
#: title in that pane (``head``): every pane is a model the server builds for each visitor.
SECTIONS: dict[str, tuple[str, str]] = {
    "risk": ("Risk KPIs", "drawdown, volatility, costs and execution at a glance"),
    "overview": ("Overview", "futures NAV, total AUM, drawdown and execution"),
    "shadow": ("Live vs shadow", "a second decider on the same bars with one config change, filled on "
               "simulated matching"),
    "aum": ("AUM breakdown (USD)", "futures NAV plus off-exchange holdings · hover a slice"),
    "performance": ("Performance", "risk-adjusted return, edge per round trip, costs - each over the window "
                    "in its title"),
    "positions": ("Open positions", "marks, take-profit / stop-loss, and each symbol's own intraday drawdown "
                  "and volatility (the portfolio's drawdown state is on the Risk KPIs card)"),
    "nav": ("NAV and drawdown", "the whole history: daily, then hourly, then every recent reading"),
    "vetoes": ("Risk checks", "recent orders blocked or reduced by a risk limit: the limit and what was observed"),
    "router": ("Execution quality", "maker-first order routing per traded symbol"),
    "symbols": ("Symbols", "volatility regime and each symbol's own intraday drawdown, for the symbols traded "
                "or held"),
    "tuning": ("Tuning proposals", "routing and allocation changes the engine proposes from its own fills and "
               "round trips, the evidence, and whether they were applied"),
}


def head(key: str) -> str:
    """The title block of section ``key``."""
    return c.section_title(*SECTIONS[key])


class Table:
    """A table's pane (plain HTML, ``components.data_table_html``), the rows it shows, the
    section title above (``head``, when it leads its section) and a note below."""

    def __init__(self, name: str, columns: list[str], *, scroll: bool = False, titled: bool = True) -> None:
        self.name, self.columns, self.scroll = name, columns, scroll
        self.head = head(name) if titled else ""
        self.rows: list[dict[str, str]] = []
        self.pane = _html()

    def show(self, rows: list[dict[str, str]], note: str = "") -> None:
        """Show ``rows`` and ``note`` (e.g. why there are no rows; hidden when all is empty)."""
        self.rows = rows
        self.pane.object = self.head + c.data_table_html(self.name, self.columns, rows, scroll=self.scroll) + note
        self.pane.visible = bool(self.pane.object)


class Dashboard:
    """One session's page and the panes it refreshes."""

    def __init__(self, home: Path, *, defer_charts: bool = False) -> None:
        self.home = home
        self.defer_charts = defer_charts  # build the charts after the first render (load_charts)
        self.sig: tuple[Any, ...] | None = None
        self.banner = _html()
        self.status = _html()
        self.drought = _html()  # "no entries" banner (risk_snapshot.json entry_drought)
        self.guide = _html()
        self.risk_cards = _html()
        self.overview_cards = _html()
        self.performance_cards = _html()
        self.windows = _html()
        self.aum_table = _html()
        self.donut_fig, self.donut_source, self.donut_centre = c.donut([], None)
        self.donut = pn.pane.Bokeh(self.donut_fig, sizing_mode="stretch_width", margin=(4, 8))
        self.positions = Table("positions", POSITION_COLUMNS)
        self.symbols = Table("symbols", SYMBOL_COLUMNS)
        self.nav_chart = pn.pane.HoloViews(None, sizing_mode="stretch_width", margin=(4, 8))
        self.dd_chart = pn.pane.HoloViews(None, sizing_mode="stretch_width", margin=(4, 8))
        self.chart_note = _html()
        # the charts section: the note or the two charts (panes swapped in, never shown/hidden:
        # toggling a HoloViews pane's visibility after the first render fails in Panel 1.9)
        self.chart_box = pn.Column(self.chart_note, sizing_mode="stretch_width", margin=0)
        if defer_charts:
            self.chart_note.object = '<div class="empty">Drawing the NAV history…</div>'
        self.vetoes = Table("vetoes", VETO_COLUMNS, scroll=True, titled=False)
        self.gates = _html()
        self.router = Table("router", ROUTER_COLUMNS)
        self.shadow_cards = _html()
        self.tuning = Table("tuning", TUNING_COLUMNS)
        self.shadow_section: pn.Column | None = None
        self.has_shadow = False
        self.sections: list[pn.Column] = []
        self.present = False
        self.body: pn.Column | None = None
        self.refresh(force=True)

    # -- layout ---------------------------------------------------------------------------
    def section(self, key: str, *body: Any, titled: bool = False) -> pn.Column:
        """Section ``key`` (SECTIONS); ``titled``: its first pane shows the title itself."""
        title = [] if titled else [_html(head(key))]
        col = pn.Column(*title, *body, sizing_mode="stretch_width", css_classes=["hedge-section"],
                        styles=CARD, margin=(6, 0), visible=self.present)
        self.sections.append(col)
        return col

    def template(self) -> pn.Column:
        """The whole page: a title bar, then the status card and one card per section (plain
        Panel layouts: a Panel template cost half the server's build of each visitor's page,
        and its FAST bundle 0.9 MB of script in the browser; docs/performance.md)."""
        head = pn.Column(self.banner, self.status, self.drought, self.guide, sizing_mode="stretch_width",
                         styles=CARD, margin=(6, 0))
        sections = [
            self.section("risk", self.risk_cards, titled=True),
            self.section("overview", self.overview_cards, titled=True),
            self.section("aum", pn.Row(pn.Column(self.donut, sizing_mode="stretch_width", min_width=300,
                                                 css_classes=["aum-donut-col"]),
                                       pn.Column(self.aum_table, sizing_mode="stretch_width", min_width=300),
                                       sizing_mode="stretch_width")),
            self.section("performance", self.performance_cards, self.windows, titled=True),
            self.section("positions", self.positions.pane, titled=True),
            self.section("nav", self.chart_box),
            self.section("vetoes", pn.Row(self.gates, max_width=640, sizing_mode="stretch_width"), self.vetoes.pane),
            self.section("router", self.router.pane, titled=True),
            self.section("symbols", self.symbols.pane, titled=True),
            self.section("tuning", self.tuning.pane, titled=True),
        ]
        self.shadow_section = self.section("shadow", self.shadow_cards, titled=True)
        self.shadow_section.visible = self.present and self.has_shadow  # show() ran before it existed
        sections.insert(2, self.shadow_section)
        # an empty home: the sections in one hidden body (the guide says what to do)
        self.body = pn.Column(*sections, sizing_mode="stretch_width", visible=self.present, margin=0)
        top = _html(c.title_bar_html(TITLE), margin=0)
        page = pn.Column(head, self.body, sizing_mode="stretch_width", max_width=1480, align="center",
                         margin=(4, 16))
        return pn.Column(top, page, sizing_mode="stretch_width", margin=0,
                         styles={"background": "#f1f4f8", "min-height": "100vh"})

    # -- refresh --------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Re-read the state files if their signature changed; True when the page changed."""
        sig = state.signature(self.home)
        if not force and sig == self.sig:
            return False
        old = dict(((n, (m, z)) for n, m, z in self.sig) if self.sig else ())
        charts_changed = force or old.get(HISTORY) != next(((m, z) for n, m, z in sig if n == HISTORY), None)
        if self.sig is None and self.defer_charts:
            charts_changed = False  # the first render goes out without them: load_charts draws them
        self.sig = sig
        self.show(state.load(self.home), charts=charts_changed)
        return True

    def show(self, s: state.Snapshot, charts: bool = True) -> None:
        """Put a snapshot's numbers into every pane (the charts only when ``charts``: they
        are the expensive part and change only with nav_history.json)."""
        self.present = bool(s.present)
        for sec in self.sections:
            sec.visible = self.present
        if self.body is not None:
            self.body.visible = self.present
        self.guide.object = c.empty_home_html(str(s.home)) if not s.present else ""
        self.guide.visible = not s.present
        banner = model.mode_banner(s)
        self.banner.object = c.mode_banner_html(banner)
        self.banner.visible = banner is not None
        self.status.object = c.status_html(*model.status_items(s, live_stale_s=LIVE_STALE_S))
        self.drought.object = c.banner_html(model.drought_banner(s))
        self.drought.visible = bool(self.drought.object)
        self.risk_cards.object = head("risk") + c.cards_html(model.risk_cards(s))
        self.overview_cards.object = head("overview") + c.cards_html(model.overview_cards(s))
        self.performance_cards.object = head("performance") + c.cards_html(model.performance_cards(s))
        self.windows.object = c.windows_html(model.window_columns(s), model.window_rows(s))
        self.windows.visible = bool(self.windows.object)
        slices = model.aum_slices(s)
        total = model.aum_total(s)
        self.donut_source.data = c.donut_data(slices)
        self.donut_centre.data = {**self.donut_centre.data, "text": ["AUM", fmt.usd(total, 0)]}
        self.aum_table.object = c.aum_table_html(slices, total, state.sub(s.aum, "total", "pnl"))
        positions = model.position_rows(s)
        self.positions.show(positions, "" if positions else (
            '<div class="empty">No open positions: the fund is flat. Positions appear here with their '
            "marks, PnL, take-profit and stop-loss as soon as one is opened.</div>"))
        idle = model.idle_symbols(s)
        idle_note = (f'<div class="empty">Not traded this session ({len(idle)}): '
                     f'{c.esc(", ".join(idle))}</div>') if idle else ""
        self.symbols.show(model.symbol_rows(s), idle_note)
        if charts:
            self.show_charts(s)
        self.vetoes.show(model.veto_rows(s))
        self.gates.object = c.bars_html([(model.gate_words(g), n) for g, n in model.veto_counts(s)],
                                        model.decision_counts(s))
        router_rows = model.router_rows(s)
        self.router.show(router_rows, idle_note if router_rows else (
            '<div class="empty">No orders routed yet: execution quality appears with the first fill.</div>'))
        shadow = model.shadow_cards(s)
        self.shadow_cards.object = head("shadow") + c.cards_html(shadow)
        self.has_shadow = bool(shadow)
        if self.shadow_section is not None:
            self.shadow_section.visible = self.present and bool(shadow)
        tuning = model.tuning_rows(s)
        self.tuning.show(tuning, "" if tuning else (
            '<div class="empty">No tuning proposals yet: they appear once a symbol has enough fills '
            "and round trips to judge.</div>"))

    def load_charts(self) -> None:
        """Draw the charts once the page is in the browser (the first render does not wait for
        hvplot: ``bench/dashboard.py`` measures the first full render)."""
        self.defer_charts = False
        self.show_charts(state.load(self.home))

    def show_charts(self, s: state.Snapshot) -> None:
        """NAV and drawdown charts, or a note when there is no history yet."""
        charts = c.nav_charts(model.nav_points(s), model.session_markers(s))
        if charts is None:
            self.chart_note.object = ('<div class="empty">No NAV history yet: the chart appears after the '
                                      "session's first two NAV readings.</div>")
            self.chart_box.objects = [self.chart_note]
        else:
            self.nav_chart = pn.pane.HoloViews(charts[0], sizing_mode="stretch_width", margin=(4, 8))
            self.dd_chart = pn.pane.HoloViews(charts[1], sizing_mode="stretch_width", margin=(4, 8))
            self.chart_note.object = ""  # no stale "Drawing..." text left in the page
            self.chart_box.objects = [self.nav_chart, self.dd_chart]


def create_app(home: str | Path | None = None, refresh_ms: int = REFRESH_MS) -> pn.Column:
    """Build one session's page; inside a server, once a browser has it (Panel's onload),
    draw the charts and start the refresh callback (a session no browser opened - e.g. the
    one ``hedge serve`` builds at start - never polls the files)."""
    served = pn.state.curdoc is not None
    dash = Dashboard(state.hedge_home(home), defer_charts=served)
    page = dash.template()
    if served:
        def loaded() -> None:
            dash.load_charts()
            if refresh_ms > 0:
                def tick() -> None:
                    dash.refresh()

                pn.state.add_periodic_callback(tick, period=refresh_ms)

        pn.state.onload(loaded)
    return page
