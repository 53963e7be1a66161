"""Which family a model speaks, read from its chat template (``toolrelay detect-family PATH``).

Every family's tool format leaves markers in the model's chat template: the tokens its calls are
written with, or the instructions that describe them. ``RULES`` lists them, most specific first
(Qwen3-Coder's ``<tool_call>`` holds ``<function=``, so it comes before hermes'); the first rule
whose markers all occur in the template names the family and, where the template tells a variant
apart, the ``family_options`` to configure (Kimi K2-Thinking's think blocks, DeepSeek V3's fenced
arguments, GLM-4.6 beside 4.7, Llama 4's layout). A ChatML template without any tool marker gets hermes, which then
emulates tool calling. DeepSeek V3.2 ships no template: its ``encoding/encoding_dsv32.py`` names it.

Pure: the caller reads the files (``detect_files`` takes their names, relative to the model
directory, and their text); nothing here touches the file system.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Rule:
    family: str
    markers: tuple[str, ...]
    why: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Detection:
    family: str
    options: Mapping[str, Any]
    why: str


RULES: tuple[Rule, ...] = (
    Rule("gpt_oss", ("<|channel|>", "<|message|>"), "harmony channels (gpt-oss)"),
    Rule(
        "kimi_k2",
        ("<|tool_calls_section_begin|>", "<think>"),
        "Kimi tool-call sections with think blocks (K2-Thinking)",
        {"thinking": True},
    ),
    Rule("kimi_k2", ("<|tool_calls_section_begin|>",), "Kimi tool-call sections (K2 Instruct)"),
    Rule("kimi_k2", ("tool_declare<|im_middle|>",), "Kimi's tool_declare turn (K2 Instruct)"),
    Rule("deepseek_v32", ("｜DSML｜",), "DSML function calls (DeepSeek V3.2)"),
    Rule("deepseek_v3", ("<｜tool▁calls▁begin｜>", "```json"), "fenced DeepSeek calls (V3)", {"dialect": "v3"}),
    Rule("deepseek_v3", ("<｜tool▁calls▁begin｜>",), "DeepSeek calls without a fence (V3.1)"),
    Rule("minimax_m2", ("<minimax:tool_call>",), "MiniMax XML calls"),
    Rule("qwen3_coder", ("<tool_call>", "<function="), "XML calls with <function=…> (Qwen3-Coder)"),
    Rule("glm47", ("<arg_key>", "clear_thinking"), "arg_key calls with clear_thinking (GLM-4.7)"),
    Rule(
        "glm47",
        ("<arg_key>", "tojson(ensure_ascii=False)"),
        "arg_key calls, tools as unescaped JSON (GLM-4.6)",
        {"dialect": "4.6"},
    ),
    Rule("glm45", ("<arg_key>",), "arg_key calls (GLM-4.5)"),
    Rule("glm4", ("<|observation|>",), "observation turns without arg_key (GLM-4 / ChatGLM3)"),
    Rule("mistral", ("[TOOL_CALLS]",), "[TOOL_CALLS] (Mistral)"),
    Rule("mistral", ("[AVAILABLE_TOOLS]",), "[AVAILABLE_TOOLS] (Mistral)"),
    Rule("pythonic", ("<|python_start|>",), "python blocks (Llama 4)", {"style": "llama4"}),
    Rule("pythonic", ("[func_name1(",), "Python call lists (Llama 3.2 pythonic)"),
    Rule("llama3_json", ("<|python_tag|>",), "<|python_tag|> (Llama 3.1-3.3)"),
    Rule("llama3_json", ("<|start_header_id|>", "ipython"), "ipython turns (Llama 3.x JSON calls)"),
    Rule("qwen3", ("<tool_call>", "<think>"), "<tool_call> with think blocks (Qwen3)"),
    Rule("hermes", ("<tool_call>",), "<tool_call> JSON blocks (Qwen2.5, Hermes)"),
    Rule("hermes", ("<|im_start|>",), "ChatML without tool support: hermes emulates tool calls"),
)

# where a model directory keeps its template, in the order transformers prefers them
TEMPLATE_FILES = ("chat_template.jinja", "tokenizer_config.json", "chat_template.json")
DSV32_ENCODING = "encoding/encoding_dsv32.py"


def detect_family(template: str) -> Detection | None:
    """The first rule whose markers all occur in ``template``; None when none does."""
    for rule in RULES:
        if all(marker in template for marker in rule.markers):
            markers = " and ".join(rule.markers)
            return Detection(rule.family, dict(rule.options), f"{rule.why}: the template writes {markers}")
    return None


def template_from_json(text: str) -> str | None:
    """The chat template of a ``tokenizer_config.json`` or ``chat_template.json``: a string, or
    the named list transformers also accepts (``tool_use`` preferred, then ``default``)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    found = data.get("chat_template") if isinstance(data, dict) else None
    if isinstance(found, str):
        return found
    if isinstance(found, list):
        named = {t.get("name"): t.get("template") for t in found if isinstance(t, dict)}
        for name in ("tool_use", "default", *named):
            if isinstance(named.get(name), str):
                return str(named[name])
    return None


def template_of(name: str, text: str) -> str | None:
    """A file's chat template: a JSON config's ``chat_template``, or the file itself."""
    return template_from_json(text) if name.endswith(".json") else text


def detect_files(files: Mapping[str, str]) -> Detection | None:
    """Detect from a model's files (name relative to its directory → text): the first template
    found in ``TEMPLATE_FILES`` order (a single file of any name counts as the template), else
    DeepSeek V3.2's encoding script."""
    names = [n for n in TEMPLATE_FILES if n in files] or [n for n in files if n != DSV32_ENCODING]
    for name in names:
        template = template_of(name, files[name])
        if template:
            found = detect_family(template)
            if found is not None:
                return found
    if DSV32_ENCODING in files:
        return Detection("deepseek_v32", {}, f"no chat template, but {DSV32_ENCODING} (DeepSeek V3.2)")
    return None
