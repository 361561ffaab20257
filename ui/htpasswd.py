"""The investors' htpasswd file: ``name:bcrypt-hash`` lines that nginx checks.

Passwords are hashed with bcrypt (``$2y$``, the variant ``htpasswd -B`` writes and
nginx/libxcrypt verify) and never stored, logged or echoed. Writes are atomic (temp
file + rename) and the file is mode 0600.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import bcrypt

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
MIN_PASSWORD = 10
ROUNDS = 12


class HtpasswdError(ValueError):
    """Bad name, bad password or unreadable file (the CLI prints it, exit 2)."""


def check_name(name: str) -> str:
    """``name`` if it is a valid login (letters, digits, ``._@+-``, at most 64)."""
    if not NAME_RE.match(name or ""):
        raise HtpasswdError(f"invalid investor name {name!r}: use letters, digits and ._@+- (max 64)")
    return name


def hash_password(password: str, rounds: int = ROUNDS) -> str:
    """A bcrypt hash in the ``$2y$`` form that nginx and Apache tools accept."""
    if len(password) < MIN_PASSWORD:
        raise HtpasswdError(f"password too short: at least {MIN_PASSWORD} characters")
    if len(password.encode("utf-8")) > 72:
        raise HtpasswdError("password too long: bcrypt uses at most 72 bytes")
    if any(ch in password for ch in "\r\n"):
        raise HtpasswdError("password must be one line")
    digest = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode("ascii")
    return "$2y$" + digest[4:]


def verify(password: str, hashed: str) -> bool:
    """True when ``password`` matches a bcrypt ``hashed`` entry."""
    h = hashed.encode("ascii")
    if h.startswith(b"$2y$"):
        h = b"$2b$" + h[4:]
    try:
        return bcrypt.checkpw(password.encode("utf-8"), h)
    except ValueError:
        return False


def read(path: Path) -> dict[str, str]:
    """name -> hash, in file order; ``{}`` when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise HtpasswdError(f"cannot read {path}: {exc.strerror}") from None
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        name, _, hashed = line.partition(":")
        out[name.strip()] = hashed.strip()
    return out


def write(path: Path, entries: dict[str, str]) -> None:
    """Replace ``path`` atomically with ``entries``: mode 0600 for a new file; an existing
    file keeps its permission bits and group (e.g. 0640 root:www-data for a system nginx)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        old = path.stat()
        mode, gid = old.st_mode & 0o777 & ~0o007, old.st_gid  # never world-readable
    except FileNotFoundError:
        mode, gid = 0o600, -1
    fd, tmp = tempfile.mkstemp(prefix=".htpasswd-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(f"{n}:{h}\n" for n, h in entries.items())
            fh.flush()
            os.fsync(fh.fileno())
        if gid != -1:
            try:
                os.chown(tmp, -1, gid)
            except PermissionError:
                pass  # not a member of that group: the file keeps ours
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add(path: Path, name: str, password: str, rounds: int = ROUNDS) -> bool:
    """Add ``name`` or change its password; True when the name was new."""
    entries = read(path)
    new = check_name(name) not in entries
    entries[name] = hash_password(password, rounds)
    write(path, entries)
    return new


def remove(path: Path, name: str) -> None:
    """Remove ``name``; an error when it is not there."""
    entries = read(path)
    if name not in entries:
        raise HtpasswdError(f"no investor named {name!r} in {path}")
    del entries[name]
    write(path, entries)


def names(path: Path) -> list[str]:
    """The investor names in ``path``, in file order."""
    return list(read(path))
