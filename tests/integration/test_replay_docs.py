"""The commands at the top of ``docs/replay.md`` run as written on a real session."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from eventlog.store import EventStore
from tests.integration.test_replay_verify import hedge

DOC = Path(__file__).resolve().parents[2] / "docs" / "replay.md"


def doc_commands() -> list[str]:
    block = re.search(r"```(?:bash)?\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/replay.md lost its command block"
    return [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.startswith("hedge ")]


def test_documented_commands_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rc, _, err = hedge("run", "--home", str(home), "--bars", "1500", "--no-projections", "--quiet")
    assert rc == 0, err
    with EventStore.open(home, create=False) as store:
        decision = next(store.read(types=("RiskDecided",))).decision_id
    cmds = doc_commands()
    assert len(cmds) >= 5
    for cmd in cmds:
        argv = shlex.split(cmd.replace("[--set ...] [--out DIR]", f"--out {tmp_path / 'out'}")
                           .replace("SESSION", "last").replace("DECISION_ID", decision))[1:]
        # a relative --out (the doc's "--out what-if") lands in tmp_path, not in the checkout
        argv = [str(tmp_path / a) if i and argv[i - 1] == "--out" and not Path(a).is_absolute() else a
                for i, a in enumerate(argv)]
        rc, out, err = hedge(*argv, "--home", str(home))
        assert rc == 0, (cmd, err)
        assert out.strip(), cmd
