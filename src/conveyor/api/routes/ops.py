"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from conveyor.api.deps import App
from conveyor.api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(app: App) -> Health | JSONResponse:
    """The store answers."""
    try:
        app.store.now()
    except Exception as exc:
        body = Health(status="unavailable", detail=str(exc))
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok")
