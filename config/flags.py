"""The six V6 feature flags: in ``runtime.v6_flags``, overridable by environment variables.

``FLAG_ENV`` maps each flag to its variable (the upper-case flag name, as in the
seeds: ``INTEL_V6_ENABLED=1``). The CLI reads them once (``config.settings``);
``with_flags(loaded, overrides)`` is called by the composition root (``hedge run``)
only: it returns the config with the overrides applied (so they are part of the
config and hash recorded in ``SessionStarted`` and, on a reload, ``ConfigChanged``)
and a note per override.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config.loader import ConfigError, LoadedConfig, build, config_to_dict
from config.schema import HedgeConfig, V6Flags

FLAGS: tuple[str, ...] = tuple(V6Flags.__struct_fields__)
FLAG_ENV: dict[str, str] = {f: f.upper() for f in FLAGS}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def flags_of(cfg: HedgeConfig) -> dict[str, bool]:
    """Every flag and whether it is on, in the seeds' order."""
    f = cfg.runtime.v6_flags
    return {name: bool(getattr(f, name)) for name in FLAGS}


def env_overrides(env: Mapping[str, str]) -> dict[str, bool]:
    """Flags set in the environment (a value that is not a boolean is an error naming the variable)."""
    out: dict[str, bool] = {}
    for flag, var in FLAG_ENV.items():
        if var not in env:
            continue
        v = env[var].strip().lower()
        if v in _TRUE:
            out[flag] = True
        elif v in _FALSE:
            out[flag] = False
        else:
            raise ConfigError(f"${var}", flag, f"expected 1/0/true/false, got {env[var]!r}")
    return out


def with_env_flags(loaded: LoadedConfig, env: Mapping[str, str]) -> LoadedConfig:
    """The config with the flag overrides of ``env`` (a mapping given, e.g. by a test) applied."""
    return with_flags(loaded, env_overrides(env))


def with_flags(loaded: LoadedConfig, over: Mapping[str, bool]) -> LoadedConfig:
    """The config with these flag overrides applied (and noted)."""
    if not over:
        return loaded
    d: dict[str, Any] = config_to_dict(loaded.config)
    flags = d["runtime"].setdefault("v6_flags", {})
    notes = list(loaded.normalisations)
    for flag, value in over.items():
        if flags.get(flag) != value:
            notes.append(f"env {FLAG_ENV[flag]}: runtime.v6_flags.{flag}: {flags.get(flag)} -> {value}")
        flags[flag] = value
    return build(d, notes, loaded.source)
