"""Client API keys: who may call ``/v1/*``, and which models each key may use.

Keys come from the config (``auth.keys[].sha256``: the hex SHA-256 of the key, so the file
holds no secret) and from ``TOOLRELAY_API_KEYS`` (comma-separated plain keys, hashed at start-up,
allowed every model). With neither, the proxy is open. A presented key is hashed and compared
with every stored digest by ``hmac.compare_digest``, without stopping at the first match, so the
time taken says nothing about which key, or how much of one, matched.

``/health``, ``/ready`` and ``/metrics`` stay open: orchestrators and Prometheus probe them
without credentials, and they reveal no model output.

``AuthMiddleware`` is a plain ASGI middleware (no body buffering, streams untouched): it
answers a missing or wrong key with a 401 in the shape of the door the path belongs to (OpenAI's,
or Anthropic's on ``/v1/messages``) before the body is read, and puts the matching key into
``scope["state"]`` for ``check_model``, which the pipeline calls once it knows the model. The key
comes as ``Authorization: Bearer KEY`` or, as the Anthropic SDKs and Claude Code send it,
``x-api-key: KEY`` (that one wins when both are sent).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request

from server.config import AuthConfig
from server.errors import AuthenticationFailed, PermissionDenied, ProxyError

ENV_KEYS = "TOOLRELAY_API_KEYS"
PROTECTED_PREFIX = "/v1/"
_STATE_KEY = "toolrelay_client"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[str, ProxyError], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ClientKey:
    digest: bytes
    name: str
    models: frozenset[str] | None  # None: every model


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class KeyRing:
    def __init__(self, keys: Iterable[ClientKey]) -> None:
        self.keys = tuple(keys)

    @classmethod
    def from_config(cls, auth: AuthConfig | None, env: Mapping[str, str]) -> KeyRing | None:
        """``None`` when no key is configured anywhere: the proxy is open."""
        keys = [
            ClientKey(bytes.fromhex(k.sha256), k.name, None if k.models is None else frozenset(k.models))
            for k in (auth.keys if auth is not None else [])
        ]
        plain = [k.strip() for k in env.get(ENV_KEYS, "").split(",") if k.strip()]
        keys += [ClientKey(digest(k), f"env-{i}", None) for i, k in enumerate(plain)]
        return cls(keys) if keys else None

    def identify(self, authorization: str | None, api_key: str | None = None) -> ClientKey:
        """The key presented as ``x-api-key: <key>`` or ``Authorization: Bearer <key>``, or
        ``AuthenticationFailed``."""
        if api_key is not None and api_key.strip():
            presented = api_key
        elif not authorization:
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY' or 'x-api-key: YOUR_KEY'."
            )
        else:
            scheme, _, presented = authorization.partition(" ")
            if scheme.lower() != "bearer" or not presented.strip():
                raise AuthenticationFailed("The Authorization header must be 'Bearer YOUR_KEY'.")
        wanted = digest(presented.strip())
        found: ClientKey | None = None
        for key in self.keys:  # no early exit: every request costs the same comparisons
            if hmac.compare_digest(key.digest, wanted) and found is None:
                found = key
        if found is None:
            # Never echo the presented key, not even masked: it may be another service's secret.
            raise AuthenticationFailed("Incorrect API key provided.")
        return found

    def check_model(self, request: Request, model: str) -> None:
        """Called by the chat route once the model is known: 403 for a model this key may not use."""
        key: ClientKey | None = request.scope.get("state", {}).get(_STATE_KEY)
        if key is not None and key.models is not None and model not in key.models:
            raise PermissionDenied(f"This API key may not use the model {model!r}.", param="model")


def client_name(request: Request) -> str | None:
    """Which client key made the request (its digest, hex), None without client keys: what the
    Responses door's store records as a response's owner."""
    key: ClientKey | None = request.scope.get("state", {}).get(_STATE_KEY)
    return key.digest.hex() if key is not None else None


class AuthMiddleware:
    """Plain ASGI: guards ``/v1/*`` with a ``KeyRing``; everything else passes untouched."""

    def __init__(self, app: ASGIApp, keyring: KeyRing, error_body: ErrorBody = lambda _path, err: err.body()) -> None:
        self.app = app
        self.keyring = keyring
        self.error_body = error_body  # (path, error) → the body in that door's shape

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            key = self.keyring.identify(_header(scope, b"authorization"), _header(scope, b"x-api-key"))
        except ProxyError as err:
            await _reject(send, err, self.error_body(str(scope.get("path", "")), err))
            return
        scope.setdefault("state", {})[_STATE_KEY] = key
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return None


async def _reject(send: Send, err: ProxyError, error_body: dict[str, Any]) -> None:
    body = orjson.dumps(error_body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if err.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="toolrelay"'))
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
