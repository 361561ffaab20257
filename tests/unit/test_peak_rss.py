"""``eventlog.peak_rss``: a process's own peak memory, not its parent's carried across exec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eventlog.peak_rss import peak_rss_mb

REPO = Path(__file__).resolve().parents[2]

# A 400 MB parent starts a small child; both say their peaks.
_PARENT = """
import json, resource, subprocess, sys
big = bytearray(400 * 1024 * 1024)
big[::4096] = b"x" * len(big[::4096])  # touch every page: resident
child = subprocess.run([sys.executable, "-c", sys.argv[1]], capture_output=True, text=True, check=True)
print(child.stdout.strip())
"""
_CHILD = """
import json, resource
from eventlog.peak_rss import peak_rss_mb
print(json.dumps({"own": peak_rss_mb(), "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_a_child_of_a_large_process_reports_its_own_peak() -> None:
    out = subprocess.run([sys.executable, "-c", _PARENT, _CHILD], cwd=REPO, capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["own"] < 200, got  # a bare interpreter with one small import, not the parent's 400 MB
    # what the figure was before: where the kernel carries the parent's high-water mark, ru_maxrss says 400+
    assert got["ru_maxrss"] >= got["own"]


def test_without_proc_it_falls_back_to_getrusage(tmp_path: Path) -> None:
    assert peak_rss_mb(tmp_path / "absent") > 0
    (tmp_path / "status").write_text("Name:\tpython\nVmHWM:\t  204800 kB\nVmRSS:\t1 kB\n")
    assert peak_rss_mb(tmp_path / "status") == 200.0
