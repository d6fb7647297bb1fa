"""Public request and response schemas of the REST API, separate from the storage models."""

from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from lingtan.accounting.activity import Excluded
from lingtan.accounting.figures import ParkFigures
from lingtan.kernel.park import Meter, Park


class Out(BaseModel):
    @field_serializer("*", when_used="json", check_fields=False)
    def _utc(self, value):
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return value


class Health(Out):
    status: str
    time: datetime


class FieldError(BaseModel):
    """One invalid parameter or body field of a 422."""

    name: str = Field(description="where and which: `query.step`, `path.park_id`, `body.economy.x`")
    value: Any = Field(None, description="the value sent (left out when absent, structured or secret)")
    reason: str = Field(description="what is wrong and what is accepted")


PROBLEM_MEDIA = "application/problem+json"


def problem_body(status: int, detail: str, instance: str, **extra: Any) -> dict:
    """RFC 9457 problem details; `type` is about:blank, so `title` is the status phrase."""
    return {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail,
            "instance": instance, **extra}


class Problem(BaseModel):
    """Every error, as RFC 9457 problem details (`application/problem+json`): what was wrong, where,
    and what is accepted."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="a URI naming the kind of problem; `about:blank`: the status says it")
    title: str = Field(description="the HTTP status phrase, e.g. `Not Found`")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="a sentence naming the parameter and value at fault and what is accepted")
    instance: str = Field(description="the path of the request")
    errors: list[FieldError] | None = Field(None, description="422 of invalid parameters: one entry per field")


# -- parks, enterprises, meters ----------------------------------------------------------
class EnterpriseOut(Out):
    id: str
    name: str
    industry: str


class ParkOut(Out):
    id: str
    name: str
    timezone: str
    framework: str
    park_type: str
    base_year: int | None = None  # the declared base year figures are compared with (compare=base_year)
    enterprises: list[EnterpriseOut]
    meter_count: int

    @classmethod
    def of(cls, p: Park) -> "ParkOut":
        return cls(id=p.id, name=p.name, timezone=p.timezone, framework=p.framework, park_type=p.park_type,
                   base_year=p.base_year,
                   enterprises=[EnterpriseOut(id=e.id, name=e.name, industry=e.industry) for e in p.enterprises],
                   meter_count=len(p.meters))


MeterStatus = Literal["ok", "late", "silent", "no_data"]


class MeterOut(Out):
    id: str
    name: str
    carrier: str
    role: str
    boundary: bool
    enterprise: str | None
    parent: str | None = None
    gateway: str
    poll_interval_s: float = 0
    last_reading_at: datetime | None
    reading_age_s: float | None = Field(None, description="seconds since the newest reading's measurement time")
    status: MeterStatus = Field("no_data", description="ok: age ≤ 3 poll intervals (min 30 s); late: ≤ 15 min; "
                                "silent: older; no_data: never read")
    gateway_of_last_reading: str | None
    values: dict[str, float]
    today: dict[str, float] = Field(description="energy per counter since local midnight, counter units")

    @classmethod
    def of(cls, m: Meter, latest, today: dict[str, float], now: datetime | None = None) -> "MeterOut":
        ts = latest.ts if latest else None
        if ts is not None and ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        age = (now - ts).total_seconds() if (ts is not None and now is not None) else None
        return cls(id=m.id, name=m.name, carrier=m.carrier.value, role=m.role.value, boundary=m.boundary,
                   enterprise=m.enterprise, parent=m.parent, gateway=m.gateway, poll_interval_s=m.poll_interval_s,
                   last_reading_at=ts, reading_age_s=None if age is None else round(age, 3),
                   status=meter_status(age, m.poll_interval_s),
                   gateway_of_last_reading=latest.gateway if latest else None,
                   values=latest.values if latest else {}, today=today)


def meter_status(age_s: float | None, poll_interval_s: float) -> MeterStatus:
    if age_s is None:
        return "no_data"
    if age_s <= max(3 * poll_interval_s, 30):
        return "ok"
    return "late" if age_s <= 900 else "silent"


class GatewayOut(Out):
    id: str
    last_reading_at: datetime | None = Field(description="newest reading of any of its meters")
    reading_age_s: float | None
    status: MeterStatus = Field(description="the status of its freshest meter")
    meters_total: int
    meters_ok: int
    clock_offset_s: float | None = Field(None, description="its clock minus ingest's, as ingest last measured it "
                                         "(readings' sent_at vs receive time; negative can also be queueing delay)")
    clock_off: bool = Field(False, description="|clock_offset_s| exceeds ingest.max_clock_ahead_s")


class EnterpriseDetail(EnterpriseOut):
    meters: list[str]
    today: dict[str, float] = Field(description="today's energy per counter over its counted meters, counter units")


# -- realtime ---------------------------------------------------------------------------
class PowerOut(Out):
    grid_kw: float = Field(description="net exchange with the public grid, + import")
    pv_kw: float = Field(description="on-site solar generation")
    wind_kw: float
    storage_kw: float = Field(description="+ charging, − discharging")
    load_kw: float = Field(description="sum of consumption sub-meters")
    gas_m3h: float
    heat_kw: float


class PeriodFigures(Out, ParkFigures):
    """The accounting core's figures (lingtan.accounting.figures) for one named period."""

    period: str
    start: datetime
    end: datetime
    completeness: float


class Realtime(Out):
    park: str
    time: datetime
    power: PowerOut
    carbon_rate_t_per_h: float
    today: PeriodFigures
    month: PeriodFigures
    year: PeriodFigures
    meters_reporting: int
    meters_total: int


# -- series ------------------------------------------------------------------------------
Step = Literal["15min", "hour", "day", "month"]
SeriesScope = Literal["park", "enterprise", "meter"]


class SeriesPoint(Out):
    start: datetime
    end: datetime
    label: str = Field(description="the bucket's start in park-local time")
    values: dict[str, float | None] = Field(
        description="energy and emissions of the bucket; null for a bucket with no measured data (e.g. the future)")
    completeness: float = Field(description="measured share of the bucket, 0..1, mean over the meters in scope")


class SeriesOut(Out):
    park: str
    scope: SeriesScope
    id: str
    step: Step
    timezone: str
    first: date
    last: date
    units: dict[str, str]
    points: list[SeriesPoint]


# -- indicators --------------------------------------------------------------------------
IndicatorStatus = Literal["met", "not_met", "insufficient_data", "not_applicable", "excluded"]


class IndicatorOut(Out):
    id: str
    number: int | None
    name: str
    kind: str
    status: IndicatorStatus
    value: float | bool | None
    target: float | None
    target_text: str
    comparator: str
    unit: str
    period: str
    completeness: float
    horizon: str | None
    note: str


class FrameworkOut(Out):
    id: str
    name: str
    document: str
    horizon: str | None
    horizons: list[str]
    variant: str | None
    variants: dict[str, str]


class IndicatorsOut(Out):
    park: str
    year: int
    framework: FrameworkOut
    period_start: date
    period_through: date
    completeness: float = Field(description="measured share of the period (energy-weighted over boundary meters)")
    energy_tce: float
    co2_t: float
    results: list[IndicatorOut]


# -- activity data -----------------------------------------------------------------------
class ActivityIn(BaseModel):
    """A park's entered activity data for one year: the fields of the core's Activity model
    that meters do not measure. Validated by accounting.activity (docs/activity-data.md)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "economy": {"industrial_value_added_wan_yuan": 125000},
        "electricity": {"certificates_mwh": 1200},
        "offsets": {"ccer_tco2": 300},
        "waste": {"solid_generated_t": 5000, "solid_utilised_t": 4300},
        "water": {"fresh_intake_m3": 200000, "reused_m3": 180000},
    }})

    variant: str | None = None
    horizon: str | None = None
    electricity: dict[str, Any] = Field({}, description="certificates_mwh (GEC and green-power trading), "
                                        "certificates_sold_mwh, certificates_planned_mwh, certificates (source, "
                                        "vintage, mwh), export_rule; metered "
                                        "flows (…_kwh) are replaced by the meters' figures")
    fuels: dict[str, float] = Field({}, description="unmetered fuels, key <fuel>_<unit>; metered ones win")
    feedstock: dict[str, float] = {}
    bunker: dict[str, float] = {}
    transformation: dict[str, Any] = {}
    heat: dict[str, Any] = {}
    process: list[dict[str, Any]] = Field([], description="production lines: product, output_t, factor_tco2_per_t, "
                                          "factor_source")
    offsets: dict[str, Any] = Field({}, description="ccer_tco2 (CCER cancelled; never deducted from E)")
    economy: dict[str, Any] = Field({}, description="industrial_value_added_wan_yuan")
    waste: dict[str, Any] = {}
    water: dict[str, Any] = {}
    capacity: dict[str, Any] = {}
    enterprises_total: int | None = None
    enterprises_on_platform: int | None = None
    indicators: dict[str, float | bool | Excluded] = Field(
        {}, description="reported values of indicators by id, or {excluded: reason} for a guidance indicator "
        "the park leaves out (annex 3)")
    factors: dict[str, dict[str, Any]] = {}
    switches: dict[str, Any] = Field({}, description="interpretation switches: feedstock_in_energy "
                                     "(docs/accounting.md, Interpretations)")
    enterprises: dict[str, dict[str, Any]] = Field({}, description="per enterprise id: value_added_wan_yuan, "
                                                   "output, certificates_mwh, green_direct_kwh, key_energy_user "
                                                   "(docs/activity-data.md, Enterprises); metered flows win")


class ActivityOut(Out):
    park: str
    year: int
    version: int = Field(description="0 when nothing was entered yet")
    updated_at: datetime | None
    updated_by: str | None
    data: dict[str, Any]


class Change(Out):
    path: str
    before: Any = None
    after: Any = None


class AuditOut(Out):
    id: int
    at: datetime
    actor: str
    park: str
    action: str
    target: str
    changes: list[Change]


class AuditPage(Out):
    items: list[AuditOut]
    next_cursor: str | None = Field(description="pass as `cursor` for older entries; null at the end")


# -- sync ---------------------------------------------------------------------------------
class IntervalOut(Out):
    meter: str
    quantity: str
    unit: str
    start: datetime
    end: datetime
    local_day: date
    amount: float
    completeness: float
    estimated: bool
    flags: list[str] = Field(description="what the interval engine did; `revised_after_final` when a final "
                             "interval changed all the same")
    final: bool = Field(description="true once the interval is closed and complete, or its local day is past "
                        "the settling time: its value will not change (docs/api.md, Finality)")
    revision: int = Field(description="the row's revision; a row comes again only with a higher one")
    updated_at: datetime


class IntervalPage(Out):
    park: str
    items: list[IntervalOut]
    next_cursor: str = Field(description="pass back as `cursor`; also when has_more is false (poll again later)")
    has_more: bool


class IndicatorSync(Out):
    framework: str
    year: int
    result: IndicatorOut
    updated_at: datetime


class IndicatorPage(Out):
    park: str
    items: list[IndicatorSync]
    next_cursor: str
    has_more: bool


# -- dead letters, session --------------------------------------------------------------
class DeadLetterOut(Out):
    id: int
    received_at: datetime
    topic: str
    park: str | None
    gateway: str | None
    reason: str
    payload: str


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(Out):
    kind: Literal["key", "user", "demo"]
    name: str
    parks: list[str] | None = Field(description="null: every park")
    scopes: list[str]
    enterprises: list[str] | None = Field(None, description="null: the whole of its parks; else the enterprises "
                                          "(of its one park) this credential is bound to")
