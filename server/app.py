"""``create_app(settings)``: the FastAPI app with its state, routes and the one error renderer."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from server.api import doors, meta
from server.auth import AuthMiddleware, KeyRing
from server.backends.base import Backend
from server.backends.registry import BACKEND_KINDS
from server.backends.vllm import VllmBackend
from server.config import Settings, load_settings
from server.dialects.anthropic import wire as messages_wire
from server.dialects.base import Dialect
from server.dialects.chat import wire
from server.dialects.checks import param_of
from server.dialects.responses import wire as responses_wire
from server.dialects.responses.store import open_store
from server.dispatch import Dispatcher
from server.errors import InternalError, InvalidRequest, MethodNotAllowed, NotFound, ProxyError
from server.logs import RequestContext, config_secrets, protect
from server.metrics import Metrics
from server.pipeline import error_response
from server.routing import Router
from server.state import AppState
from server.transport import Connections

log = logging.getLogger("toolrelay")


# Errors that happen before a route runs (unknown path, bad method) answer in the shape of the
# door the path belongs to; the chat door's shape is OpenAI's, the default.
DOORS: dict[str, Dialect] = {
    "/v1/messages": doors.ANTHROPIC,
    "/v1/chat/completions": doors.CHAT,
    "/v1/responses": doors.RESPONSES,
}
ENDPOINTS = (
    "POST /v1/chat/completions",
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
    "POST /v1/responses",
    "GET /v1/responses/{id}",
    "DELETE /v1/responses/{id}",
    "GET /v1/responses/{id}/input_items",
    "GET /v1/models",
    "GET /health",
    "GET /ready",
    "GET /metrics",
)


# Request bodies the doors' routes refer to in the OpenAPI document (``openapi_extra``).
REQUEST_SCHEMAS: dict[str, type[BaseModel]] = {
    "ChatRequest": wire.ChatRequest,
    "MessagesRequest": messages_wire.MessagesRequest,
    "CountTokensRequest": messages_wire.Prompt,
    "ResponsesRequest": responses_wire.ResponsesRequest,
}


def _telemetry() -> TelemetryConfig | None:
    """FastAPI's built-in OpenTelemetry where an operator set OpenTelemetry up (an ``OTEL_*``
    variable, or FastAPI's own ``FASTAPI_OTEL_AUTO_CONFIGURE``), as FastAPI would; off otherwise.
    Left on with nothing configured it still asks the global OTel providers, on every request,
    whether one is set (about 3% of a small request's CPU) — toolrelay reports through Prometheus
    and its JSON logs."""
    if any(name.startswith(("OTEL_", "FASTAPI_OTEL_")) for name in os.environ):
        return None
    return {"tracing": False, "metrics": False, "logs": False}


class App(FastAPI):
    """FastAPI, with the doors' ``POST`` paths answered before its stack (``server.api.doors``)."""

    def __init__(self, doors_app: ASGIApp, door_paths: Mapping[str, Dialect], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.doors_app = doors_app
        self.door_paths = frozenset(door_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.door_paths:
            scope["app"] = self  # what FastAPI would set: handlers reach the app state through it
            await self.doors_app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def door_for(path: str) -> Dialect:
    return next((d for prefix, d in DOORS.items() if path.startswith(prefix)), doors.CHAT)


def create_app(settings: Settings, *, registry: CollectorRegistry | None = None) -> FastAPI:
    router = Router(settings)  # builds every model's adapter now: a bad template stops start-up
    keyring = KeyRing.from_config(settings.auth, os.environ)
    started_at = time.time()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connections = Connections()  # one pool for every backend; per-request timeouts from each backend's config
        backends: dict[str, Backend] = {
            name: BACKEND_KINDS[cfg.kind](name, cfg, connections) for name, cfg in settings.backends.items()
        }
        metrics = Metrics.from_settings(settings, registry)
        for backend in backends.values():
            if isinstance(backend, VllmBackend):  # its auto gate's decisions (issue 17)
                backend.auto_gate.observer = metrics.auto_decision
        app.state.toolrelay = state = AppState(
            settings=settings,
            router=router,
            metrics=metrics,
            connections=connections,
            backends=backends,
            dispatcher=Dispatcher(backends, metrics, settings.backends, settings.limits.max_in_flight),
            started_at=started_at,
            loop=asyncio.get_running_loop(),
            response_store=open_store(settings.responses.store, config_secrets(settings)),
        )
        if keyring is not None:
            state.check_access = keyring.check_model
        try:
            yield
        finally:
            for backend in backends.values():
                await backend.aclose()
            await connections.aclose()
            if state.response_store is not None:
                await state.response_store.aclose()
            metrics.close()

    protect(config_secrets(settings), include_contents=settings.debug_log_contents)
    # The doors' POSTs skip FastAPI (server.api.doors); auth rejections get a request id and an access line too.
    served: ASGIApp = doors.DoorRoutes(DOORS)
    if keyring is not None:
        served = AuthMiddleware(served, keyring=keyring, error_body=lambda path, err: door_for(path).error_body(err))
    app = App(
        RequestContext(served),
        DOORS,
        title="toolrelay",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=_telemetry(),
    )
    app.include_router(doors.router)
    app.include_router(meta.router)
    _install_error_handlers(app)
    _install_schema(app)
    # Every other path, through FastAPI's stack, the same way: auth innermost, the request context outermost.
    if keyring is not None:
        app.add_middleware(AuthMiddleware, keyring=keyring, error_body=lambda path, err: door_for(path).error_body(err))
    app.add_middleware(RequestContext)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProxyError)
    async def _proxy_error(request: Request, exc: ProxyError) -> Response:
        return error_response(door_for(request.url.path), exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        param = param_of(first["loc"][1:], exc.body) or None
        return error_response(door_for(request.url.path), InvalidRequest(str(first["msg"]), param=param))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        if exc.status_code == 404:
            err: ProxyError = NotFound(
                f"Unknown path {request.method} {path}: toolrelay serves {', '.join(ENDPOINTS)}", param="path"
            )
        elif exc.status_code == 405:
            err = MethodNotAllowed(f"method {request.method} is not allowed on {path}")
        else:
            err = ProxyError(str(exc.detail))
            err.status = exc.status_code
            err.type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return error_response(door_for(path), err)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        err = InternalError("internal error in toolrelay; the request was not completed")
        return error_response(door_for(request.url.path), err)


def _install_schema(app: FastAPI) -> None:
    """Publish the request models in the OpenAPI document (the routes read the raw body themselves)."""

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, model in REQUEST_SCHEMAS.items():
                defs = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(defs.pop("$defs", {}))
                components[name] = defs
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-worker runs: the config path from the env.

    The server process's one app: what start-up built (modules, config, adapters, schemas) lives
    as long as the process, so it leaves the garbage collector's view (``gc.freeze``). Otherwise
    every full collection walks those ~100k objects again: with 32 requests in flight, about a
    tenth of a millisecond per request. The young generation is collected less often, too."""
    app = create_app(load_settings(os.environ.get("TOOLRELAY_CONFIG", "config/models.yaml")))
    gc.collect()  # what start-up threw away is freed now, not frozen with the rest
    gc.freeze()
    # A request allocates a few hundred containers, nearly all freed by reference counting before
    # a collection sees them; collecting every 700 allocations (the default) walked the survivors
    # of the requests in flight again and again: ~4% of a small request's instructions. Cycles
    # still go, a little later.
    gc.set_threshold(10_000, 10, 10)
    return app
