"""The platform configuration: one typed model for every service, validated once at start-up.

Pure: it takes the already-parsed mapping (the CLI reads the YAML file) and either returns a
frozen `Config` or raises `ConfigError` naming the file, the key and the offending value.
Secrets are never written in the file: a key ending in `_env` names the environment variable
that holds the secret.
"""

import os
from datetime import datetime
from pathlib import PurePath
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from lingtan.kernel.park import Frozen, Ident, Park


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names file, key and value."""


class Bus(Frozen):
    """One Modbus line of a gateway: a TCP endpoint or an RS-485 serial port."""

    id: Ident
    transport: Literal["tcp", "rtu", "rtu_over_tcp"] = "tcp"
    host: str = "127.0.0.1"
    port: int = Field(502, ge=1, le=65535)
    serial_port: str | None = None
    baudrate: int = Field(9600, ge=300, le=921600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    timeout_s: float = Field(1.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=10)

    @model_validator(mode="after")
    def _serial_needs_port(self) -> "Bus":
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError(f"bus {self.id!r}: transport rtu needs serial_port")
        return self


class Spool(Frozen):
    """Store-and-forward spool on the gateway's disk."""

    path: str = "lingtan-spool.db"
    max_mb: float = Field(256, gt=0)
    max_age_days: float = Field(30, gt=0)


class Credentials(Frozen):
    username: str | None = None
    password_env: str | None = Field(None, description="environment variable holding the password")

    def password(self) -> str | None:
        """The secret named by `password_env`; never logged."""
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(f"environment variable {self.password_env} (mqtt.password_env) is not set")
        return value


class Gateway(Frozen):
    id: Ident
    park: Ident
    buses: list[Bus]
    mqtt: Credentials = Credentials()
    spool: Spool = Spool()
    publish_batch: int = Field(200, ge=1, le=10000)


class Tls(Frozen):
    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None


class Mqtt(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    tls: Tls | None = None
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT version; shared subscriptions need 5")
    topic_prefix: str = Field("lingtan", pattern=r"^[a-z0-9_-]+$")
    keepalive_s: int = Field(30, ge=5, le=3600)


class Sink(Frozen):
    """Where ingest writes the time series."""

    kind: Literal["sqlite", "influx_v1", "influx_v2"] = "sqlite"
    path: str = "lingtan-ts.db"  # sqlite
    url: str = "http://127.0.0.1:8086"  # influx
    database: str = "lingtan"  # influx v1
    org: str = "lingtan"  # influx v2
    bucket: str = "lingtan"  # influx v2
    username: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    reader: Literal["influxql", "victoria_metrics"] = Field(
        "influxql", description="influx_v2: how accounting reads back: InfluxQL on the /query API "
        "(InfluxDB 2.7+, 1.8+) or VictoriaMetrics' export API")
    batch_lines: int = Field(5000, ge=1, le=100000)
    timeout_s: float = Field(10, gt=0)


class Ingest(Frozen):
    client_id: Ident = "lingtan-ingest"
    mqtt: Credentials = Credentials()
    shared_group: Ident | None = Field("ingest", description="MQTT v5 shared-subscription group")
    sink: Sink = Sink()
    max_payload_bytes: int = Field(1_048_576, ge=1024)
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Prometheus /metrics port; none: off")
    metrics_host: str = Field("127.0.0.1", description="address the /metrics server binds")


class Store(Frozen):
    """The platform database (SQLAlchemy URL): intervals, activity data, keys, dead letters."""

    url: str = "sqlite:///lingtan.db"


class Accounting(Frozen):
    interval_s: float = Field(10, gt=0, description="how often realtime figures are recomputed")
    heartbeat_file: str | None = Field(None, description="touched after every successful pass (health checks)")
    settle_days: int = Field(2, ge=1, le=366, description="an incomplete interval becomes final when its local "
                             "day is this many days old (docs/api.md, Finality)")


class Api(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    demo_open: bool = Field(False, description="DEMO ONLY: requests without credentials get every scope on every park")
    session_hours: float = Field(12, gt=0, le=24 * 30, description="dashboard login lifetime")
    cookie_secure: bool = Field(False, description="mark the session cookie Secure (set when served over HTTPS)")


class Simulator(Frozen):
    host: str = "127.0.0.1"
    seed: int = 1
    speed: float = Field(1.0, gt=0, le=100000, description="simulated seconds per real second")
    start: datetime | None = Field(None, description="simulated start (UTC); default: now")
    serial_ports: dict[str, str] = Field(
        {}, description="for RTU buses: 'gateway/bus' -> the simulator's end of the serial line")
    scenario: str | None = Field(
        None, description="scenario file (path) or packaged scenario name (simulator/scenarios); "
        "default: seeded defaults")


class Config(Frozen):
    version: Literal[1] = 1
    parks: list[Park]
    gateways: list[Gateway] = []
    mqtt: Mqtt = Mqtt()
    ingest: Ingest = Ingest()
    store: Store = Store()
    accounting: Accounting = Accounting()
    api: Api = Api()
    simulator: Simulator = Simulator()

    @model_validator(mode="after")
    def _references(self) -> "Config":
        parks = {p.id for p in self.parks}
        if len(parks) != len(self.parks):
            raise ValueError("parks: a park id is declared twice")
        gateways = {}
        for g in self.gateways:
            if g.id in gateways:
                raise ValueError(f"gateways: id {g.id!r} is declared twice")
            if g.park not in parks:
                raise ValueError(f"gateway {g.id!r}: park {g.park!r} is not declared")
            gateways[g.id] = g
        for p in self.parks:
            for m in p.meters:
                g = gateways.get(m.gateway)
                if g is None:
                    raise ValueError(f"meter {m.id!r}: gateway {m.gateway!r} is not declared")
                if g.park != p.id:
                    raise ValueError(f"meter {m.id!r}: gateway {g.id!r} belongs to park {g.park!r}")
                if m.modbus.bus not in {b.id for b in g.buses}:
                    raise ValueError(f"meter {m.id!r}: gateway {g.id!r} has no bus {m.modbus.bus!r}")
        self._messages_fit()
        return self

    def _messages_fit(self) -> None:
        """Every reading must fit a readings message under ingest.max_payload_bytes. The publisher
        caps each message in bytes (halving its batch until it fits), so any publish_batch is safe;
        what is refused is a meter whose one reading could never be sent."""
        from lingtan.kernel.profile import load  # the profile module imports this one

        limit = self.ingest.max_payload_bytes
        for p in self.parks:
            for m in p.meters:
                size = reading_bytes(len(load(m.profile).registers))
                if MESSAGE_BYTES + size > limit:
                    raise ValueError(
                        f"meter {m.id!r} (gateway {m.gateway!r}, profile {m.profile!r}): one reading can take "
                        f"{size} bytes, and with the message envelope ({MESSAGE_BYTES}) more than "
                        f"ingest.max_payload_bytes = {limit}; raise ingest.max_payload_bytes to at least "
                        f"{MESSAGE_BYTES + size}")

    def park(self, park_id: str) -> Park:
        for p in self.parks:
            if p.id == park_id:
                return p
        raise KeyError(park_id)

    def gateway(self, gateway_id: str) -> Gateway:
        for g in self.gateways:
            if g.id == gateway_id:
                return g
        raise KeyError(gateway_id)


MESSAGE_BYTES = 256  # a readings message's envelope: version, park, gateway, sent_at


def reading_bytes(quantities: int) -> int:
    """The most a reading of `quantities` values takes in a readings message (JSON): meter id (64),
    time, seq, and per value its quantity name (at most 24) and the longest float repr (24)."""
    return 160 + quantities * 56


def parse_config(data: Any, source: str | PurePath = "<config>") -> Config:
    """Validate a parsed config mapping; raise ConfigError naming file, key and value."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, str(source))) from exc


def format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: {exc.error_count()} error(s)"]
    for err in exc.errors():
        key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
        value = err.get("input")
        shown = repr(value) if not isinstance(value, (dict, list)) else f"<{type(value).__name__}>"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {key or '(top level)'} = {shown}: {msg}")
    return "\n".join(lines)
