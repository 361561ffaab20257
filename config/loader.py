"""Load, normalise, validate and hash the config directory.

``load_config(dir)`` reads every file of ``schema.FILES`` (a missing file means that
section's defaults), normalises percentages once (``normalize_percentage``), refuses
unknown keys and bad values with a ``ConfigError`` naming file, key and reason, and
returns the frozen config with its hash and the list of normalisations applied.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from config.errors import ConfigError
from config.files import (
    RUNTIME_YAML,
    SYMBOL_TIERS,
    check_symlinks,
    merge_symbol_tiers,
    read_config_file,
    runtime_source,
)
from config.ranges import check_ranges
from config.schema import FILES, TIERS, HedgeConfig

REPO_CONFIG_DIR = Path(__file__).resolve().parent
_hash_encoder = msgspec.json.Encoder(order="sorted")


class LoadedConfig(msgspec.Struct, frozen=True, kw_only=True):
    config: HedgeConfig
    config_hash: str
    normalisations: list[str]
    source: str

    def as_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)


def resolve_config_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``explicit`` (the CLI's ``--config DIR``, else ``HEDGE_CONFIG_DIR``: ``config.settings``),
    else the repo's ``config/``."""
    return Path(explicit or REPO_CONFIG_DIR)


def normalize_percentage(value: float) -> float:
    """5 -> 0.05; 0.05 stays 0.05 (the seeds' ``normalize_percentage``)."""
    return value / 100.0 if value > 1 else value


AMBIGUOUS_ONE = "1 is ambiguous (1% or 100%?): write the fraction, e.g. 0.01 for 1% or 1.0 for 100%"


def ambiguous_one(value: int | float) -> bool:
    """An integer 1 under a percent-like key: 1% or 100%? (``1.0`` is written as a fraction.)"""
    return isinstance(value, int) and not isinstance(value, bool) and value == 1


def _is_pct_key(key: str) -> bool:
    return key.endswith("_pct") or key.endswith("_frac")


def _normalise(node: Any, path: str, file: str, notes: list[str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            sub = f"{path}.{k}" if path else str(k)
            if _is_pct_key(str(k)) and isinstance(v, int | float) and not isinstance(v, bool):
                if v < 0:
                    raise ConfigError(file, sub, f"must be a fraction >= 0, got {v}")
                if ambiguous_one(v):
                    raise ConfigError(file, sub, AMBIGUOUS_ONE)
                nv = normalize_percentage(float(v))
                if nv != v:
                    notes.append(f"{file}: {sub}: {v} -> {nv} (percentage normalised to a fraction)")
                if nv > 1:
                    raise ConfigError(file, sub, f"must be a fraction <= 1, got {v}")
                out[k] = nv
            else:
                out[k] = _normalise(v, sub, file, notes)
        return out
    if isinstance(node, list):
        return [_normalise(v, f"{path}[{i}]", file, notes) for i, v in enumerate(node)]
    return node


_LOC = re.compile(r" - at `\$(.*)`$")


def _unwrap(t: Any) -> Any:
    """The struct or dict inside an Optional/Union type (msgspec.inspect)."""
    if isinstance(t, mi.UnionType):
        for member in t.types:
            if isinstance(member, mi.StructType | mi.DictType | mi.ListType):
                return member
    return t


def key_names_at(struct: Any, parts: list[str]) -> list[str]:
    """The key names allowed beside ``parts[-1]`` in ``struct`` (for a "did you mean")."""
    t = _unwrap(mi.type_info(struct))
    for part in parts[:-1]:
        if isinstance(t, mi.StructType):
            field = next((f for f in t.fields if f.encode_name == part), None)
            if field is None:
                return []
            t = _unwrap(field.type)
        elif isinstance(t, mi.DictType):
            t = _unwrap(t.value_type)
        elif isinstance(t, mi.ListType):
            t = _unwrap(t.item_type)
        else:
            return []
    return [f.encode_name for f in t.fields] if isinstance(t, mi.StructType) else []


def _did_you_mean(word: str, names: list[str]) -> str:
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _validation_error(file: str, exc: msgspec.ValidationError, struct: Any = None) -> ConfigError:
    msg = str(exc)
    m = _LOC.search(msg)
    key = ""
    if m:
        key = m.group(1).lstrip(".").replace("[", ".").replace("]", "").replace("'", "").replace('"', "")
        msg = msg[: m.start()]
    unknown = re.match(r"Object contains unknown field `(.+)`", msg)
    if unknown:
        key = f"{key}.{unknown.group(1)}" if key else unknown.group(1)
        msg = "unknown key"
        if struct is not None:
            parts = key.split(".")
            msg += _did_you_mean(parts[-1], key_names_at(struct, parts))
    missing = re.match(r"Object missing required field `(.+)`", msg)
    if missing:
        key = f"{key}.{missing.group(1)}" if key else missing.group(1)
        msg = "required key missing"
    return ConfigError(file, key, msg)


def read_raw(directory: Path) -> tuple[dict[str, Any], list[str]]:
    """Raw (normalised) section dicts keyed by section name, and the notes.

    File reading (strict JSON, ``runtime.yaml``, ``symbol_tiers.json``, symlinks)
    is ``config.files``.
    """
    if not directory.is_dir():
        raise ConfigError(str(directory), "", "config directory does not exist")
    _check_file_names(directory)
    check_symlinks(directory)
    raw: dict[str, Any] = {}
    notes: list[str] = []
    for fname, (section, _) in FILES.items():
        path = runtime_source(directory) if fname == "runtime.json" else directory / fname
        if path is None or not path.exists():
            raw[section] = {}
            continue
        data = read_config_file(path)  # regular file, size and depth checked (config.filecheck)
        if not isinstance(data, dict):
            raise ConfigError(path.name, "", f"must be a JSON object, got {type(data).__name__}")
        raw[section] = _normalise(data, "", path.name, notes)
    raw["universe"] = merge_symbol_tiers(directory, raw.get("universe", {}))
    return raw, notes


def _check_file_names(directory: Path) -> None:
    known = set(FILES) | {SYMBOL_TIERS}
    for p in sorted([*directory.glob("*.json"), *directory.glob("*.yaml"), *directory.glob("*.yml")]):
        if p.name not in known and p.name not in RUNTIME_YAML:
            expected = ", ".join(sorted(known | set(RUNTIME_YAML)))
            raise ConfigError(p.name, "", f"unknown config file (expected one of {expected})")


def build(raw: dict[str, Any], notes: list[str], source: str) -> LoadedConfig:
    """Convert raw sections into the frozen config, validate, hash."""
    sections: dict[str, Any] = {}
    for fname, (section, struct) in FILES.items():
        try:
            sections[section] = msgspec.convert(raw.get(section, {}), struct, strict=True)
        except msgspec.ValidationError as exc:
            raise _validation_error(fname, exc, struct) from None
    cfg = HedgeConfig(**sections)
    check_ranges(cfg)  # every number finite and in its documented range (config/ranges.py)
    validate(cfg)
    return LoadedConfig(config=cfg, config_hash=config_hash(cfg), normalisations=notes, source=source)


def load_config(directory: str | os.PathLike[str] | None = None) -> LoadedConfig:
    d = resolve_config_dir(directory)
    raw, notes = read_raw(d)
    return build(raw, notes, str(d))


def config_to_dict(cfg: HedgeConfig) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(cfg)
    return out


def config_hash(cfg: HedgeConfig) -> str:
    return hashlib.sha256(_hash_encoder.encode(cfg)).hexdigest()


def from_dict(d: dict[str, Any], source: str = "log") -> LoadedConfig:
    """Rebuild a config from the normalised dict recorded in ``SessionStarted``."""
    return build(d, [], source)


def validate(cfg: HedgeConfig) -> None:
    """Cross-file rules that a schema alone cannot express."""
    rl = cfg.risk_limits
    g = rl.global_
    f = "risk_limits.json"
    for t in TIERS:
        if t not in rl.tiers:
            raise ConfigError(f, f"tiers.{t}", "tier missing (CORE, SATELLITE, TACTICAL, ALT-EXT are required)")
    for t in rl.tiers:
        if t not in TIERS:
            raise ConfigError(f, f"tiers.{t}", f"unknown tier (expected one of {', '.join(TIERS)})")
    if not g.dd_cautious_pct < g.dd_defensive_pct <= g.max_drawdown_pct:
        raise ConfigError(f, "global.dd_cautious_pct", "need dd_cautious_pct < dd_defensive_pct <= max_drawdown_pct")
    c_out, d_out = g.dd_exits()
    if not c_out < g.dd_cautious_pct:
        raise ConfigError(f, "global.dd_cautious_exit_pct", "need dd_cautious_exit_pct < dd_cautious_pct (hysteresis)")
    if not d_out < g.dd_defensive_pct:
        raise ConfigError(f, "global.dd_defensive_exit_pct",
                          "need dd_defensive_exit_pct < dd_defensive_pct (hysteresis)")
    if d_out < c_out:
        raise ConfigError(f, "global.dd_defensive_exit_pct",
                          f"need dd_cautious_exit_pct ({c_out:g}) <= dd_defensive_exit_pct ({d_out:g})")
    if g.max_open_positions < 1:
        raise ConfigError(f, "global.max_open_positions", "must be >= 1")
    if g.nav_freshness_seconds <= 0:
        raise ConfigError(f, "global.nav_freshness_seconds", "must be > 0")
    if g.max_gross_nav_mult <= 0:
        raise ConfigError(f, "global.max_gross_nav_mult", "must be > 0")
    u = "pairs_universe.json"
    if not cfg.universe.symbols:
        raise ConfigError(u, "symbols", "at least one symbol is required")
    if cfg.universe.interval not in ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h"):
        raise ConfigError(u, "interval", f"unsupported kline interval {cfg.universe.interval!r}")
    for sym, spec in cfg.universe.symbols.items():
        if not re.fullmatch(r"[A-Z0-9]{2,20}USDT", sym):
            raise ConfigError(u, f"symbols.{sym}", "symbol must look like XXXUSDT (USD-M perpetual)")
        for k in ("tick_size", "step_size", "min_qty"):
            if getattr(spec, k) <= 0:
                raise ConfigError(u, f"symbols.{sym}.{k}", "must be > 0")
        if spec.liquidity_bucket not in cfg.liquidity_buckets.buckets:
            raise ConfigError(u, f"symbols.{sym}.liquidity_bucket",
                              f"unknown bucket {spec.liquidity_bucket!r} (see liquidity_buckets.json)")
    for name, grp in cfg.correlation_groups.groups.items():
        for sym in grp.symbols:
            if sym not in cfg.universe.symbols:
                raise ConfigError("correlation_groups.json", f"groups.{name}.symbols", f"{sym} is not in the universe")
    for sym in cfg.alerts.core_symbols:
        if sym not in cfg.universe.symbols:
            raise ConfigError("alerts.json", "core_symbols", f"{sym} is not in the universe")
    r = cfg.runtime
    for k in ("start_utc", "end_utc"):
        v = getattr(r.trading_window, k)
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
            raise ConfigError("runtime.json", f"trading_window.{k}", f"must be HH:MM (UTC), got {v!r}")
    if r.router.twap.slices < 1:
        raise ConfigError("runtime.json", "router.twap.slices", "must be >= 1")
    if r.router.max_reprices < 0:
        raise ConfigError("runtime.json", "router.max_reprices", "must be >= 0")
    if r.group_commit.max_batch < 1 or r.group_commit.max_latency_ms <= 0:
        raise ConfigError("runtime.json", "group_commit", "max_batch >= 1 and max_latency_ms > 0 required")
    s = cfg.strategy
    if not 1 <= s.fast_ema < s.slow_ema:
        raise ConfigError("strategy_config.json", "fast_ema", "need 1 <= fast_ema < slow_ema")
    if s.atr_regime.period < 1 or s.atr_regime.baseline_bars < s.atr_regime.period:
        raise ConfigError("strategy_config.json", "atr_regime", "need period >= 1 and baseline_bars >= period")
    if not 0 < s.atr_regime.low_ratio < 1 < s.atr_regime.high_ratio:
        raise ConfigError("strategy_config.json", "atr_regime", "need 0 < low_ratio < 1 < high_ratio")
    _validate_seeds(cfg)
    for asset, h in cfg.offexchange.holdings.items():
        if h.qty < 0 or h.cost_basis_usd < 0:
            raise ConfigError("offexchange_holdings.json", f"holdings.{asset}", "qty and cost_basis_usd must be >= 0")
        if h.price_symbol is None and h.fixed_price_usd is None:
            raise ConfigError("offexchange_holdings.json", f"holdings.{asset}", "needs price_symbol or fixed_price_usd")


def _validate_seeds(cfg: HedgeConfig) -> None:
    """Rules of the seeds' intel, signal gate and reporting keys (issue 16)."""
    f = "strategy_config.json"
    i = cfg.strategy.intel
    weights = (i.w_expectancy, i.w_trend, i.w_volatility, i.w_router, i.w_liquidity)
    if min(weights) < 0 or sum(weights) <= 0:
        raise ConfigError(f, "intel", "score weights must be >= 0 with a positive sum")
    if not 0 <= i.hybrid_signal_weight <= 1:
        raise ConfigError(f, "intel.hybrid_signal_weight", "must be within [0, 1]")
    if not 0 < i.conviction_min <= i.conviction_max:
        raise ConfigError(f, "intel.conviction_min", "need 0 < conviction_min <= conviction_max")
    if not i.expectancy_scale_frac > 0:
        raise ConfigError(f, "intel.expectancy_scale_frac", "must be > 0")
    sg = cfg.runtime.signal_gate
    if sg.expectancy_window < 1 or sg.expectancy_min_trades < 1:
        raise ConfigError("runtime.json", "signal_gate", "expectancy_window and expectancy_min_trades must be >= 1")
    r = cfg.runtime
    if r.usd_zar_rate is not None and not r.usd_zar_rate > 0:
        raise ConfigError("runtime.json", "usd_zar_rate", "must be > 0 (or null)")
    if not r.autotune_every_h > 0:
        raise ConfigError("runtime.json", "autotune_every_h", "must be > 0")


# ------------------------------------------------------------------ overrides (what-if)

_SECTION_ALIASES = {"risk": "risk_limits.global", "router": "runtime.router", "tiers": "risk_limits.tiers"}


def apply_overrides(base: dict[str, Any], assignments: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Apply ``key.path=value`` assignments to a config dict; unknown keys are refused.

    ``risk.X`` is short for ``risk_limits.global.X``; ``router.X`` for ``runtime.router.X``.
    Values are JSON literals (``0.08``, ``true``, ``"09:00"``) or bare strings.
    """
    out = json.loads(json.dumps(base))
    changes: list[dict[str, Any]] = []
    for a in assignments:
        if "=" not in a:
            raise ConfigError("--set", a, "expected key=value")
        key, text = a.split("=", 1)
        key = key.strip()
        head = key.split(".", 1)[0]
        full = _SECTION_ALIASES[head] + key[len(head):] if head in _SECTION_ALIASES else key
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        parts = full.split(".")
        node = out
        for p in parts[:-1]:
            if not isinstance(node, dict) or p not in node:
                raise ConfigError("--set", key, "unknown key" + _set_hint(p, node, key, full, out))
            node = node[p]
        leaf = parts[-1]
        if not isinstance(node, dict) or leaf not in node:
            raise ConfigError("--set", key, "unknown key" + _set_hint(leaf, node, key, full, out))
        if _is_pct_key(leaf) and isinstance(value, int | float) and not isinstance(value, bool):
            if ambiguous_one(value):
                raise ConfigError("--set", key, AMBIGUOUS_ONE)
            value = normalize_percentage(float(value))
        changes.append({"key": full, "old": node[leaf], "new": value})
        node[leaf] = value
    return out, changes



def _set_hint(part: str, node: Any, key: str, full: str, root: dict[str, Any]) -> str:
    """" (did you mean 'risk.max_open_positions'?)" for a mistyped ``--set`` key, in the form typed."""
    fixed = None
    close = difflib.get_close_matches(part, [str(k) for k in node], n=1, cutoff=0.6) if isinstance(node, dict) else []
    if close:
        cut = full.split(".")
        cut[cut.index(part)] = close[0]
        fixed = ".".join(cut)
    elif "." not in key:  # a bare leaf name: where it lives
        fixed = next((path for path in _leaf_paths(root) if path.rsplit(".", 1)[-1] == part), None)
    if fixed is None:
        return ""
    for alias, section in _SECTION_ALIASES.items():
        if fixed.startswith(section + "."):
            fixed = alias + fixed[len(section):]
            break
    return f" (did you mean {fixed!r}?)"


def _leaf_paths(node: Any, prefix: str = "") -> list[str]:
    if not isinstance(node, dict):
        return [prefix]
    out: list[str] = []
    for k, v in node.items():
        out += _leaf_paths(v, f"{prefix}.{k}" if prefix else str(k))
    return out
