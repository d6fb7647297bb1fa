"""Public response schemas of the REST API, separate from the storage models."""

from datetime import UTC, datetime

from pydantic import BaseModel, Field, field_serializer

from accounting.park import Meter, Park


class Out(BaseModel):
    @field_serializer("*", when_used="json", check_fields=False)
    def _utc(self, value):
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
        return value


class Health(Out):
    status: str
    time: datetime


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
    enterprises: list[EnterpriseOut]
    meter_count: int

    @classmethod
    def of(cls, p: Park) -> "ParkOut":
        return cls(id=p.id, name=p.name, timezone=p.timezone, framework=p.framework, park_type=p.park_type,
                   enterprises=[EnterpriseOut(id=e.id, name=e.name, industry=e.industry) for e in p.enterprises],
                   meter_count=len(p.meters))


class MeterOut(Out):
    id: str
    name: str
    carrier: str
    role: str
    boundary: bool
    enterprise: str | None
    gateway: str
    last_reading_at: datetime | None
    gateway_of_last_reading: str | None
    values: dict[str, float]
    today: dict[str, float] = Field(description="energy per counter since local midnight, counter units")

    @classmethod
    def of(cls, m: Meter, latest, today: dict[str, float]) -> "MeterOut":
        return cls(id=m.id, name=m.name, carrier=m.carrier.value, role=m.role.value, boundary=m.boundary,
                   enterprise=m.enterprise, gateway=m.gateway,
                   last_reading_at=latest.ts if latest else None,
                   gateway_of_last_reading=latest.gateway if latest else None,
                   values=latest.values if latest else {}, today=today)


class PowerOut(Out):
    grid_kw: float = Field(description="net exchange with the public grid, + import")
    pv_kw: float = Field(description="on-site solar generation")
    wind_kw: float
    storage_kw: float = Field(description="+ charging, − discharging")
    load_kw: float = Field(description="sum of consumption sub-meters")
    gas_m3h: float
    heat_kw: float


class PeriodFigures(Out):
    period: str
    start: datetime
    end: datetime
    energy_by_carrier: dict[str, float] = Field(description="counter units: kWh, m3, GJ, kg")
    electricity_kwh: dict[str, float] = Field(description="grid import/export, green, on-site, storage")
    energy_tce: float = Field(description="综合能源消费量, electricity at 等价值")
    energy_tce_calorific: float = Field(description="electricity at 当量值")
    co2_t: float
    intensity_t_per_tce: float | None = Field(description="单位能耗碳排放, tCO2/tce")
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


class DeadLetterOut(Out):
    id: int
    received_at: datetime
    topic: str
    park: str | None
    gateway: str | None
    reason: str
    payload: str
