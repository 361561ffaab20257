"""Reading one config file safely: a regular file of sane size, JSON of sane depth.

A FIFO as a config file used to hang ``hedge config check``; a directory or a JSON
document nested thousands deep ended in the CLI's last-resort ``failed:`` line.
``read_text`` refuses anything but a regular file (without opening it, so a FIFO
never blocks) and files over ``MAX_BYTES``; ``check_depth`` refuses nesting deeper
than ``MAX_DEPTH`` before the JSON parser recurses. Both raise ``ConfigError``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64


def read_text(path: Path, fname: str) -> str:
    """The file's UTF-8 text; ``ConfigError`` when it is not a readable regular file."""
    from config.errors import ConfigError

    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(fname, "", f"cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(fname, "", "is a directory, expected a JSON file")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(fname, "", "is not a regular file (a FIFO, socket or device?)")
    if st.st_size > MAX_BYTES:
        raise ConfigError(fname, "", f"too large ({st.st_size:,} bytes, at most {MAX_BYTES:,})")
    try:
        # O_NONBLOCK: should the path have been swapped for a FIFO since the stat, never hang
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(fname, "", f"cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ConfigError(fname, "", "is not a regular file")
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ConfigError(fname, "", f"too large (more than {MAX_BYTES:,} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(fname, "", f"not UTF-8 text ({exc.reason})") from None
    check_depth(text, fname)
    return text


def check_depth(text: str, fname: str) -> None:
    """Refuse JSON nested deeper than ``MAX_DEPTH`` (brackets inside strings are skipped)."""
    from config.errors import ConfigError

    depth = 0
    in_str = esc = False
    line = 1
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(fname, f"line {line}", f"nested deeper than {MAX_DEPTH} levels")
        elif ch in "]}":
            depth -= 1
        elif ch == "\n":
            line += 1
