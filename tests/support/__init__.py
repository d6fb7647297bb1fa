"""Real services for tests: one module per server, plus process, port and polling helpers.

The fixtures that start these servers live in tests/conftest.py; docs/testing.md lists them.
Helpers of one part of the suite have a module each: `api` (the API tests' platform and
fixtures), `gateway` (simulator thread, subscriber, ground-truth checks), `ingest` (publishing
gateways and ingest workers), `configs` (the platform-config builder) and `soak`.
"""

from .influxdb import InfluxDBv1
from .mosquitto import Mosquitto, MosquittoFactory
from .postgres import Postgres
from .process import MissingBinary, ServiceError, ServiceHandle, free_port, until, wait_for
from .pty_pair import PtyPair
from .victoria_metrics import VictoriaMetrics

__all__ = [
    "InfluxDBv1",
    "MissingBinary",
    "Mosquitto",
    "MosquittoFactory",
    "Postgres",
    "PtyPair",
    "ServiceError",
    "ServiceHandle",
    "VictoriaMetrics",
    "free_port",
    "until",
    "wait_for",
]
