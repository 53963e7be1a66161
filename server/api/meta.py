"""``/v1/models``, ``/health`` (liveness), ``/ready`` (config loaded, backends reachable), ``/metrics``."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from server.errors import ModelNotFound
from server.state import AppState

router = APIRouter()


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.toolrelay
    return state


def _model_card(name: str, created: int) -> dict[str, object]:
    return {"id": name, "object": "model", "created": created, "owned_by": "toolrelay"}


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, object]:
    created = int(_state(request).started_at)
    return {"object": "list", "data": [_model_card(n, created) for n in _state(request).router.names()]}


@router.get("/v1/models/{model:path}")
async def get_model(model: str, request: Request) -> dict[str, object]:
    if model not in _state(request).router:
        raise ModelNotFound(f"The model {model!r} does not exist or is not served by this proxy", param="model")
    return _model_card(model, int(_state(request).started_at))


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", response_model=None)
async def ready(request: Request) -> JSONResponse:
    state = _state(request)
    names = list(state.backends)
    results = await asyncio.gather(*(state.backends[n].ready() for n in names), return_exceptions=True)
    backends = {n: (r is True) for n, r in zip(names, results, strict=True)}
    ok = all(backends.values())
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "backends": backends, "checked_at": int(time.time())},
        status_code=200 if ok else 503,
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    body, content_type = _state(request).metrics.render()
    return Response(body, media_type=content_type)
