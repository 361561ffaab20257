"""A copy of the repo's config directory for one test, edited, and ``hedge`` run against it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HEDGE = str(Path(sys.executable).parent / "hedge")


def copy_config(tmp: Path) -> Path:
    """``tmp/config``: the repo's config files (no Python modules)."""
    d = tmp / "config"
    shutil.copytree(REPO / "config", d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return d


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Load one config file, let ``change`` edit it in place, write it back."""
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def hedge(home: Path, cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``hedge ARGS`` with this home and config (SQLite: the store URL is cleared)."""
    env = {k: v for k, v in os.environ.items() if k != "HEDGE_STORE_URL"}
    env.update(HEDGE_HOME=str(home), HEDGE_CONFIG_DIR=str(cfg))
    return subprocess.run([HEDGE, *args], env=env, capture_output=True, text=True, timeout=600, check=False)
