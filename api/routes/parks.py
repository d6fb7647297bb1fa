"""Parks, their enterprises, meters (with reading age and status) and gateways (derived health).

The park list and the park itself answer an enterprise credential too (lingtan.api.deps,
`SharedReader`), with only its share: its park, and in it only its own enterprises and the number
of their meters. It learns neither the other tenants' names nor any park-wide figure (docs/api.md).
"""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import TypeAdapter
from sqlalchemy import select

from lingtan.accounting.balance import counted_meters
from lingtan.api import carbon, schemas
from lingtan.api.auth import Principal
from lingtan.api.deps import CtxDep, ReadPark, SessionDep, SharedPark, SharedReader
from lingtan.api.routes import AUTH_ERRORS, NOT_MODIFIED, PARK_ERRORS, encoded
from lingtan.kernel.localtime import local_day
from lingtan.kernel.park import Park
from lingtan.store.models import GatewayClock, Latest
from lingtan.store.timeutil import aware

router = APIRouter(tags=["parks"], responses=NOT_MODIFIED)
_METERS = TypeAdapter(list[schemas.MeterOut])


def _park_out(park: Park, principal: Principal) -> schemas.ParkOut:
    """The park as this credential may see it: an enterprise credential, only its enterprises."""
    out = schemas.ParkOut.of(park)
    if principal.enterprises is None:
        return out
    mine = principal.enterprises
    owners = _owners(park)
    return out.model_copy(update={"enterprises": [e for e in out.enterprises if e.id in mine],
                                  "meter_count": sum(owners.get(m.id) in mine for m in park.meters)})


@router.get("/parks", response_model=list[schemas.ParkOut], responses=AUTH_ERRORS)
def list_parks(ctx: CtxDep, principal: SharedReader) -> list[schemas.ParkOut]:
    """The parks this credential may see (an enterprise credential: its park, with only its enterprises)."""
    return [_park_out(p, principal) for p in ctx.parks.values() if principal.sees(p.id)]


@router.get("/parks/{park_id}", response_model=schemas.ParkOut, responses=PARK_ERRORS)
def get_park(park: SharedPark, principal: SharedReader) -> schemas.ParkOut:
    """The park (an enterprise credential: with only its own enterprises and the count of their meters)."""
    return _park_out(park, principal)


def _meters(ctx, park, session) -> list[schemas.MeterOut]:
    now = ctx.clock()
    latest = {r.meter: r for r in session.scalars(select(Latest).where(Latest.park == park.id))}
    today = local_day(now, park.zone)
    totals, _ = carbon.meter_totals(session, park, today, today)
    return [schemas.MeterOut.of(m, latest.get(m.id), totals.get(m.id, {}), now) for m in park.meters]


@router.get("/parks/{park_id}/meters", response_model=list[schemas.MeterOut], tags=["meters"], responses=PARK_ERRORS)
def list_meters(ctx: CtxDep, park: ReadPark, session: SessionDep) -> Response:
    """Every meter with its latest reading, its age and status, and today's energy per counter."""
    return encoded(_METERS, _meters(ctx, park, session))


@router.get("/parks/{park_id}/meters/{meter_id}", response_model=schemas.MeterOut, tags=["meters"],
            responses=PARK_ERRORS)
def get_meter(ctx: CtxDep, park: ReadPark, session: SessionDep,
              meter_id: Annotated[str, Path(max_length=64)]) -> schemas.MeterOut:
    for m in _meters(ctx, park, session):
        if m.id == meter_id:
            return m
    raise HTTPException(404, f"meter_id = {meter_id!r}: no meter of park {park.id!r}")


@router.get("/parks/{park_id}/gateways", response_model=list[schemas.GatewayOut], tags=["meters"],
            responses=PARK_ERRORS)
def list_gateways(ctx: CtxDep, park: ReadPark, session: SessionDep) -> list[schemas.GatewayOut]:
    """Gateways of the park, with health derived from their meters' newest readings, and their
    clock offsets as ingest measured them (`clock_off` past `ingest.max_clock_ahead_s`)."""
    skew_s = ctx.config.ingest.max_clock_ahead_s
    clocks = {c.gateway: c.offset_s for c in session.scalars(select(GatewayClock).where(GatewayClock.park == park.id))}
    return [g.model_copy(update={"clock_offset_s": clocks.get(g.id), "clock_off": skew_s is not None
                                 and g.id in clocks and abs(clocks[g.id]) > skew_s})
            for g in _gateways(_meters(ctx, park, session))]


def _gateways(meters: list[schemas.MeterOut]) -> list[schemas.GatewayOut]:
    """The gateways of a meter listing, with health derived from their meters' newest readings."""
    out = []
    for gw in sorted({m.gateway for m in meters}):
        mine = [m for m in meters if m.gateway == gw]
        times = [aware(m.last_reading_at) for m in mine if m.last_reading_at]
        newest = max(times) if times else None
        ages = [m.reading_age_s for m in mine if m.reading_age_s is not None]
        best = min(ages) if ages else None
        out.append(schemas.GatewayOut(
            id=gw, last_reading_at=newest, reading_age_s=best,
            status=schemas.meter_status(best, min(m.poll_interval_s for m in mine)),
            meters_total=len(mine), meters_ok=sum(m.status == "ok" for m in mine)))
    return out


@router.get("/parks/{park_id}/enterprises", response_model=list[schemas.EnterpriseDetail], tags=["enterprises"],
            responses=PARK_ERRORS)
def list_enterprises(ctx: CtxDep, park: ReadPark, session: SessionDep) -> list[schemas.EnterpriseDetail]:
    """Enterprises with their meters and today's energy over their counted meters (the accounting's
    `counted_meters`: a sub-meter below its enterprise's own meter of the same carrier is not counted
    twice)."""
    now = ctx.clock()
    today = local_day(now, park.zone)
    totals, _ = carbon.meter_totals(session, park, today, today)
    owners, counted = _owners(park), counted_meters(park)
    out = []
    for e in park.enterprises:
        energy: dict[str, float] = {}
        for m in park.meters:
            if counted.get(m.id) != e.id:
                continue
            for q, v in totals.get(m.id, {}).items():
                energy[q] = energy.get(q, 0.0) + v
        meters = [m.id for m in park.meters if owners.get(m.id) == e.id]
        out.append(schemas.EnterpriseDetail(id=e.id, name=e.name, industry=e.industry, meters=meters, today=energy))
    return out


def _owners(park: Park) -> dict[str, str]:
    """{meter id: enterprise id} of every meter of an enterprise, counted or below a counted one: by
    `counted_meters`' rule, the meter's own enterprise or the nearest one above it; never a
    boundary meter."""
    meters = {m.id: m for m in park.meters}
    out = {}
    for m in park.meters:
        x = m
        while x.enterprise is None and x.parent:
            x = meters[x.parent]
        if x.enterprise is not None and not m.boundary:
            out[m.id] = x.enterprise
    return out


@router.get("/parks/{park_id}/enterprises/{enterprise_id}", response_model=schemas.EnterpriseDetail,
            tags=["enterprises"], responses=PARK_ERRORS)
def get_enterprise(ctx: CtxDep, park: ReadPark, session: SessionDep,
                   enterprise_id: Annotated[str, Path(max_length=64)]) -> schemas.EnterpriseDetail:
    for e in list_enterprises(ctx, park, session):
        if e.id == enterprise_id:
            return e
    raise HTTPException(404, f"enterprise_id = {enterprise_id!r}: no enterprise of park {park.id!r}")
