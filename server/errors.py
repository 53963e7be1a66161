"""The error tree: every failure the client can see, with its HTTP status and OpenAI ``type``.

Foreign exceptions (httpx, json, pydantic) are translated into these where they enter; one
handler in ``server.app`` renders them as ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ProxyError(Exception):
    status: int = 500
    type: str = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(ProxyError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(ProxyError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(ProxyError):
    status = 403
    type = "permission_error"
    default_code = "model_not_allowed"


class ModelNotFound(ProxyError):
    status = 404
    type = "invalid_request_error"
    default_code = "model_not_found"


class NotFound(ProxyError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class MethodNotAllowed(ProxyError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


class PayloadTooLarge(ProxyError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(ProxyError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamError(ProxyError):
    """An error answer from a backend, passed through with its own status, type and message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, headers=headers)
        self.status = status
        self.type = type or ("server_error" if status >= 500 else "invalid_request_error")


class BadGateway(ProxyError):
    """The backend could not be reached, or answered with something that is not the protocol."""

    status = 502
    type = "upstream_error"
    default_code = "bad_gateway"


class ServiceUnavailable(ProxyError):
    status = 503
    type = "server_error"
    default_code = "service_unavailable"


class GatewayTimeout(ProxyError):
    status = 504
    type = "timeout"
    default_code = "upstream_timeout"


class InternalError(ProxyError):
    status = 500
    type = "server_error"
    default_code = "internal_error"
