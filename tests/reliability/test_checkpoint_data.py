"""Issue 17 item 2: the projections checkpoint is data; nothing in it can run code.

The checkpoint used to be a pickle: anyone able to write ``$HEDGE_HOME/projections/``
got code run by the next ``hedge project``/``hedge run``. Now it is msgpack data
(``eventlog.checkpoint``) with a version, the log position and that row's hash.
These tests plant hostile checkpoints - a pickle whose ``__reduce__`` runs a shell
command, and a well-formed data checkpoint naming ``os.system`` / ``subprocess.Popen``
as classes - and check nothing runs, the projections are rebuilt from the log,
and the result is byte-identical to a clean rebuild.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import msgspec
import pytest

from eventlog.checkpoint import MAGIC, CheckpointError, Envelope, decode_checkpoint, read_checkpoint
from eventlog.objstate import StateDataError, from_data, to_data
from projections.checkpoint import ALLOW, KIND, VERSION
from tests.reliability.harness import Site


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    s = Site(tmp_path_factory.mktemp("ck") / "home")
    r = s.hedge("run", "--bars", "300", "--quiet")
    assert r.returncode == 0, r.stderr
    return s


def _data_checkpoint(state_tree: object, seq: int = 1, head: str | None = None) -> bytes:
    body = msgspec.msgpack.encode(Envelope(kind=KIND, version=VERSION, seq=seq, head=head,
                                           state=msgspec.Raw(msgspec.msgpack.encode(state_tree))))
    return MAGIC + hashlib.sha256(body).digest() + body


def test_the_checkpoint_carries_version_position_and_row_hash_of_the_log(site: Site) -> None:
    ck = read_checkpoint(site.home / "projections" / "checkpoint.bin", KIND, VERSION, ALLOW)
    info = site.verify()
    assert ck.version == VERSION and ck.seq == info["last_seq"] > 0
    assert ck.head == info["head_hash"]
    # the state is written deterministically: the same state gives the same bytes
    assert msgspec.msgpack.encode(to_data(ck.state, ALLOW)) == msgspec.msgpack.encode(to_data(ck.state, ALLOW))


@pytest.mark.parametrize("command", [("project",), ("rebuild",)])
def test_a_planted_pickle_is_never_loaded_and_the_views_are_rebuilt(site: Site, tmp_path: Path,
                                                                     command: tuple[str, ...]) -> None:
    clean = site.state_files()
    marker = tmp_path / "pwned"
    ckpath = site.home / "projections" / "checkpoint.bin"
    payload = pickle.dumps(_Evil(marker))
    ckpath.write_bytes(b"HEDGE-PROJECTIONS/1\n" + hashlib.sha256(payload).digest() + payload)
    r = site.hedge(*command)
    assert r.returncode == 0, r.stderr
    assert not marker.exists(), "the pickle ran"
    assert site.state_files() == clean
    assert read_checkpoint(ckpath, KIND, VERSION, ALLOW).seq > 0  # rewritten as data


def test_a_data_checkpoint_naming_a_dangerous_class_is_refused(site: Site, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    clean = site.state_files()
    ckpath = site.home / "projections" / "checkpoint.bin"
    for cls in ("os:system", "subprocess:Popen", "builtins:eval", "projections.fold:__class__"):
        tree = ["C", cls, [["args", ["L", [f"touch {marker}"]]]]]
        with pytest.raises(CheckpointError, match="corrupt checkpoint state"):
            decode_checkpoint(_data_checkpoint(tree), KIND, VERSION, ALLOW)
        ckpath.write_bytes(_data_checkpoint(tree))
        r = site.hedge("project")
        assert r.returncode == 0, r.stderr
        assert "rebuilding from the log" in r.stderr
        assert not marker.exists()
        assert site.state_files() == clean


def test_unknown_tags_bad_versions_and_flipped_bytes_are_refused() -> None:
    with pytest.raises(StateDataError):
        from_data(["X", 1], ALLOW)
    with pytest.raises(StateDataError):
        from_data(["M", "config.schema:Fees", [["nope", 1]]], ALLOW)
    raw = _data_checkpoint(["L", [1, 2]])
    with pytest.raises(CheckpointError, match="version"):
        decode_checkpoint(raw, KIND, VERSION + 1, ALLOW)
    with pytest.raises(CheckpointError, match="expected"):
        decode_checkpoint(raw, "engine", VERSION, ALLOW)
    flipped = bytearray(raw)
    flipped[-3] ^= 0x20
    with pytest.raises(CheckpointError, match="checksum"):
        decode_checkpoint(bytes(flipped), KIND, VERSION, ALLOW)
