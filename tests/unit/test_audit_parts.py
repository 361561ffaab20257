"""Audit files: read back for compaction they give the same bytes when written again, and a
file's bytes depend on its rows only (row groups of a fixed size), not on their batching."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.audit import SCHEMAS, read_part, write_table
from projections.audit_parquet import GroupWriter, merge_parts


def test_a_part_read_back_and_written_again_is_byte_identical(tmp_path: Path) -> None:
    schema = SCHEMAS["risk_decisions"]  # has list<string> columns: Parquet renames their child
    row = {f.name: None for f in schema}
    row.update(seq=1, decision_id="d", session_id="s", ts=5, reasons=["a", "b"], breached=[])
    table = pa.Table.from_pylist([row], schema=schema)
    first, again = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_table(first, table)
    back = read_part(first, schema)
    assert back.schema == schema and back.equals(table)
    write_table(again, back)
    assert again.read_bytes() == first.read_bytes()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 120), group=st.integers(1, 50), cuts=st.lists(st.integers(0, 120), max_size=6),
       batch=st.integers(1, 40))
def test_a_file_has_the_same_bytes_however_its_rows_were_batched_and_merged(
        n: int, group: int, cuts: list[int], batch: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Row groups of ``group`` rows: one write, a stream of batches, and parts merged (compaction)
    give byte-identical files, and a merged file reads back as the rows written."""
    d = tmp_path_factory.mktemp("rg")
    schema = SCHEMAS["events"]
    table = pa.table({"seq": pa.array(range(1, n + 1), pa.int64()), "session_id": ["s"] * n,
                      "ts": pa.array(range(n), pa.int64()).cast(pa.timestamp("ns")),
                      "session_seq": pa.array(range(n), pa.int64()), "type": ["T" if i % 3 else "U" for i in range(n)],
                      "stream": ["x"] * n, "payload": [f'{{"a":{i}}}' for i in range(n)]}, schema=schema)
    write_table(d / "one.parquet", table, group)
    w = GroupWriter(schema, group)
    for b in table.to_batches(max_chunksize=batch):
        for g in w.add(b):
            w.write_group(g)
    w.finish(d / "stream.parquet")
    bounds = sorted({0, n, *(c for c in cuts if c <= n)})
    parts = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        parts.append(d / f"part{i}.parquet")
        write_table(parts[-1], table.slice(a, b - a), 7)  # parts may have other row groups
    merge_parts(d / "merged.parquet", parts, schema, group)
    one = (d / "one.parquet").read_bytes()
    assert (d / "stream.parquet").read_bytes() == one
    if parts:
        assert (d / "merged.parquet").read_bytes() == one
        assert read_part(d / "merged.parquet", schema).equals(table)
    if n:
        assert pq.ParquetFile(d / "one.parquet").metadata.num_row_groups == -(-n // group)
