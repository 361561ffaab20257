"""Read the projections' state files for the dashboard — and nothing else.

The dashboard never imports the engine, the event log or the projections: it reads
``$HEDGE_HOME/state/*.json`` and ``$HEDGE_HOME/execution/risk_vetoes.jsonl`` as
described in docs/state_contract.md. Every reader here is total: a missing, empty,
half-written or non-JSON file yields ``{}`` (or ``[]``), never an exception, so the page
shows "n/a" where data is missing.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The JSON state files the dashboard reads (docs/state_contract.md).
STATE_FILES: tuple[str, ...] = (
    "nav_state.json",
    "nav_history.json",
    "positions_state.json",
    "positions_ledger.json",
    "risk_snapshot.json",
    "router_health.json",
    "diagnostics.json",
    "kpis_v7.json",
    "aum_v7.json",
)
#: Read too, but optional (not counted as present): the shadow card and the tuning table (issue 16).
EXTRA_FILES: tuple[str, ...] = (
    "pipeline_v6_shadow_head.json",
    "pipeline_v6_compare_summary.json",
    "router_policy_suggestions_v6.json",
    "risk_allocation_suggestions_v6.json",
)
VETOES_FILE = Path("execution") / "risk_vetoes.jsonl"
#: How many veto lines are kept from the end of the jsonl file.
VETO_TAIL = 200
#: Bytes read from the end of the jsonl file (it is append-only and may grow large).
VETO_TAIL_BYTES = 512 * 1024


def hedge_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``home`` if given (the CLI passes ``--home``, else ``$HEDGE_HOME``), else ``./logs``."""
    return Path(home or "logs")


def state_dir(home: Path) -> Path:
    """``$HEDGE_HOME/state``."""
    return home / "state"


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` if it is missing, torn or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def read_jsonl_tail(path: Path, limit: int = VETO_TAIL) -> list[dict[str, Any]]:
    """The last ``limit`` JSON-object lines of ``path``; torn or bad lines are skipped."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - VETO_TAIL_BYTES))
            chunk = fh.read()
    except OSError:
        return []
    lines = chunk.split(b"\n")
    if size > VETO_TAIL_BYTES:
        lines = lines[1:]  # the first line is probably cut in the middle
    rows: deque[dict[str, Any]] = deque(maxlen=limit)
    for raw in lines:
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue  # a torn last line while the writer appends
        if isinstance(obj, dict):
            rows.append(obj)
    return list(rows)


def signature(home: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime_ns, size) of every file the dashboard reads: changes when any changes."""
    out = []
    for rel in (*[Path("state") / n for n in (*STATE_FILES, *EXTRA_FILES)], VETOES_FILE):
        try:
            st = (home / rel).stat()
        except OSError:
            out.append((str(rel), 0, -1))
            continue
        out.append((str(rel), st.st_mtime_ns, st.st_size))
    return tuple(out)


@dataclass(frozen=True)
class Snapshot:
    """Everything the dashboard shows, as read at one moment (``read_at``, wall clock)."""

    home: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    vetoes: list[dict[str, Any]] = field(default_factory=list)
    mtimes: dict[str, float] = field(default_factory=dict)
    read_at: float = 0.0

    def get(self, name: str) -> dict[str, Any]:
        """The parsed state file ``name`` (e.g. ``"kpis_v7.json"``), ``{}`` when absent."""
        return self.files.get(name, {})

    @property
    def nav_state(self) -> dict[str, Any]:
        return self.get("nav_state.json")

    @property
    def kpis(self) -> dict[str, Any]:
        return self.get("kpis_v7.json")

    @property
    def aum(self) -> dict[str, Any]:
        return self.get("aum_v7.json")

    @property
    def present(self) -> list[str]:
        """Names of the state files that exist and parsed."""
        return sorted(n for n, d in self.files.items() if d and n in STATE_FILES)


def load(home: str | os.PathLike[str] | None = None, now: float | None = None) -> Snapshot:
    """Read every state file under ``home`` (see :func:`hedge_home`) into a Snapshot."""
    root = hedge_home(home)
    files: dict[str, dict[str, Any]] = {}
    mtimes: dict[str, float] = {}
    for name in (*STATE_FILES, *EXTRA_FILES):
        path = state_dir(root) / name
        files[name] = read_json(path)
        try:
            mtimes[name] = path.stat().st_mtime
        except OSError:
            pass
    vetoes = read_jsonl_tail(root / VETOES_FILE)
    return Snapshot(
        home=root,
        files=files,
        vetoes=vetoes,
        mtimes=mtimes,
        read_at=time.time() if now is None else now,
    )


def sub(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...`` through dicts, or None as soon as a level is missing."""
    cur = obj
    for k in keys:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(k)
    return cur


def first(*values: Any) -> Any:
    """The first value that is not None (so ``0`` and ``False`` count as present)."""
    for v in values:
        if v is not None:
            return v
    return None
