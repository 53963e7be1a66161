"""Schemathesis against toolrelay's own OpenAPI document: whatever the schema allows (and, in its
negative mode, what it does not), the answer is never a 5xx and errors keep the OpenAI shape.

Half the generated chat requests are pointed at a real configured model (``ok``), so validation
is not the only code that runs: the request goes through the dispatcher to the fault upstream.
Schemathesis drives Hypothesis directly here (its pytest plugin does not load under pytest 9).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.faults.fault_upstream import FaultUpstream
from tests.faults.harness import relay, settings_for

CHAT = "POST /v1/chat/completions"
# Invalid cases cost Schemathesis far more to generate than valid ones: fewer, to stay within ~30 s.
EXAMPLES = {GenerationMode.POSITIVE: 120, GenerationMode.NEGATIVE: 40}


@pytest.fixture(scope="module")
def api_schema() -> Iterator[schemathesis.BaseSchema]:
    fault = FaultUpstream()
    with fault.running() as url, relay(settings_for(url, {"ok": ("fault", "fault:ok", [])})) as r:
        yield schemathesis.openapi.from_url(f"{r.url.removesuffix('/v1')}/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_server_errors(api_schema: schemathesis.BaseSchema, mode: GenerationMode) -> None:
    seen: dict[str, int] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        label = operation.label

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES[mode] if label == CHAT else 10, deadline=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: schemathesis.Case) -> None:
            if isinstance(case.body, dict) and isinstance(case.body.get("model"), str) and len(repr(case.body)) % 2:
                case.body["model"] = "ok"
            response = case.call(timeout=10)
            seen[case.operation.label] = seen.get(case.operation.label, 0) + 1
            # /ready says 503 by design here: the harness has a backend on a port nobody listens on
            not_ready = case.operation.label == "GET /ready" and response.status_code == 503
            assert response.status_code < 500 or not_ready, (response.status_code, response.text[:500], case.body)
            if response.status_code >= 400 and response.headers.get("content-type") == "application/json":
                error = response.json()["error"]
                assert set(error) == {"message", "type", "param", "code"}, error

        try:
            run()
        except Unsatisfiable:
            # An operation without parameters (GET /health) has no invalid form to generate.
            assert mode is GenerationMode.NEGATIVE and label != CHAT
    assert seen.get(CHAT, 0) >= EXAMPLES[mode] // 2, seen
