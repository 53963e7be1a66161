"""Structured logs: one JSON object per line, the request id on every line, secrets never.

- ``RequestContext`` (ASGI middleware) gives every HTTP request an id, taken from the client's
  ``x-request-id`` when it is well-formed or generated, returns it in the ``x-request-id``
  response header, exposes it as ``request.state.request_id``, and logs one access line.
- ``JsonFormatter`` renders records as JSON; ``uvicorn_log_config`` makes uvicorn's own lines
  (start-up, errors) go through it too, in every worker.
- Secrets are scrubbed from every string before it is written: bearer tokens, ``sk-…`` keys,
  ``api_key=…``-style pairs, and the exact key values of the loaded config (``protect``).
- Message contents (``messages``, ``content``, ``arguments``, …) passed as ``extra`` fields are
  dropped unless ``debug_log_contents: true`` is set in the config.
"""

from __future__ import annotations

import logging
import random
import re
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from server.config import Settings

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_BYTES = REQUEST_ID_HEADER.encode()
LOGGER = "toolrelay"
REDACTED = "[redacted]"

# The id of the request being served, for log lines written deep inside handlers. A ContextVar
# is per request (per asyncio task context), not shared state between requests.
_request_id: ContextVar[str | None] = ContextVar("toolrelay_request_id", default=None)

# A client's id is echoed into headers and logs: keep it short and free of anything a log
# viewer or a header could misread.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")

# Fields that carry what users and models said: logged only with the debug switch.
CONTENT_FIELDS = frozenset(
    {"messages", "content", "prompt", "completion", "arguments", "tools", "body", "text", "response"}
)

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), "sk-" + REDACTED),
    (
        re.compile(
            r"(?i)\b(api[_-]?key|x-api-key|authorization|access[_-]?token|secret|password)"
            r"([\"']?\s*[:=]\s*[\"']?)(?!(?:bearer|basic)\s)([^\s\"',;&}]+)"
        ),
        r"\1\2" + REDACTED,
    ),
)

# A string can match a pattern above only if it contains one of these (lower-cased).
_TRIGGERS = ("bearer", "basic", "sk-", "key", "authorization", "token", "secret", "password")
_ANY_TRIGGER = re.compile("|".join(map(re.escape, _TRIGGERS)))  # one scan instead of one per word

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_KEYS = list(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
_RECORD_ATTRS = frozenset(_RECORD_KEYS) | {"message", "asctime"}
# Attributes a JSON line never shows (besides names starting with "_"), without and with the
# debug switch for message contents.
_HIDDEN = _RECORD_ATTRS | CONTENT_FIELDS | {"color_message"}
_HIDDEN_DEBUG = _RECORD_ATTRS | {"color_message"}

# The end of an ISO 8601 UTC time, for each millisecond.
_MILLIS = tuple(f".{ms:03d}+00:00" for ms in range(1000))


def current_request_id() -> str | None:
    return _request_id.get()


def new_request_id() -> str:
    # 96 random bits, not secret ones: an id names a request in logs and headers and grants nothing
    # (``secrets`` would cost a system call per request)
    return f"req_{random.getrandbits(96):024x}"


def accept_request_id(value: str | None) -> str:
    """The client's id when it is well-formed, else a fresh one."""
    if value is not None and _VALID_ID.match(value):
        return value
    return new_request_id()


class Redactor:
    """Scrubs secret-looking substrings and exact known secrets from text."""

    # Most strings of a log line recur on every request (level, logger, path, model and backend
    # names): short ones found clean are remembered, up to this many, instead of scanned again.
    # Only clean ones: a string holding a secret is never kept.
    REMEMBERED = 4096
    SHORT = 200

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._known: tuple[str, ...] = ()
        self._clean: set[str] = set()
        self.add(known)

    def add(self, known: Iterable[str]) -> None:
        # Short values would blank out ordinary words; real keys are long.
        extra = {k for k in known if len(k) >= 8}
        self._known = tuple(sorted(set(self._known) | extra, key=len, reverse=True))
        self._clean.clear()  # found clean without knowing the new secrets

    def text(self, value: str) -> str:
        if value in self._clean:
            return value
        scrubbed = self._scrub(value)
        if scrubbed == value and len(value) <= self.SHORT:
            if len(self._clean) >= self.REMEMBERED:
                self._clean.clear()
            self._clean.add(value)
        return scrubbed

    def _scrub(self, value: str) -> str:
        for known in self._known:
            if known in value:
                value = value.replace(known, REDACTED)
        # Most strings (paths, model names, statuses) hold no trigger word: skip the regexes.
        if _ANY_TRIGGER.search(value.lower()):
            for pattern, replacement in _SECRET_PATTERNS:
                value = pattern.sub(replacement, value)
        return value

    def stamp(self, value: str) -> str:
        """``text`` of a timestamp (digits and ``-:T.+``): no trigger word can be in one, so only
        the configured key values need looking for."""
        for known in self._known:
            if known in value:
                return self.text(value)
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return self.fields(value)
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(str(value))

    def fields(self, entry: dict[Any, Any]) -> dict[str, Any]:
        """``value`` of a dict, with its flat members (the whole of an access line) handled inline."""
        out: dict[str, Any] = {}
        clean = self._clean
        for key, item in entry.items():
            kind = type(item)
            if kind is str:
                out[str(key)] = item if item in clean else self.text(item)
            elif kind is int or kind is float or kind is bool or item is None:
                out[str(key)] = item
            else:
                out[str(key)] = self.value(item)
        return out


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id"?, …extra, "exc"?}``, one line per record."""

    def __init__(self, *args: Any, include_contents: bool = False, **kwargs: Any) -> None:
        # logging.config passes format/datefmt/style; a JSON line has no use for them.
        super().__init__()
        # A JSON line never shows thread or process names: spare every record their lookups.
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
        if sys.version_info >= (3, 12):
            logging.logAsyncioTasks = False
        self.include_contents = include_contents
        self.redactor = Redactor()
        self._second = -1
        self._second_text = ""

    def _timestamp(self, created: float) -> str:
        """``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")``, with the
        part up to the second formatted once per second rather than once per line."""
        seconds = int(created)
        micros = round((created - seconds) * 1e6)  # rounded as ``datetime.fromtimestamp`` rounds
        if micros >= 1_000_000:
            seconds, micros = seconds + 1, micros - 1_000_000
        if seconds != self._second:
            self._second = seconds
            self._second_text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return self._second_text + _MILLIS[micros // 1000]

    def format(self, record: logging.LogRecord) -> str:
        # Every log line passes here, one access line per request: the entry is built redacted in
        # one pass (``Redactor.fields`` inlined), and only the ``extra`` fields are looked for.
        redactor = self.redactor
        clean = redactor._clean
        attrs = record.__dict__
        entry: dict[str, Any] = {"ts": redactor.stamp(self._timestamp(record.created))}
        for key, text in (("level", record.levelname.lower()), ("logger", record.name), ("msg", record.getMessage())):
            entry[key] = text if text in clean else redactor.text(text)
        if type(record) is logging.LogRecord:  # no class attribute to find: spare getattr its miss
            request_id = attrs.get("request_id") or _request_id.get()
        else:
            request_id = getattr(record, "request_id", None) or _request_id.get()
        if request_id:
            entry["request_id"] = redactor.value(request_id)
        keys = list(attrs)
        # A LogRecord's own attributes come first, in the order its __init__ sets them; when they
        # are all there, only what follows them can be an ``extra`` field.
        n = len(_RECORD_KEYS)
        hidden = _HIDDEN_DEBUG if self.include_contents else _HIDDEN
        for key in keys[n:] if keys[:n] == _RECORD_KEYS else keys:
            if key in hidden or key in entry or key.startswith("_"):
                continue
            value = attrs[key]
            kind = type(value)
            if kind is str and value in clean or kind is int or kind is float or kind is bool or value is None:
                entry[key] = value
            else:
                entry[key] = redactor.value(value)
        if record.exc_info:
            entry["exc"] = redactor.value(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = redactor.value(record.exc_text)
        return orjson.dumps(entry, default=str).decode()


def json_formatters() -> list[JsonFormatter]:
    """The JsonFormatters attached to the handlers of the root, ``toolrelay`` and uvicorn loggers."""
    found: list[JsonFormatter] = []
    for name in ("", LOGGER, "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler.formatter, JsonFormatter) and handler.formatter not in found:
                found.append(handler.formatter)
    return found


def config_secrets(settings: Settings) -> list[str]:
    """Every value of the config that may be a credential: backend keys and extra header values."""
    found: list[str] = []
    for backend in settings.backends.values():
        if backend.api_key:
            found.append(backend.api_key)
        found.extend(getattr(backend, "headers", {}).values())
    return found


def protect(known_secrets: Iterable[str], *, include_contents: bool = False) -> None:
    """Once the config is loaded (``create_app``): teach every JSON formatter the configured key
    values, and whether message contents may be logged. Logging is process-wide by nature, so
    this configures the process's handlers rather than the app."""
    known = list(known_secrets)
    for formatter in json_formatters():
        formatter.redactor.add(known)
        formatter.include_contents = include_contents


def uvicorn_log_config(level: str = "info") -> dict[str, Any]:
    """``uvicorn.run(log_config=…)``: uvicorn applies it in every worker process."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "server.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # Propagate to the root handler: one handler, one formatter, one place to protect().
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
            # httpx logs every request at INFO, replica health probes included: toolrelay's own
            # access line already says what a request did.
            "httpx": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }


class RequestContext:
    """Pure ASGI middleware (streaming responses pass through untouched): request id in, request
    id out, one access line per request. Health checks and scrapes log at debug level."""

    QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})

    def __init__(self, app: ASGIApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.log = logger or logging.getLogger(f"{LOGGER}.access")
        # per level: a record's attributes as makeRecord sets them, and the instant logging started
        # (what ``relativeCreated`` counts from)
        self._templates: dict[int, tuple[dict[str, Any], float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_id = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                client_id = value.decode("latin-1")
                break
        request_id = accept_request_id(client_id)
        scope.setdefault("state", {})["request_id"] = request_id
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before sending a response head

        id_header = (_REQUEST_ID_BYTES, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # set, not added: a handler's own x-request-id gives way (MutableHeaders' ``[]=``, cheaper)
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _REQUEST_ID_BYTES]
                headers.append(id_header)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("path", "")
            # The path only: a query string could carry a key (?api_key=…).
            fields: dict[str, Any] = {
                "method": scope.get("method"),
                "path": path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            # Handlers add what they learned (model, backend…) as request.state.log_fields.
            extra = scope["state"].get("log_fields")
            if isinstance(extra, dict):
                fields = {**extra, **fields}
            level = logging.DEBUG if path in self.QUIET_PATHS else logging.INFO
            if self.log.isEnabledFor(level):
                self.log.handle(self._record(level, fields))
            _request_id.reset(token)

    def _record(self, level: int, fields: dict[str, Any]) -> logging.LogRecord:
        """``makeRecord(…, extra=fields)``. Built directly: ``Logger.log`` would walk the stack for
        the caller's file and line, which the JSON line never shows; ``fields`` go in at once rather
        than checked one by one; and the record's constant attributes are copied from one built at
        the first request (a LogRecord's ``__init__`` was a sixth of the access line's cost)."""
        if logging.getLogRecordFactory() is not logging.LogRecord or not fields.keys().isdisjoint(_RECORD_ATTRS):
            # a custom record factory, or makeRecord's own error for a field that would overwrite
            # an attribute of the record: the standard way
            return self.log.makeRecord(self.log.name, level, "", 0, "request", (), None, extra=fields)
        found = self._templates.get(level)
        if found is None:
            template = vars(self.log.makeRecord(self.log.name, level, "", 0, "request", (), None))
            found = self._templates[level] = (template, template["created"] - template["relativeCreated"] / 1000)
        template, started = found
        record = logging.LogRecord.__new__(logging.LogRecord)  # no __init__: the template has it all
        attrs = record.__dict__
        attrs.update(template)
        created = time.time()
        attrs["created"] = created
        attrs["msecs"] = int((created - int(created)) * 1000) + 0.0
        attrs["relativeCreated"] = (created - started) * 1000
        attrs.update(fields)
        return record
