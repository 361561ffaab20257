"""The state contract as code: read ``state_manifest.json`` and check files against it.

Field paths in the manifest: ``a.b`` (nested key), ``a[].b`` (every item of list
``a``), ``a.*.b`` (every value of mapping ``a``). Types: ``str``, ``int``,
``float`` (an int is a valid float), ``bool``, ``object``, ``list``, optionally
``|null``. Every documented key must be present (missing data is ``null``, not
absent); extra keys are allowed (changes are additive).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from projections.files import StateFileError, read_json, read_jsonl

MANIFEST = Path(__file__).resolve().parents[1] / "state_manifest.json"
_MISSING = object()


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StateFileError(f"{path}: cannot read the state manifest ({exc})") from None
    return doc


def _type_ok(value: Any, spec: str) -> bool:
    kinds = spec.split("|")
    if value is None:
        return "null" in kinds
    for k in kinds:
        if k == "str" and isinstance(value, str):
            return True
        if k == "bool" and isinstance(value, bool):
            return True
        if k == "int" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if k == "float" and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if k == "object" and isinstance(value, dict):
            return True
        if k == "list" and isinstance(value, list):
            return True
    return False


def _tokens(path: str) -> list[str]:
    out: list[str] = []
    for part in path.split("."):
        if part.endswith("[]"):
            out += [part[:-2], "[]"]
        else:
            out.append(part)
    return out


def _walk(node: Any, tokens: list[str], where: str) -> list[tuple[str, Any]]:
    """(concrete path, value or _MISSING) for every place a path points to."""
    if not tokens:
        return [(where, node)]
    tok, rest = tokens[0], tokens[1:]
    if tok == "[]":
        if not isinstance(node, list):
            return []
        return [x for i, item in enumerate(node) for x in _walk(item, rest, f"{where}[{i}]")]
    if tok == "*":
        if not isinstance(node, dict):
            return []
        return [x for k, v in node.items() for x in _walk(v, rest, f"{where}.{k}")]
    if not isinstance(node, dict):
        return []
    sub = f"{where}.{tok}" if where else tok
    if tok not in node:
        return [(sub, _MISSING)]
    return _walk(node[tok], rest, sub)


def validate(doc: Any, fields: dict[str, str]) -> list[str]:
    """Problems of one document against a manifest ``fields`` map (empty list = valid)."""
    problems = []
    for path, spec in fields.items():
        for where, value in _walk(doc, _tokens(path), ""):
            if value is _MISSING:
                problems.append(f"{where}: missing (expected {spec})")
            elif not _type_ok(value, spec):
                problems.append(f"{where}: expected {spec}, got {type(value).__name__} {value!r:.60}")
    return problems


def read_json_list(path: Path) -> list[Any]:
    """A state file whose documented shape is a top-level JSON list."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateFileError(f"{path}: corrupt state file ({exc})") from None
    if not isinstance(doc, list):
        raise StateFileError(f"{path}: corrupt state file (expected a JSON list, got {type(doc).__name__})")
    return doc


def validate_home(home: Path, manifest: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """file name -> problems for every manifest file under ``home`` (a missing file is a problem)."""
    manifest = manifest or load_manifest()
    out: dict[str, list[str]] = {}
    for name, spec in manifest["files"].items():
        path = Path(home) / spec["path"]
        if not path.exists():
            out[name] = [f"{path}: missing"]
            continue
        try:
            if spec["format"] == "jsonl":
                problems = [f"line {i}: {p}" for i, rec in enumerate(read_jsonl(path), 1)
                            for p in validate(rec, spec["fields"])]
            elif spec.get("shape") == "list":  # the seed's top-level list (positions.json)
                rows = read_json_list(path)
                problems = validate(rows, spec["fields"])
            else:
                doc = read_json(path)
                problems = validate(doc, spec["fields"])
                if doc.get("schema") != spec["schema"]:
                    problems.append(f"schema: expected {spec['schema']!r}, got {doc.get('schema')!r}")
        except StateFileError as exc:
            problems = [str(exc)]
        out[name] = problems
    return out
