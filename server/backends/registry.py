"""Backend kinds from the config (``kind:``) → the factory that builds one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.backends.base import Backend
from server.backends.upstream import UpstreamBackend
from server.backends.vllm import VllmBackend
from server.transport import Connections

BackendFactory = Callable[[str, Any, Connections], Backend]

BACKEND_KINDS: dict[str, BackendFactory] = {
    "upstream": UpstreamBackend,
    "vllm": VllmBackend,
}
