"""Audit Parquet files as streams of fixed-size row groups.

Every audit file - a tail, a bucket written in one go, a compacted bucket - is
``ROW_GROUP`` rows per row group (the last one shorter), each row group encoded from
one contiguous chunk. So a file's bytes depend only on its rows, never on how they
arrived (batch sizes, tails, compaction), and a writer holds at most about one row
group of rows: compaction streams a bucket's parts through a ``GroupWriter`` part by
part instead of reading the whole bucket (its memory is bounded by ``ROW_GROUP``, not
by the bucket).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from projections.files import atomic_write

ROW_GROUP = 25_000  # rows per row group: the same for live follow and rebuild (the bytes depend on it)
DICT_COLUMNS = ("session_id", "type", "stream", "symbol", "interval", "side", "outcome", "gate", "event",
                "order_type", "time_in_force", "config_hash", "source", "strategy", "dd_state", "fee_asset", "style")


def row_group() -> int:
    """The row-group size in force (read at call time, so a test can change it)."""
    return ROW_GROUP


class GroupWriter:
    """Rows in, a Parquet file out: row groups of ``size`` rows, whatever the batches.

    ``add`` buffers batches and returns the full row groups they complete (each a
    single-chunk table); ``write_group`` encodes one (call them in order; they may run
    on another thread); ``finish(path)`` encodes the rest and writes the file atomically.
    The encoded file stays in memory until then: compressed, a few MB per bucket.
    """

    def __init__(self, schema: pa.Schema, size: int | None = None):
        self.schema = schema
        self.size = size or row_group()
        self._batches: list[pa.RecordBatch] = []
        self._rows = 0
        self._sink: pa.BufferOutputStream | None = None
        self._writer: pq.ParquetWriter | None = None
        self.rows_written = 0

    def add(self, batch: pa.RecordBatch | pa.Table) -> list[list[pa.RecordBatch]]:
        """Buffer ``batch``; returns the row groups now complete (to ``write_group`` in order)."""
        if isinstance(batch, pa.Table):
            self._batches.extend(batch.to_batches())
        else:
            self._batches.append(batch)
        self._rows += batch.num_rows
        out = []
        while self._rows >= self.size:
            out.append(self._take(self.size))
        return out

    def _take(self, n: int) -> list[pa.RecordBatch]:
        got: list[pa.RecordBatch] = []
        need = n
        while need:
            b = self._batches[0]
            if b.num_rows <= need:
                got.append(self._batches.pop(0))
                need -= b.num_rows
            else:
                got.append(b.slice(0, need))
                self._batches[0] = b.slice(need)
                need = 0
        self._rows -= n
        return got

    @property
    def buffered(self) -> int:
        return self._rows

    def write_group(self, group: list[pa.RecordBatch]) -> None:
        """Encode one row group: its batches as one contiguous chunk (the page boundaries, and
        so the bytes, must not depend on how the rows were batched)."""
        table = pa.Table.from_batches(group, schema=self.schema).combine_chunks()
        if self._writer is None:
            self._sink = pa.BufferOutputStream()
            names = set(self.schema.names)
            self._writer = pq.ParquetWriter(self._sink, self.schema, compression="zstd",
                                            use_dictionary=[c for c in DICT_COLUMNS if c in names],
                                            write_statistics=[c for c in ("seq", "ts") if c in names])
        self._writer.write_table(table, row_group_size=self.size)
        self.rows_written += table.num_rows

    def tail(self) -> list[pa.RecordBatch] | None:
        """The buffered rows (fewer than a row group) as the last group, or None."""
        if not self._rows:
            return None
        return self._take(self._rows)

    def close(self, path: Path) -> None:
        """Write the file (its row groups so far); an empty writer writes a file of no rows."""
        if self._writer is None:
            self.write_group([])
        assert self._writer is not None and self._sink is not None
        self._writer.close()
        atomic_write(path, self._sink.getvalue().to_pybytes())
        self._writer = self._sink = None

    def finish(self, path: Path) -> None:
        """Encode what is buffered and write the file as ``path`` (on the calling thread)."""
        last = self.tail()
        if last is not None:
            self.write_group(last)
        self.close(path)


def write_table(path: Path, table: pa.Table, size: int | None = None) -> None:
    """One audit file holding ``table``, atomically (row groups of ``size`` rows)."""
    w = GroupWriter(table.schema, size)
    for g in w.add(table):
        w.write_group(g)
    w.finish(path)


def read_part(path: Path, schema: pa.Schema) -> pa.Table:
    """One audit file as a table of ``schema``. Single-threaded: ``pq.read_table``'s
    parallel column reads held ~100 MB more RSS per bucket (docs/performance.md)."""
    # cast: Parquet names a list's child "element", the schema (and the bytes) "item"
    return pq.ParquetFile(path).read(use_threads=False).cast(schema)


def iter_part(path: Path, schema: pa.Schema, batch_rows: int) -> Iterable[pa.RecordBatch]:
    """One audit file's rows in batches of at most ``batch_rows`` (memory bounded by it)."""
    f = pq.ParquetFile(path)
    try:
        for b in f.iter_batches(batch_size=batch_rows, use_threads=False):
            yield b.cast(schema)
    finally:
        f.close()


def merge_parts(path: Path, parts: list[Path], schema: pa.Schema, size: int | None = None) -> None:
    """Parts (in seq order) streamed into one file of ``size``-row groups, part by part."""
    w = GroupWriter(schema, size)
    for part in parts:
        for batch in iter_part(part, schema, w.size):
            for g in w.add(batch):
                w.write_group(g)
    w.finish(path)
