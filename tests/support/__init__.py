"""Real services for tests: one module per server, plus process, port and polling helpers."""

from .influxdb import InfluxDBv1
from .mosquitto import Mosquitto, MosquittoFactory
from .postgres import Postgres
from .process import MissingBinary, ServiceError, free_port, wait_for
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
    "VictoriaMetrics",
    "free_port",
    "wait_for",
]
