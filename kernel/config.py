"""The platform configuration: one typed model for every service, validated once at start-up.

Pure: it takes the already-parsed mapping (the CLI reads the YAML file) and either returns a
frozen `Config` or raises `ConfigError` naming the file, the key and the offending value.
Secrets are never written in the file: a key ending in `_env` names the environment variable
that holds the secret.
"""

import os
import re
import types
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from lingtan.kernel.park import Frozen, Ident, Park, Problem, Problems, did_you_mean


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names file, key and value."""


class Bus(Frozen):
    """One line of a gateway: a TCP endpoint or an RS-485 serial port, speaking Modbus or DL/T 645.

    A DL/T 645 bus defaults to the standard's serial settings, 2400 baud, 8 data bits, even
    parity, 1 stop bit (DL/T 645-2007 4.1); `rtu_over_tcp` (or `tcp`) is a transparent
    serial-to-TCP converter passing the frames through."""

    id: Ident
    protocol: Literal["modbus", "dlt645"] = "modbus"
    transport: Literal["tcp", "rtu", "rtu_over_tcp"] = "tcp"
    host: str = "127.0.0.1"
    port: int = Field(502, ge=1, le=65535)
    serial_port: str | None = None
    baudrate: int = Field(9600, ge=300, le=921600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    timeout_s: float = Field(1.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=10)
    preamble: int = Field(4, ge=0, le=4, description="dlt645: FEH wake-up bytes before each request")
    time_sync: bool = Field(False, description="dlt645: broadcast the gateway's time (08H) once a day "
                            "(docs/gateway.md, Time sync)")

    @model_validator(mode="before")
    @classmethod
    def _dlt645_serial_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("protocol") == "dlt645":
            data = {"baudrate": 2400, "parity": "E", **data}
        return data

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
    workers: int = Field(1, ge=1, le=64, description="worker connections (`lingtan ingest --workers`, "
                         "`--partition I/N`); each is its own broker user, made by `lingtan mqtt-auth`")
    mqtt: Credentials = Credentials()
    shared_group: Ident | None = Field("ingest", description="MQTT v5 shared-subscription group")
    sink: Sink = Sink()
    max_payload_bytes: int = Field(1_048_576, ge=1024)
    max_clock_ahead_s: float | None = Field(
        300, gt=0, description="a readings message with a reading stamped more than this far ahead of the time "
        "ingest receives it is dead-lettered (docs/ingest.md, Time policy); the dashboard flags a gateway "
        "whose clock is off by more; none: no limit (a simulated park running faster than real time)")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Prometheus /metrics port; none: off")
    metrics_host: str = Field("127.0.0.1", description="address the /metrics server binds")

    @property
    def logs_in(self) -> bool:
        """Whether ingest authenticates to the broker (`mqtt.username` or `mqtt.password_env` set)."""
        return self.mqtt.username is not None or self.mqtt.password_env is not None

    def worker_user(self, worker: int = 0) -> str:
        """Broker user of worker `worker` of `workers`: `mqtt.username` (default `client_id`), and with
        several workers `<that>-<worker>`. The broker binds each user to one session (Mosquitto's
        `use_username_as_clientid`), so the worker also presents this name as its client id."""
        if not 0 <= worker < self.workers:
            raise ConfigError(f"ingest worker {worker}: ingest.workers = {self.workers} gives workers "
                              f"0..{self.workers - 1}")
        base = self.mqtt.username or self.client_id
        return base if self.workers == 1 else f"{base}-{worker}"

    def worker_password(self, worker: int = 0) -> str | None:
        """The secret of `worker_user(worker)`: the variable `mqtt.password_env`, and with several
        workers `<that>_<worker>` (each worker its own secret, as `lingtan mqtt-auth` wrote them)."""
        env = self.mqtt.password_env
        if env is None:
            return None
        name = env if self.workers == 1 else f"{env}_{worker}"
        value = os.environ.get(name)
        if value is None:
            raise ConfigError(f"environment variable {name} (ingest.mqtt.password_env, worker {worker} of "
                              f"ingest.workers = {self.workers}) is not set")
        return value


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
    cookie_secure: bool = Field(False, description="always mark the session cookie Secure (set when served over HTTPS)")
    trusted_proxies: list[str] = Field(
        [], description="addresses (or networks, 10.0.0.0/8) of reverse proxies whose X-Forwarded-Proto and "
        "X-Forwarded-For are believed; the session cookie is Secure when the request came over https")
    rate_limit_per_key: int | None = Field(
        600, ge=1, description="requests per minute per API key or dashboard user (a token bucket: a minute's "
        "worth may come at once); past it 429 with Retry-After; null: no limit")

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        import ipaddress
        out = []
        for item in value:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r}: not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
            # '10.0.0.1/8' is taken as 10.0.0.0/8 here; uvicorn, which does the matching, parses
            # networks strictly and would never match it, so it gets the normal form
            out.append(str(network) if "/" in item else item)
        return out


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


AlarmRuleKind = Literal["meter_no_data", "gateway_offline", "gateway_spool", "gateway_clock", "counter_events",
                        "completeness_day", "completeness_month", "dead_letters", "power", "projection_off_track"]
Severity = Literal["info", "warning", "critical"]


class AlarmRule(Frozen):
    """One alarm rule (docs/alarms.md): when it holds, for how long, how bad, how it clears."""

    rule: AlarmRuleKind
    enabled: bool = True
    severity: Severity = "warning"
    threshold: float | None = Field(None, description="meter_no_data: missed polls; gateway_spool: readings "
                                    "waiting; gateway_clock: seconds; "
                                    "completeness_*: share 0..1; dead_letters: per window; power: kW")
    window_s: float = Field(3600, gt=0, description="dead_letters, counter_events: the look-back window")
    for_s: float = Field(0, ge=0, description="the condition must hold this long before the alarm is raised")
    clear_s: float = Field(0, ge=0, description="the condition must be gone this long before the alarm clears; "
                           "coming back sooner counts a flap on the same alarm")
    meters: list[Ident] = Field([], description="power: the meters watched (default: the park's grid meters)")


DEFAULT_ALARM_RULES: tuple[AlarmRule, ...] = (
    AlarmRule(rule="meter_no_data", threshold=3, clear_s=300),
    AlarmRule(rule="gateway_offline", severity="critical", clear_s=60),
    AlarmRule(rule="gateway_spool", threshold=100_000),
    AlarmRule(rule="gateway_clock", threshold=300, clear_s=600),
    AlarmRule(rule="counter_events", severity="info", window_s=86400),
    AlarmRule(rule="completeness_day", threshold=0.9, severity="info"),
    AlarmRule(rule="completeness_month", threshold=0.9),
    AlarmRule(rule="dead_letters", threshold=10, window_s=3600),
    AlarmRule(rule="power", enabled=False, for_s=900, clear_s=900),
    AlarmRule(rule="projection_off_track", severity="critical"),
)


class AlarmChannel(Frozen):
    """Where notifications go. Secrets (webhook URL with its key, signing secret, SMTP password) come from
    the environment (`*_env`) or a file (`*_file`), never from this file, and are never logged."""

    id: Ident
    kind: Literal["webhook", "email", "wecom", "dingtalk", "feishu"]
    url: str | None = Field(None, description="webhook URL (for wecom/dingtalk/feishu prefer url_env: "
                            "it holds the key)")
    url_env: str | None = None
    url_file: str | None = None
    secret_env: str | None = Field(None, description="webhook: HMAC key; dingtalk/feishu: the robot's signing secret")
    secret_file: str | None = None
    min_severity: Severity = "info"
    rules: list[AlarmRuleKind] = Field([], description="only these rules (default: all)")
    parks: list[Ident] = Field([], description="only these parks (default: all)")
    quiet_hours: str | None = Field(None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$",
                                    description="park-local HH:MM-HH:MM: below critical waits until it ends")
    language: Literal["zh", "en"] = "zh"
    digest_s: float | None = Field(None, ge=60, description="info notices are sent together, one digest at "
                                   "every multiple of this many seconds (UTC); none: one message each")
    timeout_s: float = Field(5, gt=0, le=60)
    max_attempts: int = Field(8, ge=1, le=100)
    # email
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    ca_file: str | None = Field(None, description="email: CA certificate(s) trusted for STARTTLS (default: system)")
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    sender: str | None = None
    to: list[str] = []

    @model_validator(mode="after")
    def _complete(self) -> "AlarmChannel":
        if self.kind == "email":
            if not self.to or not self.sender:
                raise ValueError(f"alarm channel {self.id!r}: kind email needs sender and to")
        elif sum(x is not None for x in (self.url, self.url_env, self.url_file)) != 1:
            raise ValueError(f"alarm channel {self.id!r}: kind {self.kind} needs exactly one of url, url_env, url_file")
        if self.kind in ("dingtalk", "feishu", "webhook") and self.secret_env and self.secret_file:
            raise ValueError(f"alarm channel {self.id!r}: give secret_env or secret_file, not both")
        return self

    def secret(self, name: str) -> str | None:
        """The secret `name` (url, secret, password) from its `_env` variable or `_file`; never logged."""
        env, file = getattr(self, f"{name}_env"), getattr(self, f"{name}_file")
        if env is not None:
            value = os.environ.get(env)
            if value is None:
                raise ConfigError(f"environment variable {env} (alarms.channels[{self.id}].{name}_env) is not set")
            return value.strip()  # an EnvironmentFile or a Kubernetes secret often ends in a newline
        if file is not None:
            try:
                with open(file, encoding="utf-8") as f:
                    return f.read().strip()
            except OSError as exc:
                raise ConfigError(f"alarms.channels[{self.id}].{name}_file = {file!r}: {exc.strerror}") from None
        return getattr(self, name, None) if name == "url" else None


class Alarms(Frozen):
    """The alarm evaluator (`lingtan alarms`, docs/alarms.md)."""

    interval_s: float = Field(30, gt=0, description="how often the rules are evaluated")
    rules: list[AlarmRule] = Field(list(DEFAULT_ALARM_RULES), description="rules of every park; a rule kind "
                                   "not listed keeps its default, a field not given keeps its kind's default")
    parks: dict[Ident, list[AlarmRule]] = Field({}, description="per park: rules replacing those of the same kind")
    channels: list[AlarmChannel] = []
    mqtt: Credentials = Field(Credentials(), description="broker login of the status listener (gateway last wills)")
    client_id: Ident = "lingtan-alarms"
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Prometheus /metrics port; none: off")
    metrics_host: str = Field("127.0.0.1", description="address the /metrics server binds")

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        """A rule given in the file changes only the fields it names; the rest keep its kind's default."""
        if not isinstance(data, dict):
            return data
        defaults = {r.rule: r.model_dump() for r in DEFAULT_ALARM_RULES}

        def merged(rules: Any) -> Any:
            if not isinstance(rules, list):
                return rules
            return [{**defaults[r["rule"]], **r} if isinstance(r, dict) and r.get("rule") in defaults else r
                    for r in rules]
        data = dict(data)
        if "rules" in data:
            data["rules"] = merged(data["rules"])
        if isinstance(data.get("parks"), dict):
            data["parks"] = {k: merged(v) for k, v in data["parks"].items()}
        return data

    @field_validator("rules")
    @classmethod
    def _one_per_kind(cls, value: list[AlarmRule]) -> list[AlarmRule]:
        kinds = [r.rule for r in value]
        for k in kinds:
            if kinds.count(k) > 1:
                raise ValueError(f"rule {k!r} is listed twice")
        return value

    def rules_of(self, park_id: str) -> list[AlarmRule]:
        """The park's effective rules: defaults, then `rules`, then `parks[park_id]`, by kind."""
        by_kind = {r.rule: r for r in DEFAULT_ALARM_RULES}
        by_kind.update({r.rule: r for r in self.rules})
        by_kind.update({r.rule: r for r in self.parks.get(park_id, [])})
        return list(by_kind.values())


class Reports(Frozen):
    """Reports (docs/reports.md): where `lingtan reports run` writes them, and when key energy
    users' monthly reports are due."""

    folder: str = Field("reports", description="folder `lingtan reports run` writes every due report into")
    # Due day of a key energy user's monthly report: the day of the following month by which it
    # must be filed. Status U (unconfirmed): the Yangzhou plan (2025) has key energy users report
    # their energy and carbon data monthly ("按月度") but names no day, and no city or provincial
    # rule naming one was found; 10 is an assumption, set it to your city's rule.
    keu_due_day: int = Field(10, ge=1, le=28, description="day of the following month a key energy user's "
                             "monthly report is due (assumption, status U: set it to your city's rule)")
    formats: list[Literal["xlsx", "pdf"]] = Field(["xlsx"], description="what `lingtan reports run` writes")
    languages: list[Literal["zh", "en"]] = Field(["zh"], description="languages `lingtan reports run` writes")


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
    alarms: Alarms = Alarms()
    reports: Reports = Reports()

    @model_validator(mode="after")
    def _references(self) -> "Config":
        problems: list[Problem] = []
        parks = [p.id for p in self.parks]
        for i, park_id in enumerate(parks):
            if park_id in parks[:i]:
                problems.append(Problem(("parks", i, "id"), park_id, "park id declared twice"))
        gateways: dict[str, Gateway] = {}
        for i, g in enumerate(self.gateways):
            if g.id in gateways:
                problems.append(Problem(("gateways", i, "id"), g.id, "gateway id declared twice"))
            if g.park not in parks:
                problems.append(Problem(("gateways", i, "park"), g.park, f"park not declared; declared: "
                                        f"{', '.join(parks) or 'none'}{did_you_mean(g.park, parks)}"))
            gateways.setdefault(g.id, g)
        on_bus: dict[tuple[str, str, str], str] = {}  # (gateway, bus, unit or address) -> meter id
        for pi, p in enumerate(self.parks):
            for mi, m in enumerate(p.meters):
                at = ("parks", pi, "meters", mi)
                g = gateways.get(m.gateway)
                if g is None:
                    problems.append(Problem(at + ("gateway",), m.gateway, f"gateway not declared; declared: "
                                            f"{', '.join(gateways) or 'none'}{did_you_mean(m.gateway, gateways)}"))
                    continue
                if g.park != p.id and g.park in parks:  # else the gateway's own error says it
                    problems.append(Problem(at + ("gateway",), m.gateway, f"gateway {g.id!r} belongs to park "
                                            f"{g.park!r}, not {p.id!r}"))
                    continue
                buses = [b.id for b in g.buses]
                bus = next((b for b in g.buses if b.id == m.modbus.bus), None)
                if bus is None:
                    problems.append(Problem(at + ("modbus", "bus"), m.modbus.bus, f"gateway {g.id!r} has no bus "
                                            f"of that id; its buses: {', '.join(buses)}"
                                            f"{did_you_mean(m.modbus.bus, buses)}"))
                    continue
                problem = _speaks(m, bus, at)
                if problem is not None:
                    problems.append(problem)
                    continue
                if bus.protocol == "modbus":
                    key, field, what = str(m.modbus.unit), "unit", "unit id"
                else:
                    key, field, what = m.modbus.address.rjust(12, "0"), "address", "meter address"
                other = on_bus.setdefault((g.id, bus.id, key), m.id)
                if other != m.id:
                    value = m.modbus.unit if field == "unit" else m.modbus.address
                    problems.append(Problem(at + ("modbus", field), value, f"meter {other!r} has the same {what} "
                                            f"on bus {bus.id!r} of gateway {g.id!r}; each meter on a bus needs "
                                            f"its own {what}"))
        for park_id in self.alarms.parks:
            if park_id not in parks:
                problems.append(Problem(("alarms", "parks", park_id), park_id, f"park not declared; declared: "
                                        f"{', '.join(parks) or 'none'}{did_you_mean(park_id, parks)}"))
        for ci, ch in enumerate(self.alarms.channels):
            for park_id in ch.parks:
                if park_id not in parks:
                    problems.append(Problem(("alarms", "channels", ci, "parks"), park_id, "park not declared; "
                                            f"declared: {', '.join(parks) or 'none'}{did_you_mean(park_id, parks)}"))
        if not problems:
            problems = self._messages_fit()
        if problems:
            raise Problems(problems)
        return self

    def _messages_fit(self) -> list[Problem]:
        """Every reading must fit a readings message under ingest.max_payload_bytes. The publisher
        caps each message in bytes (halving its batch until it fits), so any publish_batch is safe;
        what is refused is a meter whose one reading could never be sent."""
        from lingtan.kernel.profile import load  # the profile module imports this one

        limit = self.ingest.max_payload_bytes
        out = []
        for pi, p in enumerate(self.parks):
            for mi, m in enumerate(p.meters):
                size = reading_bytes(len(load(m.profile).registers))
                if MESSAGE_BYTES + size > limit:
                    out.append(Problem(("parks", pi, "meters", mi, "profile"), m.profile,
                        f"one reading of this profile can take {size} bytes, and with the message envelope "
                        f"({MESSAGE_BYTES}) more than ingest.max_payload_bytes = {limit}; raise "
                        f"ingest.max_payload_bytes to at least {MESSAGE_BYTES + size}"))
        return out

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


def _speaks(meter: Any, bus: Bus, at: tuple) -> Problem | None:
    """A meter's profile and address must be of its bus's protocol."""
    from lingtan.kernel.profile import load  # the profile module imports this one

    protocol = load(meter.profile).protocol
    if protocol != bus.protocol:
        return Problem(at + ("profile",), meter.profile, f"a {protocol} profile, but bus {bus.id!r} speaks "
                       f"{bus.protocol}")
    if bus.protocol == "modbus" and "unit" not in meter.modbus.model_fields_set:
        return Problem(at + ("modbus",), meter.modbus.model_dump(exclude_defaults=True),
                       f"on Modbus bus {bus.id!r} it needs modbus.unit (1-247)")
    if bus.protocol == "dlt645" and meter.modbus.address is None:
        return Problem(at + ("modbus",), meter.modbus.model_dump(exclude_defaults=True),
                       f"on DL/T 645 bus {bus.id!r} it needs modbus.address, the meter address from its "
                       "nameplate (12 digits)")
    return None


MESSAGE_BYTES = 256  # a readings message's envelope: version, park, gateway, sent_at


def reading_bytes(quantities: int) -> int:
    """The most a reading of `quantities` values takes in a readings message (JSON): meter id (64),
    time, seq, and per value its quantity name (at most 24) and the longest float repr (24)."""
    return 160 + quantities * 56


def parse_config(data: Any, source: str | PurePath = "<config>", *, park_files: dict[int, str] | None = None,
                 problems: list[tuple[str, Problem]] = ()) -> Config:
    """Validate a parsed config mapping; raise ConfigError listing every error with file, key path
    (list entries by id), value and message.

    `park_files` maps the index of a park in `parks` to the file it was read from, so that errors
    inside it name that file; `problems` are errors already found (file, problem), reported with
    these in one pass."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    found = list(problems)
    config = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = error_problems(exc, data, Config)
        found += _route(first + _cross_references_of_the_rest(data, first), str(source), park_files or {})
    if found:  # the file given first, then the park files it names
        found.sort(key=lambda item: item[0] != str(source))
        raise ConfigError(format_problems(found, data, park_files or {}))
    return config


def _cross_references_of_the_rest(data: dict, problems: list[Problem]) -> list[Problem]:
    """Cross-references are checked only once every field is valid; so that one run reports them too,
    validate again without the list entries (or settings sections) that hold an error, and keep
    the new problems that are not about an entry left out."""
    import copy

    pruned, removed, deletions = copy.deepcopy(data), set(), set()
    for p in problems:
        entry = max((i for i, part in enumerate(p.loc) if isinstance(part, int)), default=None)
        deletions.add(p.loc[:entry + 1] if entry is not None else p.loc[:1])
    for loc in sorted(deletions - {()}, key=lambda loc: (len(loc), str(loc)), reverse=True):
        parent = _at(pruned, loc[:-1])
        try:
            item = parent[loc[-1]]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            removed.add(item["id"])
        if isinstance(parent, list):
            parent[loc[-1]] = None  # keep the indices of the rest; dropped below
        elif isinstance(parent, dict) and loc != ("parks",):
            del parent[loc[-1]]
    _drop_nones(pruned)
    try:
        Config.model_validate(pruned)
    except ValidationError as exc:
        seen = {(p.loc, p.message) for p in problems}
        again = [p for p in error_problems(exc, pruned, Config) if p.value not in removed]
        # indices in the pruned data differ; name the entries through it, then map back by id
        return [_reindex(p, pruned, data) for p in again if (p.loc, p.message) not in seen
                and "required key missing" not in p.message]
    return []


def _drop_nones(node: Any) -> None:
    if isinstance(node, dict):
        for v in node.values():
            _drop_nones(v)
    elif isinstance(node, list):
        node[:] = [v for v in node if v is not None]
        for v in node:
            _drop_nones(v)


def _reindex(p: Problem, pruned: Any, data: Any) -> Problem:
    """The same location in the original data: list entries matched by id."""
    loc, a, b = [], pruned, data
    for part in p.loc:
        if isinstance(part, int) and isinstance(a, list) and isinstance(b, list):
            item = _at(a, (part,))
            ident = item.get("id") if isinstance(item, dict) else None
            part = next((i for i, x in enumerate(b) if isinstance(x, dict) and x.get("id") == ident), part)
            a, b = item, _at(b, (part,))
        else:
            a, b = _at(a, (part,)), _at(b, (part,))
        loc.append(part)
    return Problem(tuple(loc), p.value, p.message)


def _route(problems: list[Problem], source: str, park_files: dict[int, str]) -> list[tuple[str, Problem]]:
    out = []
    for p in problems:
        if len(p.loc) >= 2 and p.loc[0] == "parks" and p.loc[1] in park_files:
            out.append((park_files[p.loc[1]], p))
        else:
            out.append((source, p))
    return out


def format_problems(found: list[tuple[str, Problem]], data: Any, park_files: dict[int, str] | None = None) -> str:
    """One block per file, in the order the files first appear: `FILE: N error(s)`, then one line each."""
    park_files = park_files or {}
    by_file: dict[str, list[str]] = {}
    for source, p in found:
        loc, root = p.loc, data
        if len(loc) >= 2 and loc[0] == "parks" and loc[1] in park_files and source == park_files[loc[1]]:
            root, loc = _at(data, loc[:2]), loc[2:]
        by_file.setdefault(source, []).append(_line(key_path(loc, root), p))
    return "\n".join(f"{source}: {len(lines)} error(s)\n" + "\n".join(lines) for source, lines in by_file.items())


def format_errors(exc: ValidationError, source: str, data: Any = None, model: Any = None) -> str:
    """A pydantic error as `SOURCE: N error(s)` and one line per error. With the validated `data`
    list entries are named by id; with the `model` unknown keys get the accepted keys."""
    problems = error_problems(exc, data, model)
    lines = [_line(key_path(p.loc, data), p) for p in problems]
    return f"{source}: {len(lines)} error(s)\n" + "\n".join(lines)


def _line(key: str, p: Problem) -> str:
    if p.value is _MISSING:
        return f"  {key or '(top level)'}: {p.message}"
    return f"  {key or '(top level)'} = {_shown(p.value)}: {p.message}"


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = repr(value)
        return text if len(text) <= 60 else f"<{type(value).__name__}>"
    return repr(value)


def _at(data: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def key_path(loc: tuple, data: Any = None) -> str:
    """`parks[park-a].meters[grid-main].profile`: a list entry with an `id` is named by it."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            item = _at(data, (part,)) if isinstance(data, list) else None
            ident = item.get("id") if isinstance(item, dict) else None
            out += f"[{ident}]" if isinstance(ident, str) and ident else f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        data = _at(data, (part,))
    return out


_MISSING = object()
_IDENT_PATTERN = "^[a-z0-9][a-z0-9_-]{0,63}$"


def error_problems(exc: ValidationError, data: Any = None, model: Any = None) -> list[Problem]:
    """Each pydantic error as a Problem; a validator's `Problems` are expanded below its location."""
    out: list[Problem] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, Problems):
            out += [Problem(loc + p.loc, p.value, p.message) for p in inner.problems]
            continue
        value = err.get("input")
        msg = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        if kind == "missing" and data is not None:
            value, msg = _MISSING, "required key missing"
        elif kind == "extra_forbidden":
            accepted = _fields_at(model, loc[:-1]) if model is not None else None
            if accepted is not None:
                msg = f"unknown key; accepted keys: {', '.join(accepted)}{did_you_mean(str(loc[-1]), accepted)}"
        elif kind in ("literal_error", "enum"):
            accepted = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
            msg += did_you_mean(str(value), accepted)
        elif kind == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == _IDENT_PATTERN:
            msg = ("not an id: use 1-64 of lower-case letters a-z, digits, '_' and '-', starting with a letter "
                   "or digit")
        out.append(Problem(loc, value, msg))
    return out


def _strip(t: Any) -> Any:
    while True:
        origin = get_origin(t)
        if origin is Annotated:
            t = get_args(t)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(t) if a is not type(None)]
            t = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), args[0])
        else:
            return t


def _fields_at(model: Any, loc: tuple) -> list[str] | None:
    """The keys the model accepts at `loc` (None when that is not a model)."""
    t = model
    for part in loc:
        t = _strip(t)
        origin = get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            if part not in t.model_fields:
                return None
            t = t.model_fields[part].annotation
        elif origin in (list, tuple, set, frozenset):
            t = get_args(t)[0]
        elif origin is dict:
            t = get_args(t)[1]
        else:
            return None
    t = _strip(t)
    return list(t.model_fields) if isinstance(t, type) and issubclass(t, BaseModel) else None
