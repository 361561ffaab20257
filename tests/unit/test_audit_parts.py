"""Audit files read back for compaction give the same bytes when written again."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from projections.audit import SCHEMAS, read_part, write_table


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
