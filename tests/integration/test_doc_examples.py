"""Every shell example in ``README.md`` and ``docs/*.md`` runs (docs/writing_docs.md).

A fenced block tagged ``bash`` (or ``sh``/``shell``/``console``) is executed with
``bash -e -o pipefail`` in a sandbox that looks like a fresh checkout after one
simulated session: the repo's top-level folders linked in, ``./logs`` a copy of a
prepared home, ``../shared`` the shared market data, ``hedge`` on ``PATH``, no
``HEDGE_*``/``TELEGRAM_*``/``BINANCE_*`` variables. A block that cannot run here is
preceded by a line ``<!-- not-runnable: <reason> -->`` and reported as skipped with
that reason. Every block gets its own copy of the home, so blocks are independent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

SHELL_LANGS = {"bash", "sh", "shell", "console"}
MARKER = re.compile(r"^\s*<!--\s*not-runnable:(.*?)-->\s*$")
FENCE = re.compile(r"^(\s*)(```+)\s*([\w+-]*)\s*$")
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TIMEOUT_S = 180


@dataclass(frozen=True)
class Example:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    not_runnable: str | None  # the reason, when marked

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def _blocks(lines: list[str]) -> list[tuple[int, int, str, str]]:
    """(opening index, closing index, indent, info) of every fenced block (CommonMark rules:
    a closing fence is at least as long as the opening one and has no info string)."""
    out = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, ticks, info = m.group(1), m.group(2), m.group(3).lower()
        j = i + 1
        while j < len(lines):
            c = FENCE.match(lines[j])
            if c and len(c.group(2)) >= len(ticks) and not c.group(3):
                break
            j += 1
        out.append((i, j, indent, info))
        i = j + 1
    return out


def parse(path: Path) -> list[Example]:
    """The fenced shell blocks of one Markdown file, with their not-runnable marks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Example] = []
    for start, end, indent, lang in _blocks(lines):
        if lang not in SHELL_LANGS:
            continue
        body = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in lines[start + 1:end]]
        prev = start - 1
        while prev >= 0 and not lines[prev].strip():
            prev -= 1
        mark = MARKER.match(lines[prev]) if prev >= 0 else None
        reason = mark.group(1).strip() if mark else None
        out.append(Example(path, start + 1, lang, "\n".join(body) + "\n", reason))
    return out


EXAMPLES = [ex for doc in DOCS for ex in parse(doc)]


def test_examples_found() -> None:
    """The parser sees the documented examples (a broken parser must not pass silently)."""
    assert len(EXAMPLES) >= 10
    assert any(ex.not_runnable is None for ex in EXAMPLES)


def test_markers_have_reasons_and_blocks() -> None:
    """A ``not-runnable`` mark names a reason and sits right before a shell block."""
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        marked = {ex.line for ex in parse(doc) if ex.not_runnable is not None}
        inside = {k for s, e, _, _ in _blocks(lines) for k in range(s, e + 1)}
        for n, text in enumerate(lines, 1):
            m = MARKER.match(text)
            if not m or n - 1 in inside:
                continue
            assert m.group(1).strip(), f"{doc.relative_to(REPO)}:{n}: not-runnable needs a reason"
            nxt = n  # index of the next line (0-based n)
            while nxt < len(lines) and not lines[nxt].strip():
                nxt += 1
            assert nxt + 1 in marked, f"{doc.relative_to(REPO)}:{n}: not-runnable mark is not before a shell block"


@pytest.fixture(scope="module")
def prepared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short simulated session (projections and state files included)."""
    home = tmp_path_factory.mktemp("doc-home") / "logs"
    env = _env()
    proc = subprocess.run([_hedge(), "--home", str(home), "run", "--bars", "600", "--quiet"],
                          env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr
    return home


def _hedge() -> str:
    return str(Path(sys.executable).parent / "hedge")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HEDGE_", "TELEGRAM_", "BINANCE_", "PYTEST_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "120"
    return env


def _sandbox(root: Path, home: Path) -> Path:
    """``root/repo`` linking the checkout's entries, ``./logs`` a copy of ``home``, ``../shared``."""
    repo = root / "repo"
    repo.mkdir()
    for entry in REPO.iterdir():
        if entry.name in {"logs", ".git"}:
            continue
        (repo / entry.name).symlink_to(entry)
    shutil.copytree(home, repo / "logs")
    shared = REPO.parent / "shared"
    if shared.exists():
        (root / "shared").symlink_to(shared.resolve())
    return repo


@pytest.mark.parametrize("ex", EXAMPLES, ids=[ex.id for ex in EXAMPLES])
def test_example_runs(ex: Example, prepared_home: Path, tmp_path: Path) -> None:
    if ex.not_runnable is not None:
        pytest.skip(f"{ex.id} not-runnable: {ex.not_runnable}")
    repo = _sandbox(tmp_path, prepared_home)
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", ex.code], cwd=repo, env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL,
                          check=False)
    assert proc.returncode == 0, (
        f"{ex.id}: exit {proc.returncode}\n--- block\n{ex.code}--- stdout\n{proc.stdout[-3000:]}"
        f"\n--- stderr\n{proc.stderr[-3000:]}"
    )
