"""Indicators of a framework for one year, evaluated by the core from meters and activity data."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from lingtan.api import schemas, scorecard
from lingtan.api.deps import CtxDep, ReadPark, SessionDep
from lingtan.api.routes import NOT_MODIFIED, PARK_ERRORS

router = APIRouter(tags=["indicators"], responses={**PARK_ERRORS, **NOT_MODIFIED})

Year = Annotated[int, Path(ge=2000, le=2100, description="calendar year (park-local)")]


def indicators_of(ctx, park, session, year, framework, horizon, variant) -> schemas.IndicatorsOut:
    now = ctx.clock()
    result = scorecard.evaluate(session, park, year, now, framework=framework, horizon=horizon, variant=variant)
    if framework in (None, park.framework) and horizon is None and variant is None:
        scorecard.refresh(session, park, year, now)  # keep the synced snapshot current
        session.commit()
    return result


@router.get("/parks/{park_id}/indicators/{year}", response_model=schemas.IndicatorsOut)
def get_indicators(ctx: CtxDep, park: ReadPark, session: SessionDep, year: Year,
                   framework: Annotated[str | None, Query(description="framework id (default: the park's)",
                                                          max_length=64)] = None,
                   horizon: Annotated[str | None, Query(max_length=32)] = None,
                   variant: Annotated[str | None, Query(max_length=64)] = None) -> schemas.IndicatorsOut:
    """Every indicator with value, target, status (met / not_met / insufficient_data /
    not_applicable) and the completeness of the data behind it. The current year is evaluated
    year to date; tiers of annual energy use are chosen by the year-end projection."""
    return indicators_of(ctx, park, session, year, framework, horizon, variant)
