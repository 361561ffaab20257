"""Where a websocket gap starts: its last sign of life, not when the loss was noticed."""

from __future__ import annotations

import queue
from typing import Any

from engine.venues.binance.client import BinanceRest, StreamConn
from engine.venues.binance.env import Redactor, load_env
from engine.venues.binance.errors import Faults
from engine.venues.binance.streams import StreamSupervisor


def supervisor(now: list[int]) -> StreamSupervisor:
    env = load_env({"BINANCE_API_KEY": "k" * 16, "BINANCE_API_SECRET": "s" * 16, "DRY_RUN": "0",
                    "BINANCE_BASE_URL": "http://127.0.0.1:9", "BINANCE_STREAM_URL": "ws://127.0.0.1:9"})
    redact = Redactor("k" * 16, "s" * 16)
    sink: queue.Queue[tuple[str, int, Any, str]] = queue.Queue()
    sup = StreamSupervisor(env, BinanceRest(env, redact), Faults(redact, lambda: now[0] * 1_000_000), redact,
                           sink, now_ms=lambda: now[0], keepalive_s=1800, stale_after_s=300,
                           backoff_base_s=0.1, backoff_max_s=1.0)
    sup.conns["private"] = StreamConn("private", env.route_url("private"), sink, lambda: [], redact)
    return sup


def test_a_gap_starts_at_the_newest_frame_heard_not_when_the_loss_is_noticed() -> None:
    now = [1_000]
    sup = supervisor(now)
    sup.alive_ms["private"] = 1_000  # connected at 1,000
    sup.heard("private", 1_500)  # a frame stamped 1,500
    sup.heard("private", 1_200)  # an older one arriving late changes nothing
    now[0] = 400_000  # the close is noticed five minutes later (a busy loop, a silent socket)
    sup.on_closed("private", "closed by server")
    assert sup.down_since_ms["private"] == 1_500


def test_a_quiet_stream_gap_starts_at_its_connection() -> None:
    now = [2_000]
    sup = supervisor(now)
    sup.alive_ms["private"] = 2_000
    now[0] = 9_000_000
    sup.on_closed("private", "gone")
    assert sup.down_since_ms["private"] == 2_000
