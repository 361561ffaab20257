"""The live shadow pipeline: the what-if replay, running beside a live session in real time.

With ``pipeline_v6_shadow_enabled`` (and an overlay: ``hedge run --shadow key=value``
or ``--shadow-config DIR``), ``ShadowPipeline`` receives every event the live loop
records (``Engine(on_event=...)``). Each completed bar step (every symbol's
``KlineClosed`` of one open time, with the funding rate the ticks carried) is handed
to a second engine in its own thread: the engine's own loop on the **simulated
venue** (it never touches the real venue), over exactly the bars the live session
recorded, with the live session's recorded config and the overlay applied
(``replay.whatif.what_if_config`` + ``simulate``, the code ``hedge replay --set``
runs). Its decisions are recorded on the shadow stream: a hash-chained log of their
own in ``$HEDGE_HOME/shadow/<live session id>/eventlog.sqlite`` (so ``hedge replay
--verify`` and ``hedge audit --home`` work on it like on a live log).

Because the shadow sees the same bars in the same order through the same code, once
the live session ended its counts equal what ``hedge replay <session> --set ...``
reports for that session. ``projections.shadow`` folds the shadow log into
``pipeline_v6_shadow_head.json`` and ``pipeline_v6_compare_summary.json``.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eventlog.events import Event, KlineClosed, MarketTick, SessionStarted
from eventlog.store import SessionInfo
from replay.source import Session
from replay.whatif import Bar, open_scratch, simulate, what_if_config

MS = 1_000_000
SHADOW_DIR = "shadow"


def shadow_dir(home: Path, session_id: str) -> Path:
    return Path(home) / SHADOW_DIR / session_id


class LiveMarket:
    """Bar steps handed over one at a time by the live loop (blocks until the next one)."""

    def __init__(self, start_ms: int) -> None:
        self.start_ms = start_ms
        self.q: queue.Queue[tuple[int, list[Bar], dict[str, float]] | None] = queue.Queue()
        self._rates: dict[str, float] = {}

    def funding_rates(self) -> dict[str, float]:
        return dict(self._rates)

    def __iter__(self) -> Iterator[tuple[int, list[Bar]]]:
        while True:
            item = self.q.get()
            if item is None:
                return
            open_ms, bars, rates = item
            self._rates = rates
            yield open_ms, bars


class ShadowPipeline:
    """Feeds the live session's bars to a shadow engine (overlay config, simulated matching)."""

    def __init__(self, home: Path, sets: list[str]) -> None:
        self.home = Path(home)
        self.sets = list(sets)
        self.started: SessionStarted | None = None
        self.market: LiveMarket | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.shadow_session: str | None = None
        self._step: tuple[int, list[Bar], dict[str, float]] | None = None
        self._seen: set[tuple[str, int]] = set()
        self._last_rate: dict[str, float] = {}
        self._interval: str | None = None

    # -- fed by the live loop (its thread) ----------------------------------------------

    def on_event(self, ev: Event) -> None:
        t = type(ev)
        if t is MarketTick:
            if ev.funding_rate is not None:  # type: ignore[attr-defined]
                self._last_rate[ev.symbol] = ev.funding_rate  # type: ignore[attr-defined]
        elif t is KlineClosed:
            self._on_kline(ev)  # type: ignore[arg-type]
        elif t is SessionStarted and self.started is None:
            self.started = ev  # type: ignore[assignment]

    def _on_kline(self, k: KlineClosed) -> None:
        key = (k.symbol, k.open_time_ms)
        if key in self._seen:
            return
        self._seen.add(key)
        self._interval = self._interval or k.interval
        if self._step is not None and k.open_time_ms != self._step[0]:
            if k.open_time_ms < self._step[0]:
                return  # a late bar of an older step: the shadow has moved on (live klines may interleave)
            self._hand_over()
        if self._step is None:
            self._step = (k.open_time_ms, [], {})
        self._step[1].append((k.symbol, k.open, k.high, k.low, k.close, k.volume))
        if k.symbol in self._last_rate:
            self._step[2][k.symbol] = self._last_rate[k.symbol]

    def _hand_over(self) -> None:
        step, self._step = self._step, None
        if step is None or self.error is not None:
            return
        if self.thread is None:
            self._start(step[0])
        assert self.market is not None
        self.market.q.put(step)

    def _start(self, first_open_ms: int) -> None:
        assert self.started is not None, "the shadow needs the live SessionStarted first"
        st = self.started
        info = SessionInfo(session_id=st.session_id, first_seq=st.seq, started_ns=st.ts_event_ns, mode=st.mode,
                           venue=st.venue, symbols=list(st.symbols), config_hash=st.config_hash)
        session = Session(info, st, None)
        loaded, changes = what_if_config(session, self.sets, self._interval)
        start_ms = min(st.ts_event_ns // MS, first_open_ms)
        self.market = LiveMarket(start_ms)
        directory = shadow_dir(self.home, st.session_id)
        params = {"what_if_of": st.session_id, "set": list(self.sets), "changes": changes, "shadow": True}

        def run() -> None:
            try:
                assert self.market is not None
                with open_scratch(directory) as scratch:
                    res = simulate(scratch, session, loaded, self.market, params)  # type: ignore[arg-type]
                    self.shadow_session = res.session_id
            except BaseException as exc:  # the shadow must never stop live trading
                self.error = exc
                print(f"shadow pipeline stopped: {type(exc).__name__}: {exc}", file=sys.stderr)

        self.thread = threading.Thread(target=run, name="hedge-shadow", daemon=True)
        self.thread.start()

    def close(self, timeout: float | None = None) -> None:
        """Hand over the last step and let the shadow session end (``data_end``)."""
        if self._step is not None:
            self._hand_over()
        if self.market is not None:
            self.market.q.put(None)
        if self.thread is not None:
            self.thread.join(timeout)


def check_shadow_sets(started_config: dict[str, Any], sets: list[str]) -> None:
    """Refuse a bad overlay before the live session starts (the config loader's own errors)."""
    from config.loader import apply_overrides, from_dict

    from_dict(apply_overrides(started_config, sets)[0], source="--shadow")
