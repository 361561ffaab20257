"""State-file I/O and the contract validator: atomic writes, append-only JSONL, clear errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.contract import validate
from projections.files import (
    JsonlAppender,
    StateFileError,
    dumps,
    read_json,
    read_jsonl,
    write_json,
)


def test_write_json_is_canonical_atomic_and_turns_non_finite_into_null(tmp_path: Path) -> None:
    path = tmp_path / "state" / "x.json"
    assert write_json(path, {"b": math.nan, "a": [1.5, math.inf], "c": {"z": 1, "y": None}})
    assert path.read_text() == '{\n  "a": [\n    1.5,\n    null\n  ],\n  "b": null,\n  "c": {\n    "y": null,\n    "z": 1\n  }\n}\n'
    assert not write_json(path, {"c": {"y": None, "z": 1}, "b": None, "a": [1.5, None]})  # same bytes: no write
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]  # no temp file left behind


@given(st.dictionaries(st.text(max_size=5), st.one_of(st.floats(), st.integers(), st.text(max_size=5), st.none())))
def test_dumps_is_valid_strict_json_for_any_values(doc: dict[str, object]) -> None:
    back = json.loads(dumps(doc))
    assert set(back) == set(doc)


def test_jsonl_appends_only_new_seqs_and_repairs_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "execution" / "risk_vetoes.jsonl"
    a = JsonlAppender(path)
    assert a.append([{"seq": 3, "gate": "g"}, {"seq": 5, "gate": "h"}]) == 2
    assert a.append([{"seq": 5, "gate": "h"}, {"seq": 6, "gate": "i"}]) == 1  # seq 5 already there
    with open(path, "ab") as fh:
        fh.write(b'{"seq": 9, "ga')  # a crash mid-line
    b = JsonlAppender(path)
    assert b.append([{"seq": 6, "gate": "i"}, {"seq": 9, "gate": "j"}]) == 1
    b.sync()
    assert [r["seq"] for r in read_jsonl(path)] == [3, 5, 6, 9]
    assert path.read_bytes().count(b"\n") == 4


def test_jsonl_with_a_corrupt_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text('{"seq": 1}\nnot json\n')
    with pytest.raises(StateFileError, match=r"v\.jsonl:2: corrupt line"):
        read_jsonl(path)
    with pytest.raises(StateFileError, match="corrupt last line"):
        JsonlAppender(path).append([{"seq": 2}])


def test_read_json_names_a_missing_or_wrong_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe")
    with pytest.raises(StateFileError, match=r"bad\.json: corrupt state file"):
        read_json(tmp_path / "bad.json")


def test_validator_reports_missing_keys_wrong_types_and_walks_lists_and_maps() -> None:
    fields = {"a": "float|null", "b": "list", "b[].s": "str", "m": "object", "m.*.n": "int", "o.p": "bool"}
    good = {"a": None, "b": [{"s": "x"}], "m": {"k": {"n": 1}}, "o": {"p": True}}
    assert validate(good, fields) == []
    bad = {"a": "1", "b": [{"s": 1}, {}], "m": {"k": {"n": 1.5}}, "o": {}}
    problems = validate(bad, fields)
    assert "a: expected float|null, got str '1'" in problems[0]
    assert any(p.startswith("b[0].s: expected str") for p in problems)
    assert "b[1].s: missing (expected str)" in problems
    assert any(p.startswith("m.k.n: expected int") for p in problems)
    assert "o.p: missing (expected bool)" in problems
    assert validate({"a": True, "b": [], "m": {}, "o": {"p": False}}, fields) == ["a: expected float|null, got bool True"]
