"""``ConfigError``: the one error every config module raises (file, key, reason)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config problem: ``file: key: reason`` (the CLI exits 2 on it)."""

    def __init__(self, file: str, key: str, reason: str):
        self.file, self.key, self.reason = file, key, reason
        super().__init__(f"{file}: {key or '(top level)'}: {reason}")
