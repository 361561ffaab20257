"""The sync_state mirror (issue 16): ``hedge sync --to DIR`` and ``hedge project --mirror DIR``.

One-way, atomic, deduplicated, schema-checked, partial writes removed; on a real
simulated session's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hedge.cli import main
from projections.contract import load_manifest, validate_home
from projections.files import read_jsonl


def outputs(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for d in ("state", "execution")
            for p in sorted((root / d).iterdir()) if p.is_file()}


@pytest.fixture
def session_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.delenv("HEDGE_STORE_URL", raising=False)
    assert main(["run", "--home", str(home), "--bars", "600", "--quiet"]) == 0
    return home


def test_sync_copies_every_contract_file_once_and_cleans_partial_writes(
        session_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, mir = session_home, tmp_path / "mirror"
    assert main(["sync", "--home", str(home), "--to", str(mir)]) == 0
    assert outputs(mir) == outputs(home)
    assert {k: v for k, v in validate_home(mir).items() if v} == {}
    assert len(outputs(mir)) == len(load_manifest()["files"])
    # deduplicated: nothing changed, nothing is rewritten
    before = {p: (mir / p).stat().st_mtime_ns for p in outputs(mir)}
    capsys.readouterr()
    assert main(["sync", "--home", str(home), "--to", str(mir)]) == 0
    assert "0 written" in capsys.readouterr().out
    assert {p: (mir / p).stat().st_mtime_ns for p in outputs(mir)} == before
    # partial writes of an interrupted mirror are removed: a temp file, a torn JSONL line
    (mir / "state" / f".nav.json{'.mirror-tmp'}").write_bytes(b'{"half')
    ev = mir / "execution" / "events.jsonl"
    with open(ev, "ab") as fh:
        fh.write(b'{"seq": 99999999, "ts": "2025')
    assert main(["sync", "--home", str(home), "--to", str(mir)]) == 0
    assert not (mir / "state" / ".nav.json.mirror-tmp").exists()
    assert outputs(mir) == outputs(home)


def test_sync_refuses_a_file_that_breaks_the_contract_and_keeps_the_good_copy(
        session_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, mir = session_home, tmp_path / "mirror"
    assert main(["sync", "--home", str(home), "--to", str(mir)]) == 0
    good = (mir / "state" / "kpis_v7.json").read_bytes()
    doc = json.loads((home / "state" / "kpis_v7.json").read_text())
    del doc["router"]
    (home / "state" / "kpis_v7.json").write_text(json.dumps(doc))
    (home / "state" / "nav.json").write_text('{"nav_total": 1')  # a torn write in the source
    capsys.readouterr()
    assert main(["sync", "--home", str(home), "--to", str(mir)]) == 1
    err = capsys.readouterr().err
    assert "refused kpis_v7.json: router: missing" in err and "refused nav.json: not JSON" in err
    assert (mir / "state" / "kpis_v7.json").read_bytes() == good
    assert json.loads((mir / "state" / "nav.json").read_text())["schema"] == "nav/1"


def test_project_mirror_appends_new_lines_without_duplicates(
        session_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, mir = session_home, tmp_path / "mirror"
    monkeypatch.setenv("HEDGE_HOME", str(home))
    assert main(["project", "--mirror", str(mir)]) == 0
    assert outputs(mir) == outputs(home)
    n0 = len(read_jsonl(mir / "execution" / "events.jsonl"))
    # a second session appends to the JSONL logs; the mirror appends only the new lines
    assert main(["run", "--home", str(home), "--bars", "400", "--quiet", "--no-projections"]) == 0
    assert main(["project", "--mirror", str(mir)]) == 0
    assert outputs(mir) == outputs(home)
    seqs = [r["seq"] for r in read_jsonl(mir / "execution" / "events.jsonl")]
    assert len(seqs) > n0 and seqs == sorted(set(seqs))


def test_mirror_into_the_home_itself_is_refused(session_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--home", str(session_home), "--to", str(session_home)]) == 2
    assert "is the home itself" in capsys.readouterr().err
