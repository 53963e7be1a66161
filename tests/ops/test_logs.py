"""Structured logs. In process: the formatter, the redactor and the request-id middleware under a
real uvicorn. End to end: toolrelay started as users start it writes only JSON lines, each access
line carries the request id the client sees in ``x-request-id``, and neither the client's key nor
the upstream key nor message contents appear anywhere, even when the upstream echoes its key."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from server.config import parse_settings
from server.logs import (
    REDACTED,
    JsonFormatter,
    Redactor,
    RequestContext,
    config_secrets,
    current_request_id,
)
from tests.fakes.fake_upstream import FakeUpstream
from tests.ops.harness import CLIENT_KEY, UPSTREAM_KEY, closed_port_url, toolrelay, weather_request, write_config
from tests.servers import serve_app

GENERATED = re.compile(r"^req_[0-9a-f]{24}$")
MARKER = "CONTENT-MARKER-5b1f"


# ------------------------------------------------------------------ formatter and redaction


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_is_one_json_line_with_its_extras(
    captured: tuple[logging.Logger, io.StringIO, JsonFormatter],
) -> None:
    logger, stream, _ = captured
    logger.warning("backend %s slow", "local", extra={"backend": "local", "ms": 812.5})
    [entry] = lines(stream)
    assert entry["msg"] == "backend local slow"
    assert entry["level"] == "warning" and entry["logger"] == "toolrelay.test-logs"
    assert entry["backend"] == "local" and entry["ms"] == 812.5
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", entry["ts"])


def test_message_contents_only_with_the_debug_switch(
    captured: tuple[logging.Logger, io.StringIO, JsonFormatter],
) -> None:
    logger, stream, formatter = captured
    messages = [{"role": "user", "content": MARKER}]
    logger.info("chat", extra={"messages": messages, "arguments": MARKER, "model": "m"})
    formatter.include_contents = True
    logger.info("chat", extra={"messages": messages})
    quiet, loud = lines(stream)
    assert quiet == {k: quiet[k] for k in ("ts", "level", "logger", "msg", "model")}
    assert loud["messages"] == messages


def test_secrets_are_scrubbed_everywhere_in_a_record(
    captured: tuple[logging.Logger, io.StringIO, JsonFormatter],
) -> None:
    logger, stream, formatter = captured
    plain_key = "9f86d081884c7d659a2feaa0c55ad015"  # no recognisable prefix: only the exact value catches it
    formatter.redactor.add([plain_key])
    try:
        raise RuntimeError(f"upstream said: Incorrect API key provided: {plain_key}")
    except RuntimeError:
        logger.exception(
            "call failed with Authorization: Bearer %s",
            CLIENT_KEY,
            extra={"headers": {"authorization": f"Bearer {UPSTREAM_KEY}"}, "url": "https://x/v1?api_key=abc123def"},
        )
    text = stream.getvalue()
    for secret in (plain_key, CLIENT_KEY, UPSTREAM_KEY, "abc123def"):
        assert secret not in text
    [entry] = lines(stream)
    assert REDACTED in entry["msg"] and REDACTED in entry["exc"]
    assert entry["headers"]["authorization"] == f"Bearer {REDACTED}"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Authorization: Bearer abc.def-ghi", f"Authorization: Bearer {REDACTED}"),
        ('{"api_key": "hunter2hunter2"}', f'{{"api_key": "{REDACTED}"}}'),
        ("key sk-proj-AbC123xyz_-9 used", f"key sk-{REDACTED} used"),
        ("x-api-key=QWERTYUIOP;", f"x-api-key={REDACTED};"),
        ("the model said nothing secret", "the model said nothing secret"),
    ],
)
def test_redactor_patterns(raw: str, clean: str) -> None:
    assert Redactor().text(raw) == clean


def test_redactor_remembers_only_clean_strings_and_forgets_them_on_new_secrets() -> None:
    redactor = Redactor()
    assert redactor.text("tenant-7f3a9c2e1b") == "tenant-7f3a9c2e1b"  # clean: remembered
    assert redactor.text("Bearer abc.def") == f"Bearer {REDACTED}"
    assert redactor.text("Bearer abc.def") == f"Bearer {REDACTED}"  # never remembered as clean
    redactor.add(["7f3a9c2e1b"])  # learned later (protect() at start-up)
    assert redactor.text("tenant-7f3a9c2e1b") == f"tenant-{REDACTED}"


def test_config_secrets_are_the_keys_and_header_values() -> None:
    settings = parse_settings(
        {
            "backends": {
                "a": {
                    "kind": "upstream",
                    "base_url": "https://a.example/v1",
                    "api_key": "key-a-1234567890",
                    "headers": {"x-team-token": "team-token-123456"},
                },
                "b": {"kind": "upstream", "base_url": "https://b.example/v1"},
            },
            "models": {"m": {"backend": "a"}},
        }
    )
    assert sorted(config_secrets(settings)) == ["key-a-1234567890", "team-token-123456"]


# ------------------------------------------------------------------ middleware under uvicorn


async def _echo_id(request: Request) -> JSONResponse:
    return JSONResponse({"state": request.state.request_id, "context": current_request_id()})


async def _stream(request: Request) -> StreamingResponse:
    async def body() -> Any:
        for i in range(3):
            yield f"{i}:{current_request_id()}\n"

    return StreamingResponse(body(), media_type="text/plain")


async def _boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


@pytest.fixture(scope="module")
def middleware_app() -> Iterator[tuple[str, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("toolrelay.test-access")
    access.handlers, access.propagate = [handler], False
    access.setLevel(logging.DEBUG)
    app = Starlette(routes=[Route("/id", _echo_id), Route("/stream", _stream), Route("/boom", _boom)])
    with serve_app(RequestContext(app, logger=access)) as url:
        yield url, stream
    access.handlers = []


def test_client_id_is_kept_and_returned(middleware_app: tuple[str, io.StringIO]) -> None:
    url, _ = middleware_app
    r = httpx.get(f"{url}/id", headers={"x-request-id": "trace-42.a:b"})
    assert r.headers["x-request-id"] == "trace-42.a:b"
    assert r.json() == {"state": "trace-42.a:b", "context": "trace-42.a:b"}


@pytest.mark.parametrize("bad", [None, "", "has space", "x" * 129, "tab\tinside", "ünïcode"])
def test_missing_or_malformed_id_is_replaced(middleware_app: tuple[str, io.StringIO], bad: str | None) -> None:
    url, _ = middleware_app
    headers = {} if bad is None else {b"x-request-id": bad.encode("utf-8")}
    r = httpx.get(f"{url}/id", headers=headers)
    rid = r.headers["x-request-id"]
    assert GENERATED.match(rid)
    assert r.json() == {"state": rid, "context": rid}


def test_streamed_body_and_errors_carry_the_id(middleware_app: tuple[str, io.StringIO]) -> None:
    url, stream = middleware_app
    r = httpx.get(f"{url}/stream", headers={"x-request-id": "stream-1"})
    assert r.headers["x-request-id"] == "stream-1"
    assert r.text == "0:stream-1\n1:stream-1\n2:stream-1\n"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/boom", headers={"x-request-id": "boom-1"}).raise_for_status()
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_id = {e["request_id"]: e for e in entries if e["msg"] == "request"}
    assert by_id["stream-1"]["status"] == 200 and by_id["stream-1"]["path"] == "/stream"
    assert by_id["boom-1"]["status"] == 500


def test_ids_do_not_leak_between_concurrent_requests(middleware_app: tuple[str, io.StringIO]) -> None:
    import asyncio

    url, _ = middleware_app

    async def run() -> None:
        async with httpx.AsyncClient(base_url=url) as c:
            ids = [f"conc-{i}" for i in range(40)]
            responses = await asyncio.gather(*(c.get("/stream", headers={"x-request-id": i}) for i in ids))
        for rid, r in zip(ids, responses, strict=True):
            assert set(r.text.split()) == {f"{n}:{rid}" for n in range(3)}

    asyncio.run(run())


# ------------------------------------------------------------------ end to end: python -m server


@pytest.fixture(scope="module")
def relay_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("logs")
    log = tmp / "toolrelay.log"
    seen: dict[str, str] = {}
    upstream = FakeUpstream()
    with serve_app(upstream.app) as upstream_url:
        config = write_config(tmp / "config.yaml", upstream_url, closed_port_url())
        with toolrelay(config, log) as relay, httpx.Client(base_url=relay, timeout=30) as c:
            auth = {"authorization": f"Bearer {CLIENT_KEY}"}
            body = weather_request("plain")
            body["messages"][0]["content"] += " " + MARKER
            r = c.post("/v1/chat/completions", json=body, headers={**auth, "x-request-id": "ops-given-1"})
            assert r.status_code == 200 and r.headers["x-request-id"] == "ops-given-1"
            r = c.post("/v1/chat/completions", json=weather_request("plain", stream=True), headers=auth)
            seen["generated"] = r.headers["x-request-id"]
            r = c.post("/v1/chat/completions", json=weather_request("echo-key"), headers=auth)
            assert r.status_code == 401
            seen["echo"] = r.headers["x-request-id"]
            r = c.post(f"/v1/chat/completions?api_key={CLIENT_KEY}", json=weather_request("nope"), headers=auth)
            assert r.status_code == 404
            seen["unknown"] = r.headers["x-request-id"]
    yield log, seen


def test_server_log_is_json_lines_with_request_ids(relay_log: tuple[Path, dict[str, str]]) -> None:
    log, seen = relay_log
    raw = [line for line in log.read_text().splitlines() if line.strip()]
    assert raw, "toolrelay wrote no log lines"
    entries = [json.loads(line) for line in raw]  # every line, uvicorn's start-up lines included
    assert all({"ts", "level", "logger", "msg"} <= set(e) for e in entries)
    access = {e["request_id"]: e for e in entries if e["msg"] == "request" and "request_id" in e}
    assert access["ops-given-1"]["status"] == 200 and access["ops-given-1"]["path"] == "/v1/chat/completions"
    assert GENERATED.match(seen["generated"]) and access[seen["generated"]]["status"] == 200
    assert access[seen["echo"]]["status"] == 401
    assert access[seen["unknown"]]["status"] == 404


def test_server_log_holds_no_keys_and_no_contents(relay_log: tuple[Path, dict[str, str]]) -> None:
    text = relay_log[0].read_text()
    assert CLIENT_KEY not in text
    assert UPSTREAM_KEY not in text
    assert MARKER not in text
    assert "api_key=" not in text  # the query string is never logged
