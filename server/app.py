"""``create_app(settings)``: the FastAPI app with its state, routes and the one error renderer."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from server import wire
from server.api import chat, meta
from server.auth import AuthMiddleware, KeyRing
from server.backends.base import Backend
from server.backends.registry import BACKEND_KINDS
from server.config import Settings, load_settings
from server.dispatch import Dispatcher
from server.errors import InternalError, InvalidRequest, MethodNotAllowed, NotFound, ProxyError
from server.logs import RequestContext, config_secrets, protect
from server.metrics import Metrics
from server.routing import Router
from server.state import AppState
from server.transport import PooledTransport

log = logging.getLogger("toolrelay")


def error_response(err: ProxyError) -> Response:
    return Response(
        orjson.dumps(err.body()), status_code=err.status, media_type="application/json", headers=err.headers
    )


def _shared_client() -> httpx.AsyncClient:
    """One pooled client for every backend; per-request timeouts come from each backend's config.

    The transport is aiohttp's pool behind httpx's API (``server.transport``).
    """
    limits = httpx.Limits(max_connections=2048, max_keepalive_connections=512, keepalive_expiry=30)
    transport = PooledTransport(limits)
    return httpx.AsyncClient(
        transport=transport, limits=limits, timeout=httpx.Timeout(60.0), follow_redirects=False, trust_env=False
    )


def create_app(settings: Settings, *, registry: CollectorRegistry | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = _shared_client()
        backends: dict[str, Backend] = {
            name: BACKEND_KINDS[cfg.kind](name, cfg, client) for name, cfg in settings.backends.items()
        }
        metrics = Metrics.from_settings(settings, registry)
        app.state.toolrelay = AppState(
            settings=settings,
            router=Router(settings),
            metrics=metrics,
            client=client,
            backends=backends,
            dispatcher=Dispatcher(backends, metrics, settings.backends, settings.limits.max_in_flight),
        )
        try:
            yield
        finally:
            for backend in backends.values():
                await backend.aclose()
            await client.aclose()
            metrics.close()

    app = FastAPI(title="toolrelay", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.started_at = time.time()
    app.include_router(chat.router)
    app.include_router(meta.router)
    _install_error_handlers(app)
    _install_schema(app)
    keyring = KeyRing.from_config(settings.auth, os.environ)
    if keyring is not None:
        app.add_middleware(AuthMiddleware, keyring=keyring)
        app.state.check_access = keyring.check_model
    protect(config_secrets(settings), include_contents=settings.debug_log_contents)
    # Outermost (added last): auth rejections get a request id and an access line too.
    app.add_middleware(RequestContext)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProxyError)
    async def _proxy_error(_: Request, exc: ProxyError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        param = ".".join(str(p) for p in first["loc"][1:]) or None
        return error_response(InvalidRequest(str(first["msg"]), param=param))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(NotFound("Unknown path: see /v1/chat/completions and /v1/models"))
        if exc.status_code == 405:
            return error_response(MethodNotAllowed("method not allowed on this path"))
        err = ProxyError(str(exc.detail))
        err.status = exc.status_code
        err.type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return error_response(err)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(InternalError("internal error in toolrelay; the request was not completed"))


def _install_schema(app: FastAPI) -> None:
    """Publish the request model in the OpenAPI document (the route reads the raw body itself)."""

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            defs = wire.ChatRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(defs.pop("$defs", {}))
            components["ChatRequest"] = defs
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-worker runs: the config path from the env."""
    return create_app(load_settings(os.environ.get("TOOLRELAY_CONFIG", "config/models.yaml")))
