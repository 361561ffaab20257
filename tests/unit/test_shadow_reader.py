"""The projections read the shadow log while its thread is still creating it (issue 16)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from projections.fold import Projector
from projections.shadow import SHADOW_DIR, ShadowReader


def test_a_shadow_log_without_its_table_yet_reads_as_empty(tmp_path: Path) -> None:
    sid = "11111111-2222-3333-4444-555555555555"
    path = tmp_path / SHADOW_DIR / sid / "eventlog.sqlite"
    path.parent.mkdir(parents=True)
    sqlite3.connect(path).close()  # what the shadow thread has done at that instant: the file, no table
    r = ShadowReader(tmp_path)
    r.catch_up(sid)
    assert r.seq == 0 and r.started is None
    p = Projector()
    p.session_id = sid
    assert r.documents(p.decisions, p.cfg, p.session_id, p.header)["pipeline_v6_shadow_head.json"]["total"] == 0
