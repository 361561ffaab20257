"""A throwaway PostgreSQL cluster for tests, started with the machine's ``initdb``/``pg_ctl``.

Load it as a pytest plugin (``pytest_plugins = ["tests.pgserver"]`` in the root
conftest) and ask for one of its fixtures:

* ``pg_server`` (session): the running cluster - ``port``, ``host``, ``socket_dir``,
  ``admin_url``, ``create_database()``, ``url(dbname)``.
* ``pg_url``: a fresh, empty database for one test, as a
  ``postgresql://user:password@127.0.0.1:PORT/db`` URL.

The cluster lives in a temp dir, listens on loopback only on a random free port,
keeps its unix socket in the temp dir, and requires a password over TCP (scram), so
the password in the URL really is used - and tests can check it never leaks. The
PostgreSQL server refuses to run as root: as root the cluster is created and run as
the ``postgres`` system user (``runuser``); as any other user it runs as that user.
When the binaries are missing the PostgreSQL tests skip, saying why.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_USER = "hedge"
# A password with characters that must be percent-encoded in a URL.
PG_PASSWORD = "pw-S3cret/8x@k:Q"
PG_PASSWORD_URL = "pw-S3cret%2F8x%40k%3AQ"
_BIN_DIRS = ("/usr/local/bin", "/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")


def find_pg_bin(name: str) -> str | None:
    """Path of a PostgreSQL server binary (PATH first, then the usual Debian places)."""
    found = shutil.which(name)
    if found:
        return found
    for pattern in _BIN_DIRS:
        for d in sorted(glob.glob(pattern), reverse=True):  # newest major version first
            p = Path(d) / name
            if p.exists():
                return str(p)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One running throwaway cluster."""

    def __init__(self, base: Path, initdb: str, pg_ctl: str):
        self.base = base
        self.data = base / "data"
        self.socket_dir = base / "sock"
        self.log = base / "server.log"
        self.initdb = initdb
        self.pg_ctl = pg_ctl
        self.host = "127.0.0.1"
        self.port = 0
        self.as_postgres = os.geteuid() == 0
        self._dbs = 0

    # -- lifecycle -------------------------------------------------------------------

    def _cmd(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self.as_postgres else list(argv)

    def start(self) -> None:
        self.socket_dir.mkdir()
        pwfile = self.base / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        if self.as_postgres:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.socket_dir, "postgres")
            shutil.chown(pwfile, "postgres")
        subprocess.run(
            self._cmd(self.initdb, "-D", str(self.data), "-U", PG_USER, "--pwfile", str(pwfile),
                      "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                      "--no-sync", "--no-instructions"),
            check=True, capture_output=True, timeout=120,
        )
        pwfile.unlink()
        for _attempt in range(5):
            self.port = free_port()
            opts = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                    "-c max_connections=200 -c shared_buffers=64MB")
            r = subprocess.run(
                self._cmd(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
                          "-t", "60", "start"),
                capture_output=True, timeout=90,
            )
            if r.returncode == 0:
                return
        raise RuntimeError(f"pg_ctl start failed: {r.stderr.decode(errors='replace')[-500:]}\n"
                           f"{self.log.read_text(errors='replace')[-2000:] if self.log.exists() else ''}")

    def start_replica(self) -> PgServer:
        """A streaming hot-standby replica of this cluster (``pg_basebackup -R``), read-only."""
        basebackup = find_pg_bin("pg_basebackup")
        if not basebackup:
            pytest.skip("pg_basebackup not found")
        base = Path(tempfile.mkdtemp(prefix="hedge-pg-replica-"))
        os.chmod(base, 0o755)
        rep = PgServer(base, self.initdb, self.pg_ctl)
        rep.socket_dir.mkdir()
        if rep.as_postgres:
            shutil.chown(base, "postgres")
            shutil.chown(rep.socket_dir, "postgres")
        env = {**os.environ, "PGPASSWORD": PG_PASSWORD}
        subprocess.run(
            rep._cmd("env", f"PGPASSWORD={PG_PASSWORD}", basebackup, "-h", self.host, "-p", str(self.port),
                     "-U", PG_USER, "-D", str(rep.data), "-R", "-X", "stream", "--no-sync"),
            check=True, capture_output=True, timeout=120, env=env,
        )
        for _attempt in range(5):
            rep.port = free_port()
            opts = (f"-p {rep.port} -k {rep.socket_dir} -c listen_addresses=127.0.0.1 -c hot_standby=on "
                    "-c max_connections=200")
            r = subprocess.run(rep._cmd(self.pg_ctl, "-D", str(rep.data), "-l", str(rep.log), "-o", opts, "-w",
                                        "-t", "60", "start"), capture_output=True, timeout=90)
            if r.returncode == 0:
                return rep
        raise RuntimeError(f"replica start failed: {r.stderr.decode(errors='replace')[-500:]}")

    def stop(self) -> None:
        subprocess.run(self._cmd(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                       capture_output=True, timeout=60)

    def start_again(self) -> None:
        """Start a stopped cluster on its old port (a server restart, as clients see it)."""
        opts = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                "-c max_connections=200 -c shared_buffers=64MB")
        subprocess.run(self._cmd(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
                                 "-t", "60", "start"), check=True, capture_output=True, timeout=90)

    # -- databases -------------------------------------------------------------------

    def url(self, dbname: str) -> str:
        return f"postgresql://{PG_USER}:{PG_PASSWORD_URL}@{self.host}:{self.port}/{dbname}"

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def connect(self, dbname: str = "postgres"):  # type: ignore[no-untyped-def]
        """An autocommit psycopg connection (for fixtures and for 'attacker' tests)."""
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=PG_USER, password=PG_PASSWORD,
                               dbname=dbname, autocommit=True)

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its URL."""
        self._dbs += 1
        name = f"{prefix}_{self._dbs}_{uuid.uuid4().hex[:8]}"
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with contextlib.suppress(Exception), self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server() -> PgServer:
    """Start a cluster, or raise ``pytest.skip`` saying what is missing."""
    initdb, pg_ctl = find_pg_bin("initdb"), find_pg_bin("pg_ctl")
    if not initdb or not pg_ctl or not find_pg_bin("postgres"):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH "
                    "or in /usr/lib/postgresql/*/bin")
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' system user to run the server as")
        if not shutil.which("runuser"):
            pytest.skip("running as root and 'runuser' is missing")
    base = Path(tempfile.mkdtemp(prefix="hedge-pg-"))
    os.chmod(base, 0o755)
    server = PgServer(base, initdb, pg_ctl)
    try:
        server.start()
    except Exception:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's throwaway PostgreSQL cluster (skips when the binaries are absent)."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh empty database on the throwaway cluster, as a URL with a password."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)
