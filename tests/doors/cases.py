"""What every door is asked in the conformance test, and what it must answer.

Two kinds of case, both through the real toolrelay over HTTP:

- ``family`` cases: the fake vLLM replays a recorded raw output of each model family
  (``tests/fakes/fake_vllm.RECORDED``), which toolrelay renders for and parses itself;
- ``quirk`` cases: the hosted-style fake upstream answers in one provider quirk or another
  (``tests/fakes/fake_upstream``: arguments as an object, no ids, ids on every chunk, parallel
  calls all on index 0, foreign finish reasons, broken JSON, reasoning, no streaming with tools…).

``relay_settings`` configures one model per case; ``Case.calls`` are the calls every door must
report, in order, as (name, parsed arguments).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from adapters import REGISTRY
from tests.fakes.fake_vllm import RECORDED
from tests.proxy.conftest import MODELS

FAMILY_TOOLS: list[dict[str, Any]] = [
    {
        "name": "get_weather",
        "description": "The weather in a city for some days",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
    {"name": "now", "description": "The current time", "parameters": {"type": "object", "properties": {}}},
]
QUIRK_TOOLS: list[dict[str, Any]] = [
    {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    }
]
FAMILY_QUESTION = "Weather in Paris for two days?"
QUIRK_QUESTION = "What is the weather in Paris and Tokyo?"

# every family with a recorded output: a family that gains one is replayed through every door
FAMILIES = tuple(name for name in RECORDED if name in REGISTRY)
_FAMILY_CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "pythonic": [("get_weather", {"city": "Paris", "days": 2}), ("now", {})],
}
_REASONING = {"qwen3", "kimi_k2", "gpt_oss", "glm47", "minimax_m2"}

# case name → (provider profile, the fake's upstream model id with its quirks): the quirk models the
# proxy tests use, less the ones that answer in their own way (errors, rejected names, echoed keys)
QUIRKS: dict[str, tuple[str, str]] = {
    name: MODELS[name]
    for name in (
        "plain", "args-object", "no-id", "repeat-id", "index0", "end-turn", "tool-use", "broken-json",
        "reasoning", "doubao", "mistral", "no-usage",
    )
}  # fmt: skip


@dataclass(frozen=True)
class Case:
    kind: Literal["family", "quirk"]
    name: str

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.name}"

    @property
    def model(self) -> str:
        """The model name a client sends to toolrelay."""
        return self.id

    @property
    def tools(self) -> list[dict[str, Any]]:
        """Flat function tools (the Responses and Messages shape: name, description, parameters)."""
        return FAMILY_TOOLS if self.kind == "family" else QUIRK_TOOLS

    @property
    def question(self) -> str:
        return FAMILY_QUESTION if self.kind == "family" else QUIRK_QUESTION

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        if self.kind == "family":
            return _FAMILY_CALLS.get(self.name, [("get_weather", {"city": "Paris", "days": 2})])
        return [("get_weather", {"location": "Paris"}), ("get_weather", {"location": "Tokyo"})]

    @property
    def reasoning(self) -> bool:
        """Whether the answer carries reasoning content."""
        return self.name in _REASONING if self.kind == "family" else self.name == "reasoning"


CASES = [Case("family", f) for f in FAMILIES] + [Case("quirk", q) for q in QUIRKS]


def relay_settings(upstream_url: str, vllm_url: str) -> dict[str, Any]:
    """toolrelay's config: one model per case, named ``Case.model``."""
    backends: dict[str, Any] = {
        provider: {"kind": "upstream", "provider": provider, "base_url": f"{upstream_url}/v1", "api_key": "sk-test"}
        for provider in {p for p, _ in QUIRKS.values()}
    }
    backends["local"] = {"kind": "vllm", "urls": [f"{vllm_url}/v1"], "health_interval": 0.5}
    models: dict[str, Any] = {}
    for case in CASES:
        if case.kind == "family":
            models[case.model] = {"backend": "local", "model": case.name, "family": case.name}
        else:
            provider, upstream = QUIRKS[case.name]
            models[case.model] = {"backend": provider, "model": upstream}
    return {"backends": backends, "models": models, "responses": {"store": {"enabled": False}}}
