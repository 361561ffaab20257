"""Binance wire parsers: the official examples parse; nothing else crashes them; every refusal names a field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.venues.binance.wire import (
    RestAccount,
    RestExchangeInfo,
    RestIncome,
    RestKline,
    RestOrder,
    RestPositionRisk,
    RestTrade,
    WireError,
    WsAccountUpdate,
    WsBookTicker,
    WsKline,
    WsMarkPrice,
    WsOrderUpdate,
    convert,
    decode_klines,
    decode_list,
    decode_market,
    decode_user,
)
from tests.fakes.binance_examples import example, raw

# --------------------------------------------------------------------------- the official examples


@pytest.mark.parametrize("name,cls", [
    ("ws_kline.json", WsKline), ("ws_markPriceUpdate.json", WsMarkPrice),
    ("ws_markPriceUpdate_sdk.json", WsMarkPrice), ("ws_bookTicker.json", WsBookTicker),
    ("ws_bookTicker_sdk.json", WsBookTicker),
])
def test_official_market_examples_parse_into_their_structs(name: str, cls: type) -> None:
    assert isinstance(decode_market(raw(name)), cls)


def test_official_kline_example_keeps_strings_as_floats_and_ms_times() -> None:
    k = decode_market(raw("ws_kline.json"))
    assert isinstance(k, WsKline)
    assert (k.k.open, k.k.high, k.k.low, k.k.close, k.k.volume) == (0.001, 0.0025, 0.0015, 0.002, 1000.0)
    assert (k.k.open_time_ms, k.k.close_time_ms, k.k.closed) == (1638747660000, 1638747719999, False)


@pytest.mark.parametrize("name,cls", [
    ("ws_ORDER_TRADE_UPDATE.json", WsOrderUpdate), ("ws_ACCOUNT_UPDATE.json", WsAccountUpdate),
])
def test_official_user_examples_parse_into_their_structs(name: str, cls: type) -> None:
    assert isinstance(decode_user(raw(name)), cls)


def test_official_rest_examples_parse() -> None:
    assert convert(example("rest_account_v3.json"), RestAccount).assets[0].wallet == 23.72469206
    assert convert(example("rest_exchangeInfo.json"), RestExchangeInfo).symbols[0].symbol == "BLZUSDT"
    assert decode_list(example("rest_positionRisk.json"), RestPositionRisk, "p")[0].amount == 30.0
    assert len(decode_list(example("rest_positionRisk_hedge.json"), RestPositionRisk, "p")) == 2
    assert convert(example("rest_newOrder.json"), RestOrder).order_id == 22542179
    assert decode_list(example("rest_userTrades.json"), RestTrade, "t")[0].commission == -0.0781901
    assert decode_klines(example("rest_klines.json"))[0].close_time_ms == 1499644799999


def test_subscribe_answers_and_ignored_user_events_are_not_errors() -> None:
    assert decode_market('{"result": null, "id": 3}').id == 3  # type: ignore[union-attr]
    assert decode_user('{"e": "ACCOUNT_CONFIG_UPDATE", "E": 1, "ac": {"s": "BTCUSDT", "l": 5}}') is None


def test_combined_stream_envelope_is_unwrapped() -> None:
    env = json.dumps({"stream": "bnbusdt@bookTicker", "data": example("ws_bookTicker.json")})
    assert isinstance(decode_market(env), WsBookTicker)


# --------------------------------------------------------------------------- refusals name the field


@pytest.mark.parametrize("text,field", [
    ('{"e": "kline", "E": 1, "s": "X", "k": {"t": "soon"}}', "k.t"),
    ('{"e": "kline", "E": 1, "s": "X"}', "k"),
    ('{"e": "somethingNew", "E": 1}', "e"),
    ('{"E": 1}', "e"),
    ("[1, 2]", "$"),
    ('{"e": "bookTicker"', "$"),
    ('{"e": "bookTicker", "E": 1, "s": "X", "b": "NaN", "B": "1", "a": "1", "A": "1"}', "b"),
])
def test_malformed_market_frame_names_the_field(text: str, field: str) -> None:
    with pytest.raises(WireError) as info:
        decode_market(text)
    assert info.value.field == field


def test_missing_trade_price_in_order_update_names_o_L() -> None:
    bad = example("ws_ORDER_TRADE_UPDATE.json")
    del bad["o"]["L"]
    with pytest.raises(WireError) as info:
        decode_user(json.dumps(bad))
    assert info.value.field == "o.L"


def test_bad_kline_row_names_row_and_column() -> None:
    with pytest.raises(WireError) as info:
        decode_klines([[1, "1", "2", "0.5", "x", "3", 2]])
    assert info.value.field == "klines[0].close"


def test_bad_position_in_list_names_its_index() -> None:
    rows = example("rest_positionRisk_hedge.json")
    rows[1]["positionAmt"] = {"oops": 1}
    with pytest.raises(WireError) as info:
        decode_list(rows, RestPositionRisk, "positionRisk")
    assert info.value.field == "positionRisk[1].positionAmt"


# --------------------------------------------------------------------------- fuzzing

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=4),
    max_leaves=12)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEMPLATES = ["ws_kline.json", "ws_markPriceUpdate.json", "ws_bookTicker.json",
             "ws_ORDER_TRADE_UPDATE.json", "ws_ACCOUNT_UPDATE.json"]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any, delete: bool) -> None:
    for p in path[:-1]:
        obj = obj[p]
    if delete and isinstance(obj, dict):
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


def _decode_any(text: str | bytes) -> None:
    for decode in (decode_market, decode_user):
        try:
            decode(text)
        except WireError as exc:
            assert exc.field, "a refusal must name a field"


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes_never_crash(data: bytes) -> None:
    _decode_any(data)


@FUZZ
@given(JSON)
def test_fuzz_arbitrary_json_never_crashes(obj: Any) -> None:
    _decode_any(json.dumps(obj))


@FUZZ
@given(st.sampled_from(TEMPLATES), st.data(), JSON, st.booleans())
def test_fuzz_mutated_official_examples_parse_or_name_the_field(name: str, data: st.DataObject,
                                                                value: Any, delete: bool) -> None:
    obj = example(name)
    path = data.draw(st.sampled_from(_paths(obj)))
    _set(obj, path, value, delete)
    _decode_any(json.dumps(obj))


@FUZZ
@given(st.sampled_from([
    ("rest_account_v3.json", RestAccount), ("rest_exchangeInfo.json", RestExchangeInfo),
    ("rest_newOrder.json", RestOrder),
]), st.data(), JSON, st.booleans())
def test_fuzz_mutated_rest_objects_parse_or_name_the_field(case: tuple[str, type], data: st.DataObject,
                                                           value: Any, delete: bool) -> None:
    name, cls = case
    obj = example(name)
    _set(obj, data.draw(st.sampled_from(_paths(obj))), value, delete)
    try:
        convert(obj, cls)
    except WireError as exc:
        assert exc.field


@FUZZ
@given(st.sampled_from([("rest_positionRisk.json", RestPositionRisk), ("rest_userTrades.json", RestTrade),
                        ("rest_klines.json", RestKline), ("rest_positionRisk_hedge.json", RestPositionRisk),
                        ("rest_openOrders", RestOrder)]), st.data(), JSON, st.booleans())
def test_fuzz_mutated_rest_lists_parse_or_name_the_field(case: tuple[str, type], data: st.DataObject,
                                                         value: Any, delete: bool) -> None:
    name, cls = case
    obj = [example("rest_newOrder.json")] * 2 if name == "rest_openOrders" else example(name)
    obj = json.loads(json.dumps(obj))
    _set(obj, data.draw(st.sampled_from(_paths(obj))), value, delete)
    try:
        decode_klines(obj) if cls is RestKline else decode_list(obj, cls, "rows")
    except WireError as exc:
        assert exc.field


@FUZZ
@given(JSON)
def test_fuzz_any_json_as_rest_payload_never_crashes(obj: Any) -> None:
    for fn in (lambda o: convert(o, RestAccount), lambda o: convert(o, RestExchangeInfo),
               lambda o: decode_list(o, RestPositionRisk, "p"), decode_klines,
               lambda o: convert(o, RestOrder), lambda o: decode_list(o, RestIncome, "income"),
               lambda o: decode_list(o, RestTrade, "userTrades")):
        try:
            fn(obj)
        except WireError as exc:
            assert exc.field


def _general_market(raw: str) -> Any:
    """decode_market without its fast path: JSON to Python, then convert (names the field)."""
    from engine.venues.binance.wire import MarketFrame, SubscribeAck, _event_frame, convert

    obj = _event_frame(raw)
    return obj if isinstance(obj, SubscribeAck) else convert(obj, MarketFrame)


def _outcome(fn: Any, raw: str) -> Any:
    try:
        return fn(raw)
    except WireError as exc:
        return ("WireError", exc.field)


_NUM = st.one_of(st.sampled_from(["1.5", "0", "nan", "inf", "-1e400", "abc", ""]), st.floats().map(repr),
                 st.integers(-2**65, 2**65), st.none(), st.floats())


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["bookTicker", "markPriceUpdate", "kline", "other", None]), wrap=st.booleans(),
       values=st.dictionaries(st.sampled_from(["E", "s", "b", "B", "a", "A", "p", "r", "T", "k"]), _NUM))
def test_market_fast_path_decodes_as_the_general_path(kind: str | None, wrap: bool, values: dict[str, Any]) -> None:
    """decode_market's straight-into-Struct path gives the same frame or the same WireError field."""
    base: dict[str, Any] = {"E": 1568014460893, "s": "BNBUSDT", "b": "25.3", "B": "31.2", "a": "25.4", "A": "40.6",
                            "p": "11794.15", "r": "0.0003", "T": 1562306400000}
    obj: dict[str, Any] = {**base, **values}
    if kind is not None:
        obj["e"] = kind
    raw = json.dumps({"stream": "x", "data": obj} if wrap else obj)
    assert _outcome(decode_market, raw) == _outcome(_general_market, raw)
