"""Oracle: our parsers read vLLM's published test strings the way vLLM's tests say they must.

Data and sources: ``published_parser_cases.py``. Each text is parsed one-shot, streamed in the
deltas the vLLM test streams (or one character at a time when it gives one text), and every
assertion the vLLM test makes is checked on both. Contents are compared without surrounding
whitespace: toolrelay drops whitespace next to a call as layout (``adapters.parsing``), where vLLM
keeps the space of ``"Let me check. <minimax:tool_call>…"``; vLLM's ``None`` content is ``""``.

The parsers are configured as vLLM's tool parsers see the text: after any reasoning was split
off (glm47 ``thinking=False``, minimax_m2 ``reasoning_in_prompt=False``).
"""

from __future__ import annotations

import json

import pytest

from adapters.base import Adapter, ParsedMessage
from adapters.glm47 import Glm47Adapter
from adapters.minimax_m2 import MiniMaxM2Adapter
from adapters.qwen3_coder import Qwen3CoderAdapter
from tests.adapters.conformance import check_delta_rules, feed_chunks, summary
from tests.adapters.published_parser_cases import ALL, Published

ADAPTERS: dict[str, Adapter] = {
    "qwen3_coder": Qwen3CoderAdapter(),
    "glm47": Glm47Adapter(thinking=False),
    "minimax_m2": MiniMaxM2Adapter(reasoning_in_prompt=False),
}


def _check(msg: ParsedMessage, case: Published) -> None:
    got = [(c.name, json.loads(c.arguments)) for c in msg.tool_calls]
    if case.calls is not None:
        assert got == [(name, args) for name, args in case.calls]
    if case.names is not None:
        assert [name for name, _ in got] == list(case.names)
    if case.content is not None:
        assert msg.content.strip() == case.content.strip()
    if case.contains is not None:
        assert case.contains in msg.content


@pytest.mark.parametrize("case", ALL, ids=[c.test for c in ALL])
def test_parse_equals_what_vllm_asserts(case: Published) -> None:
    adapter = ADAPTERS[case.family]
    text = case.text if isinstance(case.text, str) else "".join(case.text)
    whole = adapter.parser(case.tools).parse(text)
    _check(whole, case)
    deltas = list(text) if isinstance(case.text, str) else list(case.text)
    events = feed_chunks(adapter, case.tools, deltas)
    check_delta_rules(events)
    streamed = ParsedMessage.from_events(events)
    _check(streamed, case)
    assert summary(streamed) == summary(whole)


def test_every_family_has_published_cases() -> None:
    counts = {family: sum(c.family == family for c in ALL) for family in ADAPTERS}
    assert all(n >= 10 for n in counts.values()), counts
