"""Message text and token redaction: properties over arbitrary inputs."""

from __future__ import annotations

import string

from hypothesis import assume, given
from hypothesis import strategies as st

from config.settings import TelegramSettings
from projections.alerts.delivery import TelegramTarget, redact
from projections.alerts.follower import start_if_configured
from projections.alerts.text import TITLES, Snapshot, render

_finite = st.floats(min_value=0.0, max_value=1e9, allow_nan=False)
_regime = st.sampled_from(["low", "normal", "high", "unknown"])


@given(
    kind=st.sampled_from(sorted(TITLES)), nav=st.none() | st.floats(min_value=1.0, max_value=1e9),
    ref=st.none() | st.floats(min_value=1.0, max_value=1e9), dd=st.floats(min_value=0, max_value=1),
    regimes=st.dictionaries(st.sampled_from(["BTCUSDT", "ETHUSDT", "SOLUSDT"]),
                            st.tuples(_regime, st.none() | _finite), max_size=3),
    fills=st.integers(0, 500), capped=st.integers(0, 9), ts=st.integers(0, 4_000_000_000 * 10**9),
    reasons=st.lists(st.text(string.ascii_letters + " ->%.+", min_size=1, max_size=60), min_size=1, max_size=4),
)
def test_every_message_is_at_most_six_short_lines(kind, nav, ref, dd, regimes, fills, capped, ts, reasons) -> None:  # type: ignore[no-untyped-def]
    snap = Snapshot(session_id="0123456789abcdef", ts_ns=ts, nav=nav, ref_nav=ref, dd=dd, dd_state="normal",
                    regimes=regimes, atr_low=0.75, atr_high=1.5, health=0.8 if fills else None,
                    router={"window_fills": fills, "window_slices": fills // 2, "maker_fill_rate": 0.5,
                            "fallback_ratio": 0.1 if fills else None, "slip_q95": 1.0 if fills else None,
                            "quality": "good" if fills else "unknown"}, capped=capped)
    text = render(kind, reasons, snap)
    lines = text.splitlines()
    assert 5 <= len(lines) <= 6
    assert len(text) < 1200  # far below Telegram's 4096
    assert lines[0].startswith(f"gpt-hedge {TITLES[kind]}")
    assert render(kind, reasons, snap) == text  # deterministic


def test_the_regime_beside_a_ratio_never_contradicts_it() -> None:
    """The confirmed regime with its ratio when they agree; a ratio pointing elsewhere is named
    as a regime not yet confirmed (the old text printed "low (now 1.52x)")."""
    from projections.alerts.text import regime_text

    assert regime_text("low", 1.52, 0.75, 1.5) == "low (confirmed; now 1.52x, high not yet confirmed)"
    assert regime_text("normal", 1.05, 0.75, 1.5) == "normal (1.05x)"
    assert regime_text("high", 1.62, 0.75, 1.5) == "high (1.62x)"
    assert regime_text("unknown", None, 0.75, 1.5) == "unknown"


_tok_rest = st.text(string.ascii_letters + string.digits + "_-", min_size=35, max_size=35)


@given(bot_id=st.integers(100000, 10**10), rest=_tok_rest, before=st.text(max_size=40), after=st.text(max_size=40))
def test_redact_removes_the_token_wherever_it_appears(bot_id: int, rest: str, before: str, after: str) -> None:
    assume(rest not in before + after)
    token = f"{bot_id}:{rest}"
    for text in (before + token + after, f"{before}https://api.telegram.org/bot{token}/sendMessage{after}"):
        assert rest not in redact(text, token)
        assert rest not in redact(text)  # even without knowing the token


def test_alert_ids_are_not_mistaken_for_tokens() -> None:
    line = "sent summary 59abf12b12024a6e:150390:dd_escalation (message 7)"
    assert redact(line) == line


def test_target_repr_hides_the_token_and_env_is_validated() -> None:
    t = TelegramTarget.from_env({"TELEGRAM_BOT_TOKEN": "12345:abcdefghijklmnop", "TELEGRAM_CHAT_ID": "42"})
    assert "abcdefghijklmnop" not in repr(t) and t.api_base == "https://api.telegram.org"
    for bad in ({"TELEGRAM_CHAT_ID": "42"}, {"TELEGRAM_BOT_TOKEN": "nonsense", "TELEGRAM_CHAT_ID": "42"}):
        try:
            TelegramTarget.from_env(bad)
        except ValueError as exc:
            assert "nonsense" not in str(exc)
        else:
            raise AssertionError("accepted a bad environment")


def test_start_if_configured_starts_nothing_without_a_token(capsys) -> None:  # type: ignore[no-untyped-def]
    assert start_if_configured(telegram=TelegramSettings.from_env({})) is None
    assert start_if_configured(telegram=TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": "12345:abcdefghijklmnop"})) is None
    assert "TELEGRAM_CHAT_ID not set" in capsys.readouterr().err
