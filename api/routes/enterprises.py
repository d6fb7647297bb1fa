"""Enterprise figures: the park's enterprises ranked, and one enterprise's figures over a span of days."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from lingtan.api import enterprises
from lingtan.api.deps import CtxDep, ReadPark, SessionDep
from lingtan.api.routes import NOT_MODIFIED, PARK_ERRORS
from lingtan.api.routes.carbon import _range

router = APIRouter(tags=["enterprises"], responses={**PARK_ERRORS, **NOT_MODIFIED})

First = Annotated[date | None, Query(description="first park-local day (default today)")]
Last = Annotated[date | None, Query(description="last park-local day, inclusive (default first); same year as first")]
CompareWith = "the same days of the previous year (previous_year) or of the park's declared base year (base_year)"


@router.get("/parks/{park_id}/enterprise-ranking", response_model=enterprises.Ranking)
def ranking(ctx: CtxDep, park: ReadPark, session: SessionDep, first: First = None, last: Last = None,
            by: Annotated[enterprises.RankBy, Query(description="energy (tce), co2 (t) or intensity "
                                                                "(tce per 10,000 yuan value added)")] = "energy",
            compare: Annotated[enterprises.Compare, Query(description=f"compare with {CompareWith}")
                               ] = "previous_year",
            ) -> enterprises.Ranking:
    """Enterprises ranked by energy, CO₂ or intensity, largest first, with the unallocated remainder
    (public use and losses) and the park totals they add up to; each with the same figures of the
    compared span (`previous`) and the change to them (year on year by default)."""
    first, last = _range(ctx, park, first, last)
    try:
        return enterprises.ranking(session, park, first, last, by, compare)
    except enterprises.EnterpriseError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/parks/{park_id}/enterprises/{enterprise_id}/figures", response_model=enterprises.EnterpriseOut)
def figures(ctx: CtxDep, park: ReadPark, session: SessionDep,
            enterprise_id: Annotated[str, Path(max_length=64)], first: First = None, last: Last = None,
            tou: Annotated[str, Query(description="time-of-use calendar id (shipped: jiangsu)", max_length=64,
                                      pattern=r"^[a-z0-9_-]+$")] = "jiangsu",
            compare: Annotated[enterprises.Compare | None, Query(description=f"also give {CompareWith}, "
                                                                             "and the change to them")] = None,
            ) -> enterprises.EnterpriseOut:
    """One enterprise over local days [first, last]: energy by carrier, tce (等价值 and 当量值), CO₂ with
    its electricity split by green supply, intensity, key-energy-user status, completeness and the
    time-of-use split of its electricity; with `compare`, the same over the compared span."""
    first, last = _range(ctx, park, first, last)
    try:
        return enterprises.figures(session, park, enterprise_id, first, last, tou, compare)
    except enterprises.NoSuchEnterprise as exc:
        raise HTTPException(404, str(exc)) from None
    except enterprises.EnterpriseError as exc:
        raise HTTPException(422, str(exc)) from None
