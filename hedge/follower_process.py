"""``hedge run``'s projection follower: ``hedge project --follow`` as a child process.

The engine and the projections then run on two cores instead of sharing one GIL (their
CPU no longer adds up in the run's wall time). The child is the same code as ``hedge
project --follow`` (``projections.runner.run_projections``): it takes the account's
projection lock, resumes from the checkpoint and catches up every ``interval_s``.

* **Its settings**: the home and account in its argv; the store URL (it may carry a
  password, and ``ps`` shows argv) in its environment, as ``HEDGE_STORE_URL``. Secrets it
  does not need (exchange keys, the bot token) are left out of that environment.
* **It dies with ``hedge run``**, however it ends (kill -9 included): the kernel sends it
  SIGTERM (``ui.proxy.die_with_parent``), which it handles as a stop request - a final
  catch-up of what is committed, then exit. It runs in its own process group, so a Ctrl-C
  at the terminal reaches ``hedge run`` only, which stops the child after its last commit.
* **Stop**: ``stop()`` (after the writer's final flush) sends SIGTERM and waits until the
  child has made its final catch-up, compacted the audit tables and exited: the state files
  are then final. SIGTERM and SIGINT stay blocked in the child until ``hedge project`` has
  installed its handler, so a stop sent while it is still starting is not lost.
* **Failures never stop trading**: its stderr is ``hedge run``'s; an error it reports
  itself (a held lock, a foreign checkpoint) is its own one line; an end it cannot report
  (killed by a signal) is one line from ``hedge run`` (``check()`` between steps, or ``stop()``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import hedge
from ui.proxy import die_with_parent

# Secrets in the environment the follower never needs (it reads the log, nothing else).
_NOT_FOR_THE_FOLLOWER = ("BINANCE_API_KEY", "BINANCE_API_SECRET", "TELEGRAM_BOT_TOKEN", "HEDGE_INVESTOR_PASSWORD")
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


_RUNNING: set[int] = set()  # pids of the followers this process started and has not reaped


def kill_running() -> None:
    """SIGKILL every follower still running: a forced exit (``hedge.run_signals``) must not leave
    one holding ``hedge run``'s stderr open. The log is consistent; the next follower resumes
    from the projections' checkpoint (their writes are atomic)."""
    for pid in list(_RUNNING):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@dataclass(frozen=True)
class FollowerEnd:
    """How the child ended: exit code (negative: killed by that signal), peak RSS, CPU."""

    returncode: int
    peak_rss_mb: float
    cpu_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class FollowerProcess:
    """``hedge project --follow --home HOME --account NAME`` as a child of this process."""

    def __init__(self, home: Path, account: str, *, store_url: str | None, environment: Mapping[str, str],
                 interval_s: float = 1.0, batch: int | None = None, python: str = sys.executable):
        """``batch`` None: ``hedge project``'s default. Nothing of the projections is imported here:
        the engine's process does not pay for what runs in the child."""
        self.home = Path(home).resolve()
        self.account = account
        self.interval_s = interval_s
        self.batch = batch
        self.python = python
        env = {k: v for k, v in environment.items() if k not in _NOT_FOR_THE_FOLLOWER}
        env.pop("HEDGE_STORE_URL", None)
        if store_url:
            env["HEDGE_STORE_URL"] = store_url
        self._env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.end: FollowerEnd | None = None
        self._said = False
        self._status_r: int | None = None  # the read end of the child's --status-fd pipe

    def argv(self, status_fd: int | None = None) -> list[str]:
        """The child's command line (no secret in it: ``ps`` shows it)."""
        argv = [self.python, "-m", "hedge.cli", "project", "--follow", "--home", str(self.home),
                "--account", self.account, "--interval", f"{self.interval_s:g}"]
        argv += ["--batch", str(self.batch)] if self.batch is not None else []
        return argv + (["--status-fd", str(status_fd)] if status_fd is not None else [])

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        """Start the child (returns at once; ``OSError`` if it cannot be started)."""
        if self.proc is not None:
            return
        # the same code as this process: run from the directory that holds this ``hedge`` package
        root = Path(hedge.__file__).resolve().parent.parent
        r, w = os.pipe()
        try:
            self.proc = subprocess.Popen(self.argv(w), cwd=root, env=self._env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, process_group=0, pass_fds=(w,),
                                         preexec_fn=die_with_parent(block=_STOP_SIGNALS))
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        self._status_r = r
        _RUNNING.add(self.proc.pid)

    def check(self) -> str | None:
        """Between steps: the line to print once if the child ended early, else None (no wait)."""
        if self.proc is None or self._said or (self.end is None and not self._reap(block=False)):
            return None
        self._said = True
        return self._why()

    def stop(self) -> str | None:
        """Ask for the final catch-up and wait until the child has exited; a line to print if
        it did not end cleanly (None when it did, or when its own message already said why)."""
        if self.proc is None:
            return None
        if self.end is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)  # not reaped yet: the pid is still the child's
            except ProcessLookupError:
                pass
            self._reap(block=True)
        if self._said:
            return None
        self._said = True
        return self._why()

    def _reap(self, *, block: bool) -> bool:
        """Collect the child's exit and resource use (``wait4``: its own peak RSS and CPU)."""
        assert self.proc is not None
        pid, status, ru = os.wait4(self.proc.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        _RUNNING.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = code  # reaped here: Popen must not wait for it again
        peak = self._reported_peak_mb()
        # wait4's ru_maxrss is at least this process's peak when it started the child (Linux
        # carries it across exec): only a child that could not say its own peak falls back to it
        self.end = FollowerEnd(code, ru.ru_maxrss / 1024.0 if peak is None else peak, ru.ru_utime + ru.ru_stime)
        return True

    def _reported_peak_mb(self) -> float | None:
        """The peak RSS the exited child wrote on its status pipe, or None."""
        if self._status_r is None:
            return None
        r, self._status_r = self._status_r, None
        try:
            os.set_blocking(r, False)
            raw = os.read(r, 4096)
        except OSError:
            return None
        finally:
            os.close(r)
        try:
            return float(json.loads(raw.decode().splitlines()[0])["peak_rss_mb"])
        except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError):
            return None

    def _why(self) -> str | None:
        end = self.end
        if end is None or end.ok:
            return None
        if end.returncode > 0:
            return None  # ``hedge project`` printed its own one-line error on this stderr
        try:
            name = signal.Signals(-end.returncode).name
        except ValueError:
            name = f"signal {-end.returncode}"
        return (f"hedge run: projections (pid {self.pid}) killed by {name}; trading goes on, the state files "
                "stop at their last checkpoint ('hedge project' catches them up)")
