"""What one running app holds: built by ``create_app``, reached through ``request.app.state``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from server.backends.base import Backend
from server.config import Settings
from server.dispatch import Dispatcher
from server.metrics import Metrics
from server.routing import Router
from server.transport import Connections

if TYPE_CHECKING:
    from server.dialects.responses.store import ResponseStore


def open_access(request: Request, model: str) -> None:
    """Without client keys every model is open to every caller."""


@dataclass(slots=True)
class AppState:
    settings: Settings
    router: Router
    metrics: Metrics
    connections: Connections
    backends: dict[str, Backend]
    dispatcher: Dispatcher
    started_at: float
    loop: asyncio.AbstractEventLoop  # the loop the app runs on, for what would look it up per request
    # 403 for a model the caller's key may not use (``KeyRing.check_model``)
    check_access: Callable[[Request, str], None] = open_access
    # stored responses of the Responses door (None: ``responses.store.enabled: false``)
    response_store: ResponseStore | None = None
