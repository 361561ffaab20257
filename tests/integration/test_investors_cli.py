"""``hedge investors add|remove|list`` as a user runs it: password from stdin, bcrypt on disk."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fakes import state_fixture as fx

PASSWORD = "s3cret investor pass"


def hedge(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*fx.hedge_cmd(), *args, "--home", str(home)], input=stdin, text=True,
                          capture_output=True, timeout=60, cwd=fx.REPO, check=False)


def test_add_list_remove_round_trip_without_leaking_the_password(tmp_path: Path) -> None:
    home = tmp_path / "home"
    added = hedge(home, "investors", "add", "alice", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "added investor alice" in added.stdout
    assert PASSWORD not in added.stdout + added.stderr
    file = home / "investors.htpasswd"
    text = file.read_text()
    assert text.startswith("alice:$2y$") and PASSWORD not in text
    assert hedge(home, "investors", "add", "bob", stdin="another good one\n").returncode == 0
    assert hedge(home, "investors", "list").stdout.split() == ["alice", "bob"]
    updated = hedge(home, "investors", "add", "alice", stdin="a new password!\n")
    assert "updated investor alice" in updated.stdout
    assert hedge(home, "investors", "remove", "bob").returncode == 0
    assert hedge(home, "investors", "list").stdout.split() == ["alice"]


def test_bad_input_is_a_one_line_error_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for args, stdin, words in (
        (("investors", "add", "alice"), "short\n", "too short"),
        (("investors", "add", "al:ice"), PASSWORD + "\n", "invalid investor name"),
        (("investors", "add"), "", "needs a NAME"),
        (("investors", "remove", "nobody"), "", "no investor named"),
        (("investors", "add", "alice"), "", "no password on stdin"),
    ):
        r = hedge(home, *args, stdin=stdin)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_custom_file_is_verified_by_apache_htpasswd(tmp_path: Path) -> None:
    if not shutil.which("htpasswd"):
        pytest.skip("htpasswd (apache2-utils) not installed")
    file = tmp_path / "custom.htpasswd"
    assert hedge(tmp_path, "investors", "add", "carol", "--htpasswd", str(file), stdin=PASSWORD + "\n").returncode == 0
    ok = subprocess.run(["htpasswd", "-vb", str(file), "carol", PASSWORD], capture_output=True, text=True, check=False)
    bad = subprocess.run(["htpasswd", "-vb", str(file), "carol", "wrong"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert bad.returncode != 0
