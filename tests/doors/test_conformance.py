"""Every recorded family output and every upstream quirk stream, through every door (``DOORS``),
streamed and not: each door's answer obeys its own rules (``tests/doors/doors.py``), carries the
calls the case expects, whole and in order, with the stop reason for calls — and so the doors
agree with one another on the calls. No real vLLM: the fakes stand behind one real toolrelay."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from server.app import create_app
from server.config import parse_settings
from tests.doors.cases import CASES, Case, relay_settings
from tests.doors.doors import DOORS, Answer, ask
from tests.fakes.fake_upstream import FakeUpstream
from tests.fakes.fake_vllm import FakeVllm
from tests.servers import serve_app


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    upstream, vllm = FakeUpstream(), FakeVllm()
    with serve_app(upstream.app) as upstream_url, serve_app(vllm.app) as vllm_url:
        app = create_app(parse_settings(relay_settings(upstream_url, vllm_url)))
        with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client


def _check(case: Case, answer: Answer) -> None:
    assert answer.calls == case.calls
    assert answer.stop == "tool_calls"
    assert all(answer.ids) and len(set(answer.ids)) == len(answer.ids)
    assert bool(answer.reasoning) == case.reasoning


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("door", sorted(DOORS))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_door_answers_the_case(case: Case, door: str, stream: bool, http: httpx.Client) -> None:
    _check(case, ask(http, DOORS[door], case, stream=stream))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_doors_agree(case: Case, http: httpx.Client) -> None:
    answers = {
        (name, stream): ask(http, door, case, stream=stream) for name, door in DOORS.items() for stream in (False, True)
    }
    calls = {key: a.calls for key, a in answers.items()}
    assert len({repr(c) for c in calls.values()}) == 1, calls
    assert len({a.stop for a in answers.values()}) == 1
    assert len({a.text for a in answers.values()}) == 1, {k: a.text for k, a in answers.items()}
