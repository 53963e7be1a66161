"""Oracle (issue 3): every BFCL ground-truth answer survives each family's format, scored by BFCL.

For the simple, multiple, parallel and parallel_multiple categories (1,000 entries), each entry's
ground truth (first possible value of every argument) is written as the assistant's calls in the
family's raw format by the family's own ``render()``, streamed back through the family's parser in
random pieces, and scored with BFCL's AST checker. Every entry must pass, with every call
``parsed`` (not repaired) and no leftover text, for every family whose format can express it.

Expressiveness: every family here can write every entry. Names are the OpenAI names
(``math.factorial`` -> ``math_factorial``), which are also valid Python identifiers in these
categories, and no argument name is a Python keyword, so the pythonic family (keyword arguments)
can write all of them; all argument values are JSON values, which Python literals, glm45's typed
``<arg_value>`` text and every JSON-based format can carry.

Dialects run too, built from the registered family's class: mistral v11 (``[TOOL_CALLS]name[ARGS]``)
and v13, deepseek_v3's V3 form (``function`` + fenced JSON), glm4's ChatGLM3 form (``tool_call(...)``
in a python block), pythonic's Llama 4 style, the thinking layouts of kimi_k2 (K2-Thinking) and
deepseek_v32, and glm47's GLM-4.6 layout and its prompt without thinking. A family that is not in
``adapters.REGISTRY`` yet is skipped (it runs as soon as it registers).
"""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest

from adapters import REGISTRY
from adapters.base import Adapter, Outcome
from bench import bfcl_support as bfcl
from tests.oracles import families as fam

CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple")


@functools.cache
def _entries(category: str) -> list[bfcl.Entry]:
    return bfcl.load_entries(category)


# variant id -> (family, constructor keywords of the family's adapter class)
DIALECTS: dict[str, tuple[str, dict[str, Any]]] = {
    "mistral-v11": ("mistral", {"dialect": "v11"}),
    "mistral-v13": ("mistral", {"dialect": "v13"}),
    "deepseek_v3-v3": ("deepseek_v3", {"dialect": "v3"}),
    "glm4-chatglm3": ("glm4", {"dialect": "chatglm3"}),
    "pythonic-llama4": ("pythonic", {"style": "llama4"}),
    "kimi_k2-thinking": ("kimi_k2", {"thinking": True}),
    "deepseek_v32-thinking": ("deepseek_v32", {"thinking": True}),
    "glm47-no-thinking": ("glm47", {"thinking": False}),
    "glm47-4.6": ("glm47", {"dialect": "4.6"}),
}
VARIANTS = (*fam.ALL_FAMILIES, *DIALECTS)


def _adapter(variant: str) -> Adapter:
    family, kwargs = DIALECTS.get(variant, (variant, {}))
    if family not in REGISTRY:
        pytest.skip(f"family {family!r} is not registered in adapters.REGISTRY yet")
    registered = REGISTRY[family]
    return type(registered)(**kwargs) if kwargs else registered


def _roundtrip_failure(adapter: Adapter, entry: bfcl.Entry) -> str | None:
    """Why ``entry``'s ground truth does not survive ``adapter``'s format, or None when it does."""
    toolset = bfcl.to_openai_tools(entry.functions)
    tools = fam.tool_specs(toolset)
    raw = fam.raw_call_text(adapter, tools, fam.call_records(bfcl.ground_truth(entry), toolset))
    parsed = fam.stream_parse(adapter, tools, raw, random.Random(entry.id))
    if parsed.content.strip() or parsed.rejected:
        return f"left text {parsed.content[:120]!r}, rejected {parsed.rejected} from {raw[:200]!r}"
    not_parsed = [c.outcome for c in parsed.tool_calls if c.outcome != Outcome.PARSED]
    if not_parsed:
        return f"outcomes {not_parsed} from {raw[:200]!r}"
    verdict = bfcl.score(entry, fam.parsed_answer(parsed, toolset))
    return None if verdict.valid else f"{verdict.error} from {raw[:200]!r}"


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_ground_truth_roundtrips_through_family_format(variant: str, category: str) -> None:
    adapter = _adapter(variant)
    entries = _entries(category)
    failures = {e.id: why for e in entries if (why := _roundtrip_failure(adapter, e)) is not None}
    assert not failures, f"{len(failures)}/{len(entries)} failed, first: {next(iter(failures.items()))}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_wrong_answer_in_family_format_scores_false(variant: str) -> None:
    # The round trip above could pass vacuously if the scorer accepted anything: it does not.
    adapter = _adapter(variant)
    entry = _entries("simple_python")[0]  # calculate_triangle_area(base=10, height=5)
    toolset = bfcl.to_openai_tools(entry.functions)
    tools = fam.tool_specs(toolset)
    wrong = [{"calculate_triangle_area": {"base": 10, "height": 7}}]
    raw = fam.raw_call_text(adapter, tools, fam.call_records(wrong, toolset))
    parsed = fam.stream_parse(adapter, tools, raw, random.Random(0))
    assert fam.parsed_answer(parsed, toolset) == wrong
    assert not bfcl.score(entry, fam.parsed_answer(parsed, toolset)).valid
