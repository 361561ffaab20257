"""The audit writer's Arrow builders agree with ``pa.array``, and never import pandas.

``projections.audit_arrow`` replaces ``pa.array`` (which imports pandas through
pyarrow's shim) on the audit writer's path. Hypothesis draws columns of every type
the audit schemas use, nulls and NaN included: the arrays must equal ``pa.array``'s
and a Parquet file written from either must have the same bytes.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.audit import SCHEMAS, _bars, _from_rows, write_table
from projections.audit_arrow import column, lines, strings
from tests.unit.test_projection_fold import op_st, synth_events

TS = pa.timestamp("ns")
TS_MS = pa.timestamp("ms")
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
COLUMNS = {
    pa.int64(): st.integers(-(2**63), 2**63 - 1),
    pa.float64(): st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**53), 2**53),
    pa.bool_(): st.booleans(),
    pa.string(): text | st.sampled_from(["BTCUSDT", "risk", "market.ETHUSDT"]),
    TS: st.integers(0, 2**62),
    TS_MS: st.integers(0, 2**50),
}


def _same(got: pa.Array, want: pa.Array) -> None:
    assert got.type == want.type and len(got) == len(want) and got.null_count == want.null_count
    if not pa.types.is_floating(got.type):
        assert got.equals(want)
        return
    for a, b in zip(got.to_pylist(), want.to_pylist(), strict=True):
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), typ=st.sampled_from(list(COLUMNS)), nulls=st.booleans())
def test_column_equals_pa_array_and_writes_the_same_parquet_bytes(
        data: st.DataObject, typ: pa.DataType, nulls: bool, tmp_path_factory: pytest.TempPathFactory) -> None:
    item = COLUMNS[typ] | st.none() if nulls else COLUMNS[typ]
    values = data.draw(st.lists(item, max_size=40))
    got, want = column(values, typ), pa.array(values, typ)
    _same(got, want)
    d = tmp_path_factory.mktemp("p")
    write_table(d / "a.parquet", pa.table({"c": got}))
    write_table(d / "b.parquet", pa.table({"c": want}))
    assert (d / "a.parquet").read_bytes() == (d / "b.parquet").read_bytes()


@given(st.lists(st.lists(text, max_size=4), max_size=20))
def test_string_lists_equal_pa_array(values: list[list[str]]) -> None:
    _same(column(values, pa.list_(pa.string())), pa.array(values, pa.list_(pa.string())))


@given(st.lists(text | st.none(), max_size=30))
def test_strings_ascii_fast_path_and_unicode_agree(values: list[str | None]) -> None:
    _same(strings(values), pa.array(values, pa.string()))


@given(st.lists(st.dictionaries(text, text | st.floats(allow_nan=False) | st.integers(-(2**63), 2**63 - 1)),
                max_size=20))
def test_json_lines_become_one_string_per_line(docs: list[dict[str, object]]) -> None:
    blob = b"".join(msgspec.json.encode(d) + b"\n" for d in docs)
    want = pa.array([ln for ln in blob.split(b"\n")[:-1]], pa.binary()).cast(pa.string())
    _same(lines(blob), want)


@settings(max_examples=20, deadline=None)
@given(ops=st.lists(op_st, min_size=1, max_size=30))
def test_bars_and_row_tables_equal_the_pa_array_path(ops: list[tuple[Any, ...]]) -> None:
    from eventlog import events as E

    evs = [msgspec.structs.replace(e, seq=i + 1) for i, e in enumerate(synth_events(ops))]
    klines = [e for e in evs if type(e) is E.KlineClosed]
    if klines:
        got = _bars(klines)
        cols = ("seq", "session_id", "ts_event_ns", "symbol", "interval", "open_time_ms", "close_time_ms",
                "open", "high", "low", "close", "volume")
        for f, c in zip(SCHEMAS["bars"], cols, strict=True):
            vals = [getattr(e, c) for e in klines]
            want = pa.array(vals, pa.int64()).cast(f.type) if f.type in (TS, TS_MS) else pa.array(vals, f.type)
            _same(got.column(f.name), want)
    rows = [{"seq": e.seq, "session_id": e.session_id, "ts": e.ts_event_ns, "nav_usd": 1.0 * i,
             "wallet_balance": None, "unrealized_pnl": math.nan, "available_balance": 2.0, "sources_ok": i % 2 == 0,
             "peak_nav_usd": 3.0, "drawdown_frac": 0.1, "dd_state": None if i % 3 else "normal"}
            for i, e in enumerate(evs)]
    as_tuples = [tuple(r[f.name] for f in SCHEMAS["nav"]) for r in rows]
    want_t = pa.Table.from_pylist(rows, schema=SCHEMAS["nav"])
    for got_b in (_from_rows(rows, SCHEMAS["nav"]), _from_rows(as_tuples, SCHEMAS["nav"])):
        for name in SCHEMAS["nav"].names:
            _same(got_b.column(name), want_t.column(name).combine_chunks())


def test_the_audit_writer_never_imports_pandas(tmp_path: Path) -> None:
    """A real writer over real events in a fresh interpreter: pandas stays unimported."""
    code = f"""
import sys
from pathlib import Path
from typing import Any
import msgspec
from projections.audit import AuditWriter
from tests.unit.test_projection_fold import synth_events
evs = [msgspec.structs.replace(e, seq=i + 1) for i, e in enumerate(synth_events(
    [("bar", "BTCUSDT", 0.01, 0.01), ("nav", -0.05),
     ("trade", "ETHUSDT", "BUY", "allow", True, False, 0.0, 0.0, False)] * 5))]
w = AuditWriter(Path({str(tmp_path)!r}), 0, bucket_size=10, row_group=3)
for seg in w.segments(evs):
    w.begin(seg[0].seq)
    w.add_segment(seg)
w.flush(evs[-1].seq)
w.compact(evs[-1].seq, final=True)
w.close()
assert any(Path({str(tmp_path)!r}).rglob("*.parquet"))
print("pandas" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False", out.stderr
