"""Tamper evidence: whatever a person does to the stored log, ``hedge verify`` names the first bad seq.

The attacker works directly on the database (sqlite3 / psycopg), on a real session
log written by ``hedge run``, on both backends.
"""

from __future__ import annotations

import random

import msgspec
import pytest

from eventlog.chain import GENESIS, chain_states, split
from eventlog.codec import decode, encode
from tests.reliability.harness import Site

BARS = "300"


@pytest.fixture
def logged(site: Site) -> tuple[Site, str, list[int]]:
    r = site.hedge("run", "--bars", BARS, "--no-projections", "--quiet")
    assert r.returncode == 0, r.stderr
    res = site.verify()
    assert res["ok"], res
    published = f"{res['last_seq']}:{res['head_hash']}"
    return site, published, site.raw().seqs()


def _failed_at(site: Site, *extra: str) -> int:
    r = site.hedge("verify", *extra)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith("FAILED at seq "), line
    return int(line.split()[3].rstrip(":"))


def _seq_of(site: Site, topic: str) -> int:
    return next(r[0] for r in site.raw().rows() if r[3] == topic)


def test_a_changed_fill_price_is_named(logged: tuple[Site, str, list[int]]) -> None:
    site, _, _ = logged
    raw = site.raw()
    seq = _seq_of(site, "OrderFilled")
    link, payload = split(raw.state(seq))
    ev = decode(payload)
    forged = encode(msgspec.structs.replace(ev, price=ev.price * 0.9))  # type: ignore[attr-defined]
    raw.set_state(seq, link + forged)  # decodes fine, reads like a real fill
    assert _failed_at(site) == seq


def test_a_flipped_byte_in_a_random_row_is_named(logged: tuple[Site, str, list[int]]) -> None:
    site, published, seqs = logged
    rnd = random.Random(7)
    seq = rnd.choice(seqs)
    site.raw().flip_byte(seq, rnd.randrange(0, len(site.raw().state(seq))))
    assert _failed_at(site, "--head", published) == seq


def test_a_deleted_event_is_named(logged: tuple[Site, str, list[int]]) -> None:
    site, published, seqs = logged
    seq = seqs[len(seqs) // 2]
    site.raw().delete(seq)
    assert _failed_at(site, "--head", published) == seq


def test_two_reordered_events_are_named(logged: tuple[Site, str, list[int]]) -> None:
    site, _, seqs = logged
    a, b = seqs[10], seqs[25]
    site.raw().swap(a, b)
    assert _failed_at(site) == a


def test_a_changed_topic_or_row_key_is_named(logged: tuple[Site, str, list[int]]) -> None:
    site, _, seqs = logged
    seq = seqs[5]
    site.raw().set_topic(seq, "OrderFilled")
    assert _failed_at(site) == seq


def test_a_truncated_tail_is_found_with_the_published_head(logged: tuple[Site, str, list[int]]) -> None:
    site, published, seqs = logged
    keep = seqs[-40]
    site.raw().truncate_after(keep)
    assert site.verify()["ok"]  # a clean prefix proves itself...
    assert _failed_at(site, "--head", published) == keep + 1  # ...but not against the head


def test_a_rewritten_and_rechained_history_is_caught_by_the_published_head(
    logged: tuple[Site, str, list[int]]
) -> None:
    site, published, seqs = logged
    raw = site.raw()
    rows = raw.rows()
    i = next(k for k, r in enumerate(rows) if r[3] == "OrderFilled")
    payloads = [split(r[4])[1] for r in rows]
    ev = decode(payloads[i])
    payloads[i] = encode(msgspec.structs.replace(ev, fee_usd=0.0))  # type: ignore[attr-defined]
    states, _ = chain_states(GENESIS, payloads)
    # A careful attacker re-chains the whole tail after the change.
    raw.set_states([(r[0], st) for r, st in zip(rows[i:], states[i:], strict=True)])
    assert site.verify()["ok"]  # internally consistent...
    assert _failed_at(site, "--head", published) == seqs[-1]  # ...but not the published history


def test_verify_never_writes(logged: tuple[Site, str, list[int]]) -> None:
    site, published, _ = logged
    before = site.log_digest()
    for args in ((), ("--head", published), ("--format", "json")):
        assert site.hedge("verify", *args).returncode == 0
    assert site.log_digest() == before
