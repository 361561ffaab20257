"""The sync_state mirror: a one-way copy of the state files for a dashboard on another host.

``mirror(home, dest)`` copies every file of ``state_manifest.json`` (and the rotated
segments of the JSONL logs) from ``home`` to the same relative path under ``dest``.
It never reads anything back into ``home`` and never changes a value:

* **schema-checked**: a JSON file is copied only when it parses and matches its
  manifest fields and schema tag; a JSONL line only when it parses and matches. A
  file that does not is reported and the previous good copy stays.
* **atomic**: JSON files are written to a temporary file in the destination
  directory, fsynced and renamed over the old copy. JSONL files are append-only:
  new complete lines are appended with one write and an fsync.
* **deduplicated**: an unchanged JSON file is not rewritten; a JSONL line already in
  the copy (its ``seq`` at or below the copy's last ``seq``) is never appended again.
* **partial writes removed**: a leftover temporary file (``.*.mirror-tmp``) is deleted
  and a torn last JSONL line (no newline) is cut before anything is appended.

When the source and the copy disagree on what is already there (a source that was
rebuilt, or rotated), the JSONL copy is rewritten whole, atomically.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from projections.contract import load_manifest, validate

TMP_SUFFIX = ".mirror-tmp"
_SEGMENT = re.compile(r"\.(\d+)$")


@dataclass
class MirrorResult:
    written: list[str] = field(default_factory=list)  # files (re)written or appended to
    unchanged: list[str] = field(default_factory=list)
    lines_appended: int = 0
    removed_partials: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # manifest files the source does not have (yet)
    problems: dict[str, list[str]] = field(default_factory=dict)  # refused: file -> why

    def summary(self) -> str:
        return (f"mirror: {len(self.written)} written, {len(self.unchanged)} unchanged, "
                f"{self.lines_appended:,} lines appended, {len(self.removed_partials)} partial writes removed, "
                f"{len(self.missing)} missing, {len(self.problems)} refused")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}{TMP_SUFFIX}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _remove_partials(dest: Path, res: MirrorResult) -> None:
    for sub in ("state", "execution"):
        d = dest / sub
        if d.is_dir():
            for f in sorted(d.iterdir()):
                if f.name.endswith(TMP_SUFFIX) and f.is_file():
                    f.unlink()
                    res.removed_partials.append(str(f.relative_to(dest)))


def _check_json(data: bytes, spec: dict[str, Any]) -> list[str]:
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return [f"not JSON ({exc})"]
    problems = validate(doc, spec["fields"])
    if spec.get("shape") != "list" and isinstance(doc, dict) and doc.get("schema") != spec.get("schema"):
        problems.append(f"schema: expected {spec.get('schema')!r}, got {doc.get('schema')!r}")
    return problems


def _mirror_json(src: Path, dst: Path, name: str, spec: dict[str, Any], res: MirrorResult) -> None:
    data = src.read_bytes()
    problems = _check_json(data, spec)
    if problems:
        res.problems[name] = problems[:5]
        return
    if dst.exists() and dst.read_bytes() == data:
        res.unchanged.append(name)
        return
    _atomic_write(dst, data)
    res.written.append(name)


def _complete_lines(data: bytes) -> list[bytes]:
    """The complete lines of a JSONL buffer (a torn last line without newline is left out)."""
    end = data.rfind(b"\n")
    return [] if end < 0 else [ln for ln in data[:end + 1].splitlines(keepends=True) if ln.strip()]


def _check_lines(lines: list[bytes], spec: dict[str, Any], name: str, res: MirrorResult) -> list[bytes]:
    """The lines up to the first bad one (which is reported)."""
    good: list[bytes] = []
    for ln in lines:
        try:
            rec = json.loads(ln)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            res.problems[name] = [f"line {len(good) + 1}: not JSON ({exc})"]
            break
        problems = validate(rec, spec["fields"])
        if problems:
            res.problems[name] = [f"line {len(good) + 1}: {p}" for p in problems[:5]]
            break
        good.append(ln)
    return good


def _seq(line: bytes) -> int | None:
    try:
        v = json.loads(line).get("seq")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None
    return v if isinstance(v, int) else None


def _mirror_jsonl(src: Path, dst: Path, name: str, spec: dict[str, Any], res: MirrorResult) -> None:
    src_lines = _complete_lines(src.read_bytes())
    if dst.exists():
        raw = dst.read_bytes()
        have = _complete_lines(raw)
        if len(raw) and not raw.endswith(b"\n"):  # a torn append of an earlier run: cut it
            with open(dst, "r+b") as fh:
                fh.truncate(sum(len(x) for x in have) if have else 0)
            res.removed_partials.append(str(dst))
        last = _seq(have[-1]) if have else None
        prefix_ok = len(have) <= len(src_lines) and (not have or src_lines[len(have) - 1] == have[-1])
        if prefix_ok:
            new = src_lines[len(have):]
            if last is not None:
                new = [ln for ln in new if (_seq(ln) or 0) > last]  # never the same seq twice
            new = _check_lines(new, spec, name, res)
            if not new:
                res.unchanged.append(name)
                return
            with open(dst, "ab") as fh:
                fh.write(b"".join(new))
                fh.flush()
                os.fsync(fh.fileno())
            res.written.append(name)
            res.lines_appended += len(new)
            return
    good = _check_lines(src_lines, spec, name, res)
    _atomic_write(dst, b"".join(good))
    res.written.append(name)
    res.lines_appended += len(good)


def mirror(home: Path, dest: Path, manifest: dict[str, Any] | None = None) -> MirrorResult:
    """One pass of the mirror (see the module docstring)."""
    manifest = manifest or load_manifest()
    home, dest = Path(home), Path(dest)
    if dest.resolve() == home.resolve():
        raise ValueError(f"--to/--mirror: {dest} is the home itself; choose another directory")
    res = MirrorResult()
    _remove_partials(dest, res)
    for name, spec in manifest["files"].items():
        src = home / spec["path"]
        dst = dest / spec["path"]
        if not src.is_file():
            res.missing.append(name)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if spec["format"] == "jsonl":
            for seg in sorted(src.parent.glob(src.name + ".*"), key=lambda p: int(m.group(1))
                              if (m := _SEGMENT.search(p.name)) else -1):
                if _SEGMENT.search(seg.name) is None:
                    continue
                seg_dst = dst.parent / seg.name  # a rotated segment never changes: copy once
                if not (seg_dst.exists() and seg_dst.stat().st_size == seg.stat().st_size):
                    _atomic_write(seg_dst, seg.read_bytes())
                    res.written.append(seg.name)
            _mirror_jsonl(src, dst, name, spec, res)
        else:
            _mirror_json(src, dst, name, spec, res)
    return res
