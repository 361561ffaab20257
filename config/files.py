"""Reading the config files as the engineering guide names them.

* JSON files are parsed strictly: a key given twice in one object is an error
  (``json`` would silently keep the last one).
* ``runtime.yaml`` (or ``runtime.yml``) is read as YAML (safe loader, duplicate
  keys refused); having it *and* ``runtime.json`` is an error (which one wins
  would be a guess).
* ``symbol_tiers.json`` maps symbol -> tier and is merged into the universe
  (``pairs_universe.json``): it may fill a symbol's missing ``tier``; a symbol
  whose two tiers differ, or a tier for a symbol not in the universe, is an
  error naming both files.
* A config entry that is a dangling symlink is an error (it used to read as
  "file missing", i.e. silently the defaults).

Every error is a ``ConfigError(file, key, reason)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RUNTIME_YAML = ("runtime.yaml", "runtime.yml")
SYMBOL_TIERS = "symbol_tiers.json"
UNIVERSE = "pairs_universe.json"


def _error(file: str, key: str, reason: str) -> Exception:
    from config.errors import ConfigError

    return ConfigError(file, key, reason)


def check_symlinks(directory: Path) -> None:
    """Refuse any dangling symlink in the config directory (it would read as 'missing')."""
    for p in sorted(directory.iterdir()):
        if p.is_symlink() and not p.exists():
            raise _error(p.name, "", f"dangling symlink (points to {p.readlink()}, which does not exist)")


def _no_duplicates(file: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise _error(file, k, "duplicate key (given twice in the same object)")
            out[k] = v
        return out

    return hook


def read_json_file(path: Path) -> Any:
    """Parse one JSON config file; duplicate keys, bad UTF-8 and bad JSON are errors."""
    from config.filecheck import read_text

    fname = path.name
    text = read_text(path, fname)  # a regular file of sane size and depth, UTF-8
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates(fname))
    except json.JSONDecodeError as exc:
        raise _error(fname, f"line {exc.lineno} col {exc.colno}", f"invalid JSON: {exc.msg}") from None


def read_yaml_file(path: Path) -> Any:
    """Parse one YAML config file with the safe loader; duplicate keys are errors."""
    import yaml

    fname = path.name

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=deep)
            if key in out:
                raise _error(fname, str(key), f"duplicate key (line {knode.start_mark.line + 1})")
            out[key] = loader.construct_object(vnode, deep=deep)
        return out

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    from config.filecheck import read_text

    text = read_text(path, fname)
    try:
        data = yaml.load(text, Loader=StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} col {mark.column + 1}" if mark is not None else ""
        raise _error(fname, where, f"invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise _error(fname, "", f"invalid YAML: {exc}") from None
    return {} if data is None else data


def runtime_source(directory: Path) -> Path | None:
    """The runtime config file: runtime.json or runtime.yaml (both present is an error)."""
    found = [directory / n for n in ("runtime.json", *RUNTIME_YAML) if (directory / n).exists()]
    if len(found) > 1:
        raise _error(found[1].name, "", f"both {' and '.join(p.name for p in found)} exist; keep one")
    return found[0] if found else None


def read_config_file(path: Path) -> Any:
    """JSON or YAML by the file's suffix."""
    return read_yaml_file(path) if path.suffix in (".yaml", ".yml") else read_json_file(path)


def merge_symbol_tiers(directory: Path, universe: dict[str, Any]) -> dict[str, Any]:
    """The universe with ``symbol_tiers.json`` merged in (a conflict names both files)."""
    path = directory / SYMBOL_TIERS
    if not path.exists():
        return universe
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise _error(SYMBOL_TIERS, "", f"must be a JSON object, got {type(data).__name__}")
    tiers = data.get("symbols", data) if set(data) <= {"symbols"} else data
    if not isinstance(tiers, dict):
        raise _error(SYMBOL_TIERS, "symbols", "must map symbol -> tier")
    symbols = universe.get("symbols")
    if not isinstance(symbols, dict):
        symbols = {}
    out = dict(universe)
    merged = dict(symbols)
    for sym, tier in tiers.items():
        if not isinstance(tier, str):
            raise _error(SYMBOL_TIERS, sym, f"tier must be a string, got {type(tier).__name__}")
        spec = merged.get(sym)
        if not isinstance(spec, dict):
            raise _error(SYMBOL_TIERS, sym, f"{sym} is not in {UNIVERSE}")
        have = spec.get("tier")
        if have is not None and have != tier:
            raise _error(SYMBOL_TIERS, sym,
                         f"tier {tier!r} conflicts with {UNIVERSE}: symbols.{sym}.tier = {have!r}")
        merged[sym] = {**spec, "tier": tier}
    out["symbols"] = merged
    return out
