"""The indicator frameworks shipped with the core (accounting/frameworks/*.yaml), as data."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from lingtan.accounting.indicators import load_framework
from lingtan.accounting.resources import framework_names
from lingtan.api.deps import Reader
from lingtan.api.routes import _PROBLEM, AUTH_ERRORS, NOT_MODIFIED

router = APIRouter(tags=["indicators"], responses={**AUTH_ERRORS, **NOT_MODIFIED})


@router.get("/frameworks", response_model=list[str])
def list_frameworks(_: Reader) -> list[str]:
    """Ids of the shipped indicator frameworks."""
    return framework_names()


@router.get("/frameworks/{framework_id}", response_model=dict[str, Any],
            responses={404: {**_PROBLEM, "description": "no such framework"}})
def get_framework(_: Reader, framework_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    """A framework: source document, horizons, variants, indicators with their targets."""
    if framework_id not in framework_names():
        raise HTTPException(404, f"framework_id = {framework_id!r}: unknown; available: {framework_names()}")
    return load_framework(framework_id).model_dump(mode="json")
