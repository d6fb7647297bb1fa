"""Fixtures that start real servers on free loopback ports and always stop them.

Every server fixture is function-scoped: each test gets its own instance, which it may
stop, restart or kill9 without disturbing other tests. A missing program fails the test
with the command that installs it; it is never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support import (
    InfluxDBv1,
    MissingBinary,
    Mosquitto,
    MosquittoFactory,
    Postgres,
    PtyPair,
    ServiceHandle,
    VictoriaMetrics,
)

# The API tests' fixtures (`db_url`, `platform`), found by every test that names them.
pytest_plugins = ["tests.support.api"]

S = TypeVar("S", bound=ServiceHandle)


def _create(make: Callable[[], S]) -> S:
    """Build a service handle; a missing program fails the test (never skips it)."""
    try:
        return make()
    except MissingBinary as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


@contextmanager
def _running(make: Callable[[], S]) -> Iterator[S]:
    """Create and start a service, yield it, and kill it whatever the test did."""
    service = _create(make)
    try:
        service.start()
        yield service
    finally:
        service.kill9()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    """Start brokers with users (password file), an ACL and/or anonymous access.

    `allow_anonymous` defaults to True without users and False with them.
    """
    brokers: list[Mosquitto] = []

    def make(
        *,
        users: Mapping[str, str] | None = None,
        acl_text: str | None = None,
        allow_anonymous: bool | None = None,
    ) -> Mosquitto:
        broker = _create(
            lambda: Mosquitto(
                tmp_path / f"mosquitto-{len(brokers)}",
                users=users,
                acl_text=acl_text,
                allow_anonymous=allow_anonymous,
            )
        )
        brokers.append(broker)
        broker.start()
        return broker

    try:
        yield make
    finally:
        for broker in brokers:
            broker.kill9()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """An anonymous broker of the test's own."""
    return mosquitto_factory()


@pytest.fixture
def influxdb_v1(tmp_path: Path) -> Iterator[InfluxDBv1]:
    """Debian's influxd 1.x, empty, HTTP API at `.url`."""
    with _running(lambda: InfluxDBv1(tmp_path / "influxdb")) as server:
        yield server


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """Single-node VictoriaMetrics, empty, HTTP API at `.url`."""
    with _running(lambda: VictoriaMetrics(tmp_path / "victoria-metrics")) as server:
        yield server


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[Path]:
    # initdb takes about a second; each test copies this stopped cluster instead.
    template = _create(Postgres)
    try:
        template.start()  # creates the `lingtan` database
        template.stop()
        yield template.data_dir
    finally:
        template.remove()


@pytest.fixture
def postgres(_postgres_template: Path) -> Iterator[Postgres]:
    """A PostgreSQL cluster of the test's own with an empty `lingtan` database at `.url`."""
    server = Postgres(template=_postgres_template)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[PtyPair]:
    """Two linked pseudo-terminals, `.a` and `.b`, like a null-modem serial cable."""
    with _running(lambda: PtyPair(tmp_path / "pty")) as pair:
        yield pair
