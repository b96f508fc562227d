"""`GET /metrics`: Prometheus text, computed from the store at scrape time.

Access: with no API tokens configured, anyone who reaches the server may scrape (the
server then listens on loopback only unless told otherwise). With tokens, a scraper
presents one with the `read` scope (Prometheus: `authorization: {credentials: ...}`),
unless the server was started with `metrics_public=True` (`--metrics-public`), for
scrapers inside a trusted network that carry no credentials.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from conveyor.api.auth import require

router = APIRouter(tags=["operations"])

_require_read = require("read")


def _metrics_access(request: Request) -> None:
    if not request.app.state.metrics_public:
        _require_read.check(request)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    """Queue depths, task totals, processing times and workers, in Prometheus format."""
    _metrics_access(request)
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
