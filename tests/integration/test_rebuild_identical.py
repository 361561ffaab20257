"""Rebuild equality: live/incremental projections and ``hedge rebuild`` write the same bytes.

Real SQLite logs, real Parquet files. The Hypothesis test follows a synthetic log
in random batch sizes, commits at random points, "crashes" (drops the projection
without committing) and resumes from the checkpoint, with a tiny audit bucket so
compaction runs often - and compares every output byte for byte with a one-shot
rebuild.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.store import EventStore
from hedge.cli import main
from projections.runner import Lock, Paths, Projection, ProjectionError, rebuild, run_projections
from tests.unit.test_projection_fold import op_st, synth_events

OUTPUTS = ("state", "execution", "audit")


def tree(home: Path) -> dict[str, bytes]:
    """Every output file (relative path -> bytes)."""
    out = {}
    for top in OUTPUTS:
        root = home / top
        if root.exists():
            for f in sorted(root.rglob("*")):
                if f.is_file():
                    out[str(f.relative_to(home))] = f.read_bytes()
    return out


def write_log(home: Path, events: list[Any]) -> None:
    with EventStore.open(home) as store:
        store.append(events)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_st, min_size=1, max_size=40),
       steps=st.lists(st.tuples(st.integers(1, 60), st.sampled_from(["commit", "crash", "none"])), max_size=8),
       batch=st.integers(1, 50), bucket=st.integers(7, 80), group=st.integers(1, 100))
def test_incremental_batches_crashes_and_resume_equal_a_one_shot_rebuild(
        ops: list[Any], steps: list[tuple[int, str]], batch: int, bucket: int, group: int) -> None:
    events = synth_events(ops)
    # ``group``: rows per Parquet row group (the memory bound), the same for both sides
    with tempfile.TemporaryDirectory() as tmp, mock.patch("projections.audit_parquet.ROW_GROUP", group):
        live, ref = Path(tmp) / "live", Path(tmp) / "ref"
        write_log(live, events)
        write_log(ref, events)
        with EventStore.open(live) as store:
            proj = Projection(live, store, batch=batch, bucket_size=bucket, log=lambda m: None)
            for n, action in steps:
                proj.catch_up(max_events=n)
                if action == "commit":
                    proj.commit()
                elif action == "crash":  # nothing after the last checkpoint is trusted
                    proj.close()
                    proj = Projection(live, store, batch=batch, bucket_size=bucket, log=lambda m: None)
            proj.close()
            proj = Projection(live, store, batch=batch, bucket_size=bucket, log=lambda m: None)
            proj.sync(final=True)
            proj.close()
        # one process: the patched ROW_GROUP does not reach spawned audit workers (they import the
        # module afresh); the parallel path's bytes are checked by the parallel test below
        rebuild(ref, bucket_size=bucket, workers=0)
        got, want = tree(live), tree(ref)
        assert sorted(got) == sorted(want)
        for k in want:
            assert got[k] == want[k], k


@pytest.fixture(scope="module")
def run_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``hedge run`` session (generated market, simulated venue) with live projections."""
    home = tmp_path_factory.mktemp("run") / "home"
    assert main(["run", "--home", str(home), "--bars", "1500", "--quiet"]) == 0
    return home


def test_hedge_run_then_rm_state_and_rebuild_recreates_byte_identical_files(run_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(run_home, home)
    before = tree(home)
    assert any(k.startswith("audit/") for k in before) and "execution/risk_vetoes.jsonl" in before
    for top in OUTPUTS:
        shutil.rmtree(home / top)
    assert main(["rebuild", "--home", str(home), "--quiet"]) == 0
    after = tree(home)
    assert sorted(after) == sorted(before)
    assert [k for k in before if before[k] != after[k]] == []


def test_hedge_project_resumes_from_its_checkpoint_after_more_events(tmp_path: Path) -> None:
    events = synth_events([("bar", "BTCUSDT", 0.01, 0.01), ("nav", -0.05),
                           ("trade", "ETHUSDT", "BUY", "veto", True, False, 0.0, 0.0, False)] * 20)
    home, ref = tmp_path / "h", tmp_path / "r"
    cut = len(events) // 2
    write_log(home, events[:cut])
    assert run_projections(home) == cut
    write_log(home, events[cut:])
    assert main(["project", "--home", str(home)]) == 0
    write_log(ref, events)
    rebuild(ref)
    assert tree(home) == tree(ref)
    assert run_projections(home) == 0  # reprocessing nothing changes nothing
    assert tree(home) == tree(ref)


def test_checkpoint_of_another_log_is_refused_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = synth_events([("nav", 0.01)] * 5)
    b = synth_events([("nav", -0.01)] * 5)
    home = tmp_path / "h"
    write_log(home, a)
    run_projections(home)
    (home / "eventlog.sqlite").unlink()
    for f in home.glob("eventlog.sqlite-*"):
        f.unlink()
    write_log(home, b)
    with pytest.raises(ProjectionError, match="different log"):
        run_projections(home)
    assert main(["project", "--home", str(home)]) == 2
    assert "hedge rebuild" in capsys.readouterr().err
    assert main(["rebuild", "--home", str(home), "--quiet"]) == 0


def test_corrupt_checkpoint_falls_back_to_a_full_rebuild(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = synth_events([("nav", 0.01), ("bar", "SOLUSDT", 0.0, 0.01)] * 5)
    home, ref = tmp_path / "h", tmp_path / "r"
    write_log(home, events)
    run_projections(home)
    ck = Paths(home).checkpoint
    ck.write_bytes(ck.read_bytes()[:-7] + b"garbage")
    run_projections(home)
    assert "corrupt checkpoint" in capsys.readouterr().err
    write_log(ref, events)
    rebuild(ref)
    assert tree(home) == tree(ref)


def test_a_second_projector_on_the_same_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "h"
    write_log(home, synth_events([("nav", 0.0)]))
    lock = Lock(Paths(home).lock)
    try:
        with pytest.raises(ProjectionError, match="already running"):
            rebuild(home)
        assert main(["rebuild", "--home", str(home), "--quiet"]) == 2
    finally:
        lock.release()
    rebuild(home)


def _bars(n: int) -> list[Any]:
    return synth_events([("bar", "BTCUSDT", 0.001, 0.01), ("nav", 0.001)] * n)


def test_commits_inside_the_open_bucket_are_compacted_on_stop(tmp_path: Path) -> None:
    events = _bars(40)  # ~121 events, bucket 50: the last bucket stays open
    home, ref = tmp_path / "h", tmp_path / "r"
    write_log(home, events)
    with EventStore.open(home) as store:
        proj = Projection(home, store, batch=10, bucket_size=50)
        while proj.seq < 115:
            proj.catch_up(max_events=5)
            proj.commit()
        assert len(list((home / "audit" / "events").glob("000002-*"))) > 1  # tails while running
        proj.sync(final=True)
    write_log(ref, events)
    rebuild(ref, bucket_size=50)
    assert tree(home) == tree(ref)
    assert [p.name for p in sorted((home / "audit" / "events").iterdir())] == [
        "000000-000000000001-000000000050.parquet", "000001-000000000051-000000000100.parquet",
        f"000002-000000000101-{len(events):012d}.parquet"]


def test_crash_between_audit_flush_and_checkpoint_neither_duplicates_nor_loses_rows(tmp_path: Path) -> None:
    events = _bars(40)
    home, ref = tmp_path / "h", tmp_path / "r"
    write_log(home, events)
    with EventStore.open(home) as store:
        proj = Projection(home, store, batch=7, bucket_size=50)
        proj.catch_up(max_events=20)
        proj.commit()
        proj.catch_up(max_events=30)
        proj.audit.flush(proj.seq)  # the crash: tails and veto lines written, no checkpoint
        proj.audit.close()
        proj.vetoes.append(proj.proj.take_veto_lines())
        proj = Projection(home, store, batch=11, bucket_size=50)
        proj.catch_up(max_events=25)
        proj.commit()
        proj.sync(final=True)
    write_log(ref, events)
    rebuild(ref, bucket_size=50)
    assert tree(home) == tree(ref)


def test_follower_process_beside_a_writing_session_ends_equal_to_a_rebuild(tmp_path: Path) -> None:
    """The live shape: a writer appends while ``hedge run``'s follower (a child process,
    ``hedge project --follow``) catches up every few ms in odd-sized batches; its stop is the
    final catch-up."""
    import os
    import threading

    from hedge.follower_process import FollowerProcess

    events = _bars(300)
    home, ref = tmp_path / "h", tmp_path / "r"
    write_log(home, events[:1])
    follower = FollowerProcess(home, "main", store_url=None, environment=dict(os.environ),
                               interval_s=0.005, batch=13)
    follower.start()

    def writer() -> None:
        with EventStore.open(home) as store:
            for i in range(1, len(events), 17):
                store.append(events[i:i + 17])

    t = threading.Thread(target=writer)
    t.start()
    t.join()
    assert follower.stop() is None
    assert follower.end is not None and follower.end.ok and follower.end.peak_rss_mb > 0
    write_log(ref, events)
    rebuild(ref)
    assert tree(home) == tree(ref)


def test_hedge_project_follow_as_its_own_process_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    events = _bars(50)
    home, ref = tmp_path / "h", tmp_path / "r"
    write_log(home, events[:10])
    env = {**os.environ, "HEDGE_HOME": str(home)}
    env.pop("HEDGE_STORE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "hedge.cli", "project", "--follow", "--interval", "0.05"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        write_log(home, events[10:])
        deadline = time.monotonic() + 60
        state = home / "state" / "nav_state.json"
        while time.monotonic() < deadline:  # wait for the follower to reach the last event
            if state.exists() and f'"seq": {len(events)},' in state.read_text():
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "events applied" in out
    write_log(ref, events)
    rebuild(ref)
    assert tree(home) == tree(ref)


@pytest.mark.parametrize("victim", ["audit", "execution"])
def test_deleting_part_of_the_outputs_makes_hedge_project_rebuild_them(
        tmp_path: Path, victim: str, capsys: pytest.CaptureFixture[str]) -> None:
    events = synth_events([("trade", "ETHUSDT", "BUY", "veto", True, False, 0.0, 0.0, False), ("nav", 0.0)] * 5)
    home, ref = tmp_path / "h", tmp_path / "r"
    write_log(home, events)
    run_projections(home)
    shutil.rmtree(home / victim)
    run_projections(home)
    assert "rebuilding from the log" in capsys.readouterr().err
    write_log(ref, events)
    rebuild(ref)
    assert tree(home) == tree(ref)


def test_parallel_audit_workers_write_the_same_bytes_as_one_process(tmp_path: Path) -> None:
    events = synth_events([("bar", "BTCUSDT", 0.001, 0.01), ("nav", -0.01),
                           ("trade", "ETHUSDT", "BUY", "allow", False, True, 20.0, 3.0, True),
                           ("trade", "SOLUSDT", "SELL", "veto", True, False, 0.0, 0.0, False)] * 30)
    one, many = tmp_path / "one", tmp_path / "many"
    write_log(one, events)
    write_log(many, events)
    a = rebuild(one, bucket_size=40, workers=0)
    b = rebuild(many, bucket_size=40, workers=3)
    assert (a["workers"], b["workers"]) == (0, 3) and a["events"] == b["events"] == len(events)
    assert len(list((many / "audit" / "events").iterdir())) > 3
    assert tree(many) == tree(one)
    with EventStore.open(many) as store:  # the runner resumes from a parallel rebuild
        proj = Projection(many, store, bucket_size=40)
        assert proj.sync(final=True) == 0
        proj.close()
    assert tree(many) == tree(one)
