"""Enterprise figures: the park's enterprises ranked, and one enterprise's figures over a span of days."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from lingtan.api import enterprises
from lingtan.api.deps import CtxDep, ReadPark, SessionDep
from lingtan.api.routes import NOT_MODIFIED, PARK_ERRORS
from lingtan.api.routes.carbon import _range

router = APIRouter(tags=["enterprises"], responses={**PARK_ERRORS, **NOT_MODIFIED})

First = Annotated[date | None, Query(description="first park-local day (default today)")]
Last = Annotated[date | None, Query(description="last park-local day, inclusive (default first); same year as first")]


@router.get("/parks/{park_id}/enterprise-ranking", response_model=enterprises.Ranking)
def ranking(ctx: CtxDep, park: ReadPark, session: SessionDep, first: First = None, last: Last = None,
            by: Annotated[enterprises.RankBy, Query(description="energy (tce), co2 (t) or intensity "
                                                                "(tce per 10,000 yuan value added)")] = "energy",
            ) -> enterprises.Ranking:
    """Enterprises ranked by energy, CO₂ or intensity, largest first, with the unallocated remainder
    (public use and losses) and the park totals they add up to."""
    first, last = _range(ctx, park, first, last)
    return enterprises.ranking(session, park, first, last, by)


@router.get("/parks/{park_id}/enterprises/{enterprise_id}/figures", response_model=enterprises.EnterpriseOut)
def figures(ctx: CtxDep, park: ReadPark, session: SessionDep,
            enterprise_id: Annotated[str, Path(max_length=64)], first: First = None, last: Last = None,
            tou: Annotated[str, Query(description="time-of-use calendar id (shipped: jiangsu)", max_length=64,
                                      pattern=r"^[a-z0-9_-]+$")] = "jiangsu",
            ) -> enterprises.EnterpriseOut:
    """One enterprise over local days [first, last]: energy by carrier, tce (等价值 and 当量值), CO₂ with
    its electricity split by green supply, intensity, key-energy-user status, completeness and the
    time-of-use split of its electricity."""
    first, last = _range(ctx, park, first, last)
    return enterprises.figures(session, park, enterprise_id, first, last, tou)
