"""Shared benchmark helpers: results, timing, the figure table, JSON output."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MARKET_DIR = Path(os.environ.get("HEDGE_MARKET_DIR", REPO.parent / "shared" / "market"))
RESULTS_DIR = REPO / "bench" / "results"


@dataclass
class Figure:
    """One measured figure beside its same-run baseline."""

    bench: str
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline: float | None = None
    target: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.baseline is None:
            return None
        return self.value / self.baseline


def best_of(fn: Callable[[], float], repeats: int) -> float:
    """Best (max) rate over ``repeats`` runs: the least disturbed by the noisy machine."""
    return max(fn() for _ in range(max(1, repeats)))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def peak_rss_mb() -> float:
    """This process's own peak RSS (``eventlog.peak_rss``: not its parent's, carried across exec)."""
    from eventlog.peak_rss import peak_rss_mb as own_peak

    return own_peak()


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def num(x: float) -> str:
    """Thousands without decimals, small values with three significant digits."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def table(figs: list[Figure]) -> str:
    rows = [("bench", "figure", "value", "baseline", "ratio", "target")]
    for f in figs:
        base = f"{num(f.baseline)} {f.unit} ({f.baseline_name})" if f.baseline is not None else "-"
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "-"
        rows.append((f.bench, f.name, f"{num(f.value)} {f.unit}", base, ratio, f.target))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(figs: list[Figure], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine(), "figures": [asdict(f) | {"ratio": f.ratio} for f in figs]}
    path.write_text(json.dumps(data, indent=2))


def raw_sqlite(directory: str | os.PathLike[str], *, check_same_thread: bool = True) -> sqlite3.Connection:
    """The baselines' plain log: ``raw.sqlite`` in ``directory``, sqlite3 in autocommit, WAL,
    ``synchronous=NORMAL``, one table the shape of eventsourcing's ``stored_events``."""
    con = sqlite3.connect(Path(directory) / "raw.sqlite", isolation_level=None, check_same_thread=check_same_thread)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
                "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))")
    return con


def insert_chained(db: sqlite3.Connection, events: list[Any], keys: list[tuple[Any, int, str]]) -> None:
    """The floors' write: encode, chain and ``executemany`` ``events`` (row keys ``keys``:
    originator id, version, topic) in batches of 4,096, one transaction each."""
    from eventlog.chain import GENESIS, chain_states
    from eventlog.codec import encode

    head = GENESIS
    for i in range(0, len(events), 4096):
        states, head = chain_states(head, [encode(e) for e in events[i:i + 4096]])
        db.execute("BEGIN")
        db.executemany("INSERT INTO stored_events VALUES (?,?,?,?)",
                       [(*k, st) for k, st in zip(keys[i:i + 4096], states, strict=True)])
        db.execute("COMMIT")
