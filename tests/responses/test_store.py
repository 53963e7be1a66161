"""The response store: bounded SQLite, secrets scrubbed before anything is written, a response
visible only to the client key that made it, and the store switched off."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.config import parse_settings
from server.dialects.responses.store import PRUNE_EVERY, Record, ResponseStore, SqliteKV
from tests.fakes.fake_upstream import FakeUpstream
from tests.fakes.fake_vllm import FakeVllm
from tests.responses.conftest import UPSTREAM_KEY, WEATHER_TOOL, settings
from tests.servers import serve_app


def _record(n: int, created: float, owner: str | None = None, text: str = "hi") -> Record:
    return Record(f"resp_{n}", created, owner, {"id": f"resp_{n}", "output": []}, [{"type": "message", "text": text}])


def test_sqlite_is_bounded_by_count_and_age(tmp_path: Path) -> None:
    async def run() -> None:
        kv = SqliteKV(tmp_path / "s.sqlite3", retention=100.0, max_items=5)
        store = ResponseStore(kv, retention=100.0)
        now = time.time()
        await store.put(_record(0, now - 500))  # already past its retention
        assert await store.get("resp_0", None) is None
        for n in range(1, PRUNE_EVERY):
            await store.put(_record(n, now + n))
        rows = (
            sqlite3.connect(tmp_path / "s.sqlite3").execute("SELECT id FROM responses ORDER BY created_at").fetchall()
        )
        assert [r[0] for r in rows] == [f"resp_{n}" for n in range(PRUNE_EVERY - 5, PRUNE_EVERY)]
        assert (await store.get(f"resp_{PRUNE_EVERY - 1}", None)) is not None
        await store.aclose()

    asyncio.run(run())


def test_secrets_are_scrubbed_and_owners_kept_apart(tmp_path: Path) -> None:
    async def run() -> None:
        kv = SqliteKV(tmp_path / "s.sqlite3", retention=100.0, max_items=5)
        store = ResponseStore(kv, retention=100.0, secrets=["configured-secret-value"])
        text = "my key is sk-live1234567890abcdef and configured-secret-value, Authorization: Bearer tok_abcdef"
        await store.put(_record(1, time.time(), owner="a", text=text))
        raw = sqlite3.connect(tmp_path / "s.sqlite3").execute("SELECT body FROM responses").fetchone()[0]
        for secret in (b"sk-live1234567890abcdef", b"configured-secret-value", b"tok_abcdef"):
            assert secret not in raw
        got = await store.get("resp_1", "a")
        assert got is not None and "[redacted]" in got.input[0]["text"]
        assert await store.get("resp_1", "b") is None and await store.get("resp_1", None) is None
        assert not await store.delete("resp_1", "b")
        assert await store.delete("resp_1", "a")
        await store.aclose()

    asyncio.run(run())


KEY_A, KEY_B = "client-key-alpha-000", "client-key-beta-0000"


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[str, str, FakeUpstream]]:
    upstream, vllm = FakeUpstream(), FakeVllm()
    with serve_app(upstream.app) as u, serve_app(vllm.app) as v:
        yield u, v, upstream


def _relay(fakes: tuple[str, str, FakeUpstream], store: dict[str, Any], **extra: Any) -> Any:
    config = {**settings(fakes[0], fakes[1], store), **extra}
    return serve_app(create_app(parse_settings(config)))


def test_a_response_belongs_to_its_key(fakes: tuple[str, str, FakeUpstream], tmp_path: Path) -> None:
    keys = [{"sha256": hashlib.sha256(k.encode()).hexdigest(), "name": "client"} for k in (KEY_A, KEY_B)]
    with _relay(fakes, {"url": f"sqlite:///{tmp_path / 's.sqlite3'}"}, auth={"keys": keys}) as url:
        a = httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY_A}"}, timeout=30)
        b = httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY_B}"}, timeout=30)
        with a, b:
            first = a.post("/v1/responses", json={"model": "hosted", "input": f"say {UPSTREAM_KEY}"}).json()
            assert UPSTREAM_KEY not in a.get(f"/v1/responses/{first['id']}").text  # the configured key is scrubbed
            assert b.get(f"/v1/responses/{first['id']}").status_code == 404
            assert b.get(f"/v1/responses/{first['id']}/input_items").status_code == 404
            assert b.delete(f"/v1/responses/{first['id']}").status_code == 404
            r = b.post("/v1/responses", json={"model": "hosted", "input": "more", "previous_response_id": first["id"]})
            assert r.status_code == 400 and r.json()["error"]["code"] == "previous_response_not_found"
            r = a.post("/v1/responses", json={"model": "hosted", "input": "more", "previous_response_id": first["id"]})
            assert r.status_code == 200
            assert a.delete(f"/v1/responses/{first['id']}").json() == {
                "id": first["id"],
                "object": "response.deleted",
                "deleted": True,
            }


def test_store_off(fakes: tuple[str, str, FakeUpstream]) -> None:
    with _relay(fakes, {"enabled": False}) as url, httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/v1/responses", json={"model": "hosted", "input": "hi", "tools": [WEATHER_TOOL]})
        assert r.status_code == 200 and r.json()["store"] is False
        rid = r.json()["id"]
        r = http.post("/v1/responses", json={"model": "hosted", "input": "more", "previous_response_id": rid})
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["param"] == "previous_response_id" and "store" in err["message"] and "off" in err["message"]
        r = http.get(f"/v1/responses/{rid}")
        assert r.status_code == 404 and "off" in r.json()["error"]["message"]


def test_a_failing_store_costs_the_continuation_not_the_answer(fakes: tuple[str, str, FakeUpstream]) -> None:
    # a store nobody can write to (a path under a file): the answer still comes, retrieving it is a 503
    with _relay(fakes, {"url": "sqlite:////dev/null/responses.sqlite3"}) as url, httpx.Client(base_url=url) as http:
        r = http.post("/v1/responses", json={"model": "hosted", "input": "hi"})
        assert r.status_code == 200 and r.json()["output_text"] == "You said: hi"
        r = http.get(f"/v1/responses/{r.json()['id']}")
        assert r.status_code == 503 and r.json()["error"]["message"].startswith("the response store is unavailable")
