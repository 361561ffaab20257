"""The projections checkpoint: the fold state, the seq it reflects and that row's hash.

Stored with the shared data-only format of ``eventlog.checkpoint`` (msgpack, never
pickle): ``$HEDGE_HOME/projections/checkpoint.bin``. Only classes of the
projections, the shared rules (``engine.rules``), the config schema and the event
types are rebuilt from it. A file that
is not a checkpoint of this version (an old pickle, a corrupt or foreign file) is
reported as ``StateFileError`` and the runner rebuilds from the log.
"""

from __future__ import annotations

from pathlib import Path

from eventlog.checkpoint import CheckpointError
from eventlog.checkpoint import read_checkpoint as _read
from eventlog.checkpoint import write_checkpoint as _write
from projections.files import StateFileError
from projections.fold import Projector

KIND = "projections"
VERSION = 6  # 5: positions keep margin readings (issue 14); 6: typed payload rows (OffExchangeValued.holdings); bump when the Projector's attributes change meaning (old checkpoints then rebuild)
ALLOW = ("projections.", "engine.rules.", "config.schema", "eventlog.events", "eventlog.payloads")


def read_checkpoint(path: Path) -> tuple[int, str | None, Projector]:
    """(seq, row hash, projector) from a checkpoint; ``StateFileError`` when it is unusable."""
    try:
        ck = _read(path, KIND, VERSION, ALLOW)
    except CheckpointError as exc:
        raise StateFileError(str(exc)) from None
    if not isinstance(ck.state, Projector):
        raise StateFileError(f"{path}: checkpoint holds no projector")
    return ck.seq, ck.head, ck.state


def write_checkpoint(path: Path, seq: int, head: str | None, proj: Projector) -> None:
    """Write the checkpoint atomically (the projections' commit point)."""
    _write(path, KIND, VERSION, seq, head, proj, ALLOW)
