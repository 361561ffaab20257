"""Issue 17 item 3: every command that reads the log checks the chain as it reads.

A fill price is forged in place (the row still decodes and reads like a real fill).
``sessions``, ``rebuild``, ``project``, ``replay``, ``explain`` and ``run`` must each
stop with exit 1 naming where the chain breaks, write nothing to the log, and leave
the projections as they were; ``run`` must not append after the broken link.
(``project`` reads only the rows after its checkpoint, so the forged row lies there.) A
forged *last* row (nothing after it to break a link) is caught by ``run`` through
the row hash the projections checkpoint recorded. Both backends.
"""

from __future__ import annotations

import re

import msgspec
import pytest

from eventlog.chain import split
from eventlog.codec import decode, encode
from tests.reliability.harness import Site


def _forge(site: Site, seq: int) -> None:
    raw = site.raw()
    link, payload = split(raw.state(seq))
    ev = decode(payload)
    field = "price" if hasattr(ev, "price") else "ts_event_ns"
    forged = encode(msgspec.structs.replace(ev, **{field: getattr(ev, field) + 1}))
    raw.set_state(seq, link + forged)


def _outputs(site: Site) -> dict[str, bytes]:
    out = dict(site.state_files())
    ck = site.home / "projections" / "checkpoint.bin"
    out["checkpoint"] = ck.read_bytes() if ck.exists() else b""
    return out


@pytest.fixture
def forged(site: Site) -> tuple[Site, int]:
    """A projected session, then one not yet projected; a fill in the second one is forged."""
    r = site.hedge("run", "--bars", "300", "--quiet")
    assert r.returncode == 0, r.stderr
    projected = site.raw().max_seq()
    r = site.hedge("run", "--bars", "300", "--quiet", "--no-projections")
    assert r.returncode == 0, r.stderr
    rows = [row for row in site.raw().rows() if row[0] > projected]
    fills = [row[0] for row in rows if row[3] == "OrderFilled"]
    seq = fills[0] if fills else rows[len(rows) // 2][0]
    _forge(site, seq)
    return site, seq


def test_every_reading_command_refuses_a_forged_fill_and_changes_nothing(forged: tuple[Site, int]) -> None:
    site, seq = forged
    log0, out0 = site.log_digest(), _outputs(site)
    for args in (("sessions",), ("rebuild",), ("project",), ("replay", "last", "--verify"), ("explain", "last"),
                 ("run", "--bars", "5", "--quiet")):
        r = site.hedge(*args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        m = re.search(r"does not verify at seq (\d+)", r.stderr)
        assert m and int(m.group(1)) in (seq, seq + 1), (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert site.log_digest() == log0, f"{args} wrote to the log"
        assert _outputs(site) == out0, f"{args} changed the projections"
    v = site.hedge("verify")
    assert v.returncode == 1 and f"FAILED at seq {seq}:" in v.stdout


def test_run_refuses_to_append_after_a_forged_last_row(site: Site) -> None:
    r = site.hedge("run", "--bars", "200", "--quiet")
    assert r.returncode == 0, r.stderr
    last = site.raw().max_seq()
    _forge(site, last)
    log0 = site.log_digest()
    r = site.hedge("run", "--bars", "5", "--quiet")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"does not verify at seq {last}" in r.stderr, r.stderr
    assert site.log_digest() == log0
