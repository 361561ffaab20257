"""The engine's resume checkpoint: an account's folded decision state at a log position.

Written when a session ends (``hedge run`` after ``SessionEnded`` is durable) to
``<account home>/engine/checkpoint.bin`` with the shared data-only format of
``eventlog.checkpoint`` (msgpack, never pickle; only classes of ``engine``, the config
schema and the event types are rebuilt). It holds the ``EngineState`` and, on the
simulator, the paper account (``SimResume``) after the account's event at ``seq``,
whose row hash it carries. The next session of the account folds only the events
after it (``engine.resume.fold_account``); a checkpoint of another log (hash
mismatch), another account, another layout version or a damaged file is ignored
with one line on stderr and the whole account is folded instead, so a checkpoint
can make a resume faster but never different.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from eventlog.checkpoint import CheckpointError, read_checkpoint, write_checkpoint

KIND = "engine-resume"
VERSION = 7  # bump when EngineState / SimResume attributes change meaning (2: autotune, 3: dd_book, 4: issue 14 venue state, 5: post_trade, 6: orders' send time, 7: the Donchian channel's deques)
ALLOW = ("engine.", "config.schema", "eventlog.events", "eventlog.payloads")


class ResumeState:
    """What a checkpoint holds (a plain object so ``eventlog.objstate`` can store it)."""

    def __init__(self, account: str, engine: Any, sim: Any, events: int) -> None:
        self.account = account
        self.engine = engine
        self.sim = sim
        self.events = events  # account events folded into it


def checkpoint_path(account_home: Path) -> Path:
    return Path(account_home) / "engine" / "checkpoint.bin"


def save(account_home: Path, seq: int, head: str, state: ResumeState) -> None:
    path = checkpoint_path(account_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_checkpoint(path, KIND, VERSION, seq, head, state, ALLOW)


def load(account_home: Path, store: Any, account: str) -> tuple[int, ResumeState] | None:
    """(seq, state) of a checkpoint that belongs to this log and account; None otherwise."""
    path = checkpoint_path(account_home)
    if not path.exists():
        return None
    try:
        ck = read_checkpoint(path, KIND, VERSION, ALLOW)
    except (CheckpointError, OSError) as exc:
        print(f"hedge run: resume checkpoint ignored ({exc}); folding the whole account", file=sys.stderr)
        return None
    st = ck.state
    if not isinstance(st, ResumeState) or st.account != account:
        print(f"hedge run: resume checkpoint {path} is not of account {account!r}; folding the whole account",
              file=sys.stderr)
        return None
    if ck.seq <= 0 or ck.seq > store.last_seq() or store.link_before(ck.seq + 1).hex() != ck.head:
        print(f"hedge run: resume checkpoint {path} does not match this log at seq {ck.seq}; "
              "folding the whole account", file=sys.stderr)
        return None
    return ck.seq, st
