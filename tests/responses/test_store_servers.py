"""Several toolrelay replicas share one response store: two real ``python -m server`` processes
continue each other's responses through Redis, PostgreSQL (real servers the test starts) and a
shared SQLite file — the first answers with calls, the second takes the call outputs by
``previous_response_id``, either reads and deletes what the other stored."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from tests.fakes.fake_upstream import FakeUpstream
from tests.responses.conftest import WEATHER_TOOL
from tests.responses.store_servers import postgres_server, redis_server
from tests.servers import serve_app, spawn_toolrelay

pytestmark = pytest.mark.timeout(180)


@contextlib.contextmanager
def _store(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "redis":
        with redis_server(tmp) as url:
            yield url
    elif kind == "postgresql":
        with postgres_server(tmp) as url:
            yield url
    else:
        yield f"sqlite:///{tmp / 'shared.sqlite3'}"


@pytest.mark.parametrize("kind", ["redis", "postgresql", "sqlite"])
def test_two_replicas_continue_each_other(kind: str, tmp_path: Path) -> None:
    upstream = FakeUpstream()
    with serve_app(upstream.app) as upstream_url, _store(kind, tmp_path) as store_url:
        config = tmp_path / "models.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "backends": {
                        "hosted": {"kind": "upstream", "provider": "openai", "base_url": f"{upstream_url}/v1"}
                    },
                    "models": {"hosted": {"backend": "hosted", "model": "fake"}},
                    "responses": {"store": {"url": store_url}},
                }
            )
        )
        with (
            spawn_toolrelay(config) as a_url,
            spawn_toolrelay(config) as b_url,
            openai.OpenAI(base_url=a_url, api_key="k", max_retries=0, timeout=30) as a,
            openai.OpenAI(base_url=b_url, api_key="k", max_retries=0, timeout=30) as b,
        ):
            first = a.responses.create(
                model="hosted", input="What is the weather in Paris and Tokyo?", tools=[WEATHER_TOOL]
            )
            calls = [i for i in first.output if i.type == "function_call"]
            assert len(calls) == 2
            outputs = [{"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls]
            second = b.responses.create(
                model="hosted",
                previous_response_id=first.id,
                input=outputs,
                tools=[WEATHER_TOOL],  # type: ignore[arg-type]
            )
            assert second.output_text == "Done: sunny sunny"
            # the second replica sent the whole conversation, calls and results, to the backend
            sent = upstream.requests[-1]["messages"]
            assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
            assert a.responses.retrieve(second.id).output_text == "Done: sunny sunny"
            b.responses.delete(first.id)
            with pytest.raises(openai.NotFoundError):
                a.responses.retrieve(first.id)
            with pytest.raises(openai.BadRequestError, match="not found"):
                a.responses.create(model="hosted", previous_response_id=first.id, input="again")
