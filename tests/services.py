"""Public face of the test services: import handles and helpers from here.

The fixtures that start these servers live in tests/conftest.py; docs/testing.md lists them.
"""

from tests.support import (
    InfluxDBv1,
    MissingBinary,
    Mosquitto,
    MosquittoFactory,
    Postgres,
    PtyPair,
    ServiceError,
    VictoriaMetrics,
    free_port,
    wait_for,
)

__all__ = [
    "InfluxDBv1",
    "MissingBinary",
    "Mosquitto",
    "MosquittoFactory",
    "Postgres",
    "PtyPair",
    "ServiceError",
    "VictoriaMetrics",
    "free_port",
    "wait_for",
]
