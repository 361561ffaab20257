"""Reliability fixtures: ``site`` runs each test once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.pgserver import PgServer
from tests.reliability.harness import Site


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_site(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Site]]:
    """A factory of fresh sites (own home, own database) on this test's backend."""
    server: PgServer | None = request.getfixturevalue("pg_server") if backend == "postgres" else None
    made: list[str] = []

    def make(name: str = "site") -> Site:
        url = None
        if server is not None:
            url = server.create_database("rel")
            made.append(url)
        return Site(tmp_path / name, url)

    yield make
    if server is not None:
        for url in made:
            server.drop_database(url)


@pytest.fixture
def site(make_site: Callable[[str], Site]) -> Site:
    return make_site("site")
