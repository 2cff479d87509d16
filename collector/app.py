"""The ASGI application: routes, middleware, error rendering and the sink's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.config import Settings
from collector.errors import CollectorError
from collector.ingest import Ingest
from collector.ingest_routes import Endpoint, IngestRoutes
from collector.metrics import CONTENT_TYPE, Metrics, RequestMetrics
from collector.pii import load_secret
from collector.responses import JSONResponse, error_response
from collector.sinks.kafka import KafkaSink
from collector.sources.segment import SegmentSource
from collector.sources.track import TrackSource

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    """The collector's ASGI app; raises ConfigError when the settings are unsafe."""
    metrics = Metrics()
    # Refuse to start without a usable PII secret, whether or not write keys exist yet.
    load_secret(settings.pii, settings.environment)
    sink = KafkaSink(settings, metrics)
    ingest = Ingest(settings, sink, metrics)
    track = TrackSource(ingest)
    segment = SegmentSource(ingest, settings.max_segment_batch_bytes)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if sink.serving_reports and await run_in_threadpool(sink.ready):
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"error": "kafka_unreachable", "detail": "no broker metadata"}, status_code=503
        )

    tracker = (Path(__file__).parent / "static" / "tracker.js").read_bytes()

    async def tracker_js(request: Request) -> Response:
        return Response(
            tracker,
            media_type="application/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.create_topics:
            await run_in_threadpool(sink.ensure_topics, settings.topics_to_create())
        sink.start()
        logger.info("producing to %s", settings.kafka_bootstrap)
        try:
            yield
        finally:
            # Runs after the server has finished its in-flight requests.
            app.state.undelivered = await sink.close()

    ingest_endpoints: dict[str, Endpoint] = {"/track": track.handle, **segment.endpoints()}
    routes = [
        # POSTs to these are served by IngestRoutes and never reach the router, which gives
        # other methods their 405.
        *(Route(path, _served_by_ingest_routes, methods=["POST"]) for path in ingest_endpoints),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/tracker.js", tracker_js, methods=["GET"]),
    ]
    # Browsers post from the configured origins only; write keys travel in headers, not
    # cookies, so credentials are never allowed (and never with "*").
    cors_options: dict[str, Any] = {
        "allow_origins": settings.cors_origins,
        "allow_methods": ["POST", "GET", "OPTIONS"],
        "allow_headers": ["Authorization", "Content-Type", "Content-Encoding"],
        "allow_credentials": False,
        "max_age": 3600,
    }
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestMetrics, metrics=metrics, routes=[r.path for r in routes]),
            Middleware(
                IngestRoutes,
                endpoints=ingest_endpoints,
                max_body_bytes=settings.max_body_bytes,
                max_in_flight=settings.max_in_flight,
                retry_after_s=settings.retry_after_s,
                cors_options=cors_options,
            ),
            Middleware(CORSMiddleware, **cors_options),
        ],
        exception_handlers={
            CollectorError: _collector_error,
            HTTPException: _http_error,
        },
        lifespan=lifespan,
    )


async def _served_by_ingest_routes(request: Request) -> Response:
    # Reached only if IngestRoutes and the router disagree about a path: a bug, and one
    # that must not serve events past the body and in-flight limits.
    raise RuntimeError(f"POST {request.url.path} reached the router instead of IngestRoutes")


async def _collector_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CollectorError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Routing errors (404, 405) in the same JSON shape as every other error.
    assert isinstance(exc, HTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    return JSONResponse(
        {"error": code, "detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
    )
