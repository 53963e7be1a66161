"""The JSON line of a record, against what logging itself says the record holds: the access line of
``RequestContext`` is the line of ``Logger.makeRecord(…, extra=fields)``; attributes that filters
or other formatters put on a record are shown, or not, as on any record; a record class may supply
the request id; a configured key is scrubbed even out of the timestamp."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from server.logs import REDACTED, JsonFormatter, RequestContext

FIELDS = {"model": "plain", "backend": "fake", "dialect": "chat", "stream": False}


def _serve_one(logger: logging.Logger, path: str = "/v1/chat/completions") -> None:
    """One request through ``RequestContext`` around an app that reports ``FIELDS``; driven by hand,
    since nothing in it waits."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"]["log_fields"] = dict(FIELDS)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"x-request-id", b"given-1")]}
    with pytest.raises(StopIteration):
        RequestContext(app, logger).__call__(scope, receive, send).send(None)


def _items(line: str) -> list[tuple[str, Any]]:
    """A line's keys and values in order, its time left out."""
    return [(k, v) for k, v in json.loads(line).items() if k != "ts"]


def test_the_access_line_is_the_line_of_make_record_with_extra(
    captured: tuple[logging.Logger, io.StringIO, JsonFormatter],
) -> None:
    logger, stream, formatter = captured
    _serve_one(logger)
    [line] = stream.getvalue().splitlines()
    fields = {**FIELDS, "method": "POST", "path": "/v1/chat/completions", "status": 201, "duration_ms": 0.0}
    fields["duration_ms"] = json.loads(line)["duration_ms"]
    record = logger.makeRecord(logger.name, logging.INFO, "", 0, "request", (), None, extra={**fields})
    record.request_id = "given-1"
    assert _items(line) == _items(formatter.format(record))
    assert [k for k, _ in _items(line)][:4] == ["level", "logger", "msg", "request_id"]


def test_quiet_paths_log_at_debug(captured: tuple[logging.Logger, io.StringIO, JsonFormatter]) -> None:
    logger, stream, _ = captured
    logger.setLevel(logging.INFO)
    _serve_one(logger, "/metrics")
    assert stream.getvalue() == ""
    logger.setLevel(logging.DEBUG)
    _serve_one(logger, "/metrics")
    assert json.loads(stream.getvalue())["level"] == "debug"


def test_what_a_filter_adds_is_shown_after_the_fields(
    captured: tuple[logging.Logger, io.StringIO, JsonFormatter],
) -> None:
    logger, stream, _ = captured

    def tag(record: logging.LogRecord) -> bool:
        record.host = "node-7"
        record.model = "rewritten"  # an existing field changed in place keeps its position
        return True

    logger.addFilter(tag)
    _serve_one(logger)
    items = _items(stream.getvalue())
    assert items[-1] == ("host", "node-7")
    assert ("model", "rewritten") in items and [k for k, _ in items].index("model") == 4


def test_attributes_another_formatter_set_are_not_shown(
    captured: tuple[logging.Logger, io.StringIO, JsonFormatter],
) -> None:
    logger, stream, formatter = captured
    record = logger.makeRecord(logger.name, logging.INFO, "", 0, "hello %s", ("you",), None, extra={"k": 1})
    logging.Formatter("%(asctime)s %(message)s").format(record)  # sets record.message and record.asctime
    record._private = "x"
    assert _items(formatter.format(record)) == [
        ("level", "info"),
        ("logger", logger.name),
        ("msg", "hello you"),
        ("k", 1),
    ]


def test_a_record_class_may_supply_the_request_id(captured: tuple[logging.Logger, io.StringIO, JsonFormatter]) -> None:
    class Traced(logging.LogRecord):
        request_id = "from-the-class"

    _, _, formatter = captured
    record = Traced("x", logging.INFO, "", 0, "m", (), None)
    assert json.loads(formatter.format(record))["request_id"] == "from-the-class"
    plain = logging.LogRecord("x", logging.INFO, "", 0, "m", (), None)
    assert "request_id" not in json.loads(formatter.format(plain))


def test_a_configured_key_is_scrubbed_out_of_the_timestamp(
    captured: tuple[logging.Logger, io.StringIO, JsonFormatter],
) -> None:
    _, _, formatter = captured
    record = logging.LogRecord("x", logging.INFO, "", 0, "m", (), None)
    record.created = 0.25
    assert json.loads(formatter.format(record))["ts"] == "1970-01-01T00:00:00.250+00:00"
    formatter.redactor.add(["T00:00:00"])
    assert json.loads(formatter.format(record))["ts"] == f"1970-01-01{REDACTED}.250+00:00"


def test_the_access_record_holds_what_make_record_gives(
    captured: tuple[logging.Logger, io.StringIO, JsonFormatter],
) -> None:
    """The record is built from a copied template, not ``LogRecord.__init__``: every attribute is
    still there, in the same order, with the same values (the clock's three aside), so any other
    handler or formatter sees an ordinary record."""
    logger, _, _ = captured
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[assignment]
    logger.handlers = [handler]
    _serve_one(logger)
    _serve_one(logger)  # the second comes from the template
    built = seen[-1]
    fields = {k: v for k, v in vars(built).items() if k not in vars(logger.makeRecord("x", 20, "", 0, "", (), None))}
    expected = logger.makeRecord(logger.name, logging.INFO, "", 0, "request", (), None, extra=fields)
    clock = {"created", "msecs", "relativeCreated"}
    assert list(vars(built)) == list(vars(expected))
    assert {k: v for k, v in vars(built).items() if k not in clock} == {
        k: v for k, v in vars(expected).items() if k not in clock
    }
    assert abs(built.created - expected.created) < 5
    assert abs(built.relativeCreated - expected.relativeCreated) < 5000
    assert 0 <= built.msecs < 1000 and built.getMessage() == "request"
