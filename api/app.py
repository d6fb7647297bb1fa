"""The REST API v1 and the dashboard: thin routes over the platform database and the core."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from accounting.config import Config
from accounting.park import Park
from api import carbon, schemas
from api.db import sessions
from api.models import DeadLetter, IntervalEnergy, Latest

STATIC = Path(__file__).parent / "static"


def create_app(config: Config, engine: Engine, clock=lambda: datetime.now(UTC)) -> FastAPI:
    app = FastAPI(title="Lingtan 零碳 API", version="1", summary="Energy and carbon of zero-carbon parks",
                  docs_url="/api/docs", openapi_url="/api/v1/openapi.json")
    make_session = sessions(engine)
    parks = {p.id: p for p in config.parks}

    def get_session():
        with make_session() as s:
            yield s

    SessionDep = Annotated[Session, Depends(get_session)]

    def get_park(park_id: str) -> Park:
        park = parks.get(park_id)
        if park is None:
            raise HTTPException(404, f"park_id = {park_id!r}: no such park")
        return park

    ParkDep = Annotated[Park, Depends(get_park)]

    @app.get("/api/v1/health", response_model=schemas.Health, tags=["meta"])
    def health(session: SessionDep) -> schemas.Health:
        session.execute(select(1))
        return schemas.Health(status="ok", time=clock())

    @app.get("/api/v1/parks", response_model=list[schemas.ParkOut], tags=["parks"])
    def list_parks() -> list[schemas.ParkOut]:
        return [schemas.ParkOut.of(p) for p in parks.values()]

    @app.get("/api/v1/parks/{park_id}", response_model=schemas.ParkOut, tags=["parks"])
    def get_park_route(park: ParkDep) -> schemas.ParkOut:
        return schemas.ParkOut.of(park)

    @app.get("/api/v1/parks/{park_id}/meters", response_model=list[schemas.MeterOut], tags=["meters"])
    def list_meters(park: ParkDep, session: SessionDep) -> list[schemas.MeterOut]:
        latest = {r.meter: r for r in session.scalars(select(Latest).where(Latest.park == park.id))}
        today = clock().astimezone(park.zone).date()
        totals, _ = carbon.meter_totals(session, park, today, today)
        return [schemas.MeterOut.of(m, latest.get(m.id), totals.get(m.id, {})) for m in park.meters]

    @app.get("/api/v1/parks/{park_id}/carbon/realtime", response_model=schemas.Realtime, tags=["carbon"])
    def realtime(park: ParkDep, session: SessionDep) -> schemas.Realtime:
        return carbon.realtime(park, session, clock())

    @app.get("/api/v1/dead-letters", response_model=list[schemas.DeadLetterOut], tags=["ingest"])
    def dead_letters(session: SessionDep, park_id: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[schemas.DeadLetterOut]:
        q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
        if park_id is not None:
            q = q.where(DeadLetter.park == park_id)
        return [schemas.DeadLetterOut.model_validate(d, from_attributes=True) for d in session.scalars(q)]

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app
