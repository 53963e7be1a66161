"""Oracle (issue 15): the gpt_oss family against ``openai-harmony``, OpenAI's own harmony renderer/parser.

Prompts: each conversation is built as harmony messages here (independently of
``adapters.harmony_render``, by the mapping its docstring states), rendered by the package with
``render_conversation_for_completion``, and compared with ``GptOssAdapter.render`` twice: as text,
and as tokens (our text encoded in one piece, as vLLM tokenizes a prompt, against harmony's tokens).
Reasoning of finished turns is dropped before handing the conversation over, by the harmony guide's
rule (``test_harmony_drops_the_same_reasoning_itself`` shows the package agrees wherever its own,
narrower rule applies).

Parses: recorded completions (raw strings from harmony's docs and tests and from vLLM's gpt-oss tool
parser tests, sources beside each) are tokenized and parsed by ``parse_messages_from_completion_tokens``;
its messages, read by the rules of ``adapters.gpt_oss`` (analysis → reasoning, recipient → call,
the rest → content, texts of one kind joined by ``\\n``), must equal our parse of the same text,
with and without its final stop marker (vLLM strips it), one-shot and streamed. Generated
completions (random sequences of reasoning, preambles, answers and calls in every header form those
sources show) must agree with the package too.

The package needs its ``o200k_base`` vocabulary offline: ``scripts/harmony_vocab.py`` builds it from
npm's ``js-tiktoken`` into a cache directory once (session fixture), then ``TIKTOKEN_ENCODINGS_BASE``.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import CallRecord, Message, ParsedMessage, ToolChoice, ToolSpec
from adapters.gpt_oss import GptOssAdapter
from bench import bfcl_support as bfcl
from scripts import harmony_vocab
from tests.adapters.conformance import RENDER_SCENARIOS
from tests.oracles import families as fam

oh = pytest.importorskip("openai_harmony")

DATE = "2026-01-15"
SAMPLE = 8  # BFCL entries per category


@pytest.fixture(scope="session")
def encoding() -> Any:
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(harmony_vocab.ensure())
    return oh.load_harmony_encoding(oh.HarmonyEncodingName.HARMONY_GPT_OSS)


# --------------------------------------------------------------------------- our turns as harmony's


def _system(effort: str | None, date: str | None) -> Any:
    content = oh.SystemContent.new()
    content = content.with_reasoning_effort(oh.ReasoningEffort(effort.capitalize())) if effort else content
    if effort is None:
        content.reasoning_effort = None
    return content.with_conversation_start_date(date) if date else content


def _assistant(message: Message) -> list[Any]:
    out = []
    if message.reasoning:
        out.append(oh.Message.from_role_and_content(oh.Role.ASSISTANT, message.reasoning).with_channel("analysis"))
    if message.content:
        channel = "commentary" if message.tool_calls else "final"
        out.append(oh.Message.from_role_and_content(oh.Role.ASSISTANT, message.content).with_channel(channel))
    for call in message.tool_calls:
        out.append(
            oh.Message.from_role_and_content(oh.Role.ASSISTANT, call.arguments or "{}")
            .with_channel("commentary")
            .with_recipient(f"functions.{call.name}")
            .with_content_type("<|constrain|>json")
        )
    return out


def harmony_conversation(
    messages: Sequence[Message], tools: Sequence[ToolSpec], effort: str | None = "medium", date: str | None = None
) -> list[Any]:
    lead = 0
    while lead < len(messages) and messages[lead].role == "system":
        lead += 1
    instructions = "\n\n".join(m.content or "" for m in messages[:lead] if m.content)
    out = [oh.Message.from_role_and_content(oh.Role.SYSTEM, _system(effort, date))]
    if instructions or tools:
        developer = oh.DeveloperContent.new()
        developer = developer.with_instructions(instructions) if instructions else developer
        if tools:
            described = [oh.ToolDescription.new(t.name, t.description, dict(t.parameters) or None) for t in tools]
            developer = developer.with_function_tools(described)
        out.append(oh.Message.from_role_and_content(oh.Role.DEVELOPER, developer))
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    for m in messages[lead:]:
        if m.role == "assistant":
            out += _assistant(m)
        elif m.role == "tool":
            author = oh.Author.new(oh.Role.TOOL, f"functions.{names[m.tool_call_id or '']}")
            out.append(
                oh.Message.from_author_and_content(author, m.content or "")
                .with_channel("commentary")
                .with_recipient("assistant")
            )
        else:
            role = oh.Role.USER if m.role == "user" else oh.Role.DEVELOPER
            out.append(oh.Message.from_role_and_content(role, m.content or ""))
    return out


def drop_finished_reasoning(msgs: list[Any]) -> list[Any]:
    """The harmony guide's rule: analysis before the last ``final`` answer goes."""
    finals = [i for i, m in enumerate(msgs) if m.author.role == oh.Role.ASSISTANT and m.channel == "final"]
    last = finals[-1] if finals else -1
    return [m for i, m in enumerate(msgs) if not (i < last and m.channel == "analysis")]


def harmony_tokens(encoding: Any, msgs: list[Any]) -> list[int]:
    tokens: list[int] = encoding.render_conversation_for_completion(
        oh.Conversation.from_messages(msgs), oh.Role.ASSISTANT
    )
    return tokens


# --------------------------------------------------------------------------- conversations

WEATHER = RENDER_SCENARIOS["parallel_calls_and_results"].tools[0]
CLOCK = RENDER_SCENARIOS["parallel_calls_and_results"].tools[1]
ASK = Message("user", "Weather in Paris?")
CALL = CallRecord("call_1", "get_weather", '{"city": "Paris"}')
RESULT = Message("tool", '{"temp": 21}', tool_call_id="call_1", name="get_weather")


def _conversations() -> Iterator[tuple[str, list[Message], list[ToolSpec]]]:
    for name, scenario in RENDER_SCENARIOS.items():
        if scenario.tool_choice.mode == "auto":
            yield name, scenario.messages, scenario.tools
    tools = [WEATHER, CLOCK]
    yield "developer_text_mid_conversation", [ASK, Message("system", "Answer in French."), ASK], tools
    yield (
        "reasoning_kept_in_tool_loop",
        [ASK, Message("assistant", None, (CALL,), reasoning="Need get_weather."), RESULT],
        tools,
    )
    yield (
        "reasoning_dropped_after_answer",
        [ASK, Message("assistant", "Sunny.", reasoning="Easy."), Message("user", "Thanks!")],
        tools,
    )
    yield (
        "reasoning_multi_turn",
        [
            Message("system", "Be brief."),
            ASK,
            Message("assistant", "Checking.", (CALL,), reasoning="First turn, call."),
            RESULT,
            Message("assistant", "21 C in Paris.", reasoning="Got 21."),
            Message("user", "And the time?"),
            Message("assistant", None, (CallRecord("call_2", "get_time", ""),), reasoning="Second turn, call."),
            Message("tool", "12:00", tool_call_id="call_2"),
        ],
        tools,
    )
    yield (
        "reasoning_two_answers",  # analysis between two finals: the guide drops it, the package alone keeps it
        [
            ASK,
            Message("assistant", "Sunny.", reasoning="Easy."),
            Message("user", "And in Rome?"),
            Message("assistant", None, (CallRecord("call_3", "get_weather", '{"city": "Rome"}'),), reasoning="Call."),
            Message("tool", "Cloudy", tool_call_id="call_3"),
            Message("assistant", "Cloudy in Rome.", reasoning="Got it."),
            Message("user", "Thanks!"),
        ],
        tools,
    )
    yield "unicode_and_markup", [Message("user", 'Köln 🌧 東京 <b>"x"</b> {y}\n\nline')], tools
    yield "no_tools_no_system", [Message("user", "Hi")], []


CONVERSATIONS = list(_conversations())


@pytest.mark.parametrize(("name", "messages", "tools"), CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
@pytest.mark.parametrize(("effort", "date"), [("medium", None), ("low", DATE), ("high", None), (None, DATE)])
def test_prompt_equals_harmony(
    encoding: Any, name: str, messages: list[Message], tools: list[ToolSpec], effort: str | None, date: str | None
) -> None:
    adapter = GptOssAdapter(reasoning_effort=effort, current_date=date)
    ours = adapter.render(messages, tools, ToolChoice("auto"))
    tokens = harmony_tokens(encoding, drop_finished_reasoning(harmony_conversation(messages, tools, effort, date)))
    assert ours == encoding.decode_utf8(tokens)
    assert encoding.encode(ours, allowed_special="all") == tokens  # as vLLM tokenizes the prompt


def test_render_option_overrides_configured_effort(encoding: Any) -> None:
    messages, tools = CONVERSATIONS[0][1], CONVERSATIONS[0][2]
    ours = GptOssAdapter(reasoning_effort="low").render(messages, tools, ToolChoice(), reasoning_effort="high")
    expected = harmony_tokens(encoding, harmony_conversation(messages, tools, "high"))
    assert ours == encoding.decode_utf8(expected)


def test_harmony_drops_the_same_reasoning_itself(encoding: Any) -> None:
    """Where the package's own rule applies (no final yet, or one final that ends the conversation),
    it drops exactly what we drop."""
    for name, messages, tools in CONVERSATIONS:
        msgs = harmony_conversation(messages, tools)
        finals = [m for m in msgs if m.channel == "final"]
        last_assistant = [m for m in msgs if m.author.role == oh.Role.ASSISTANT][-1:]
        if len(finals) > 1 or (finals and last_assistant[0].channel != "final"):
            continue  # the package's narrower rule differs here (module docstring)
        ours = GptOssAdapter().render(messages, tools, ToolChoice())
        assert ours == encoding.decode_utf8(harmony_tokens(encoding, msgs)), name


def _bfcl_sample() -> list[bfcl.Entry]:
    categories = ("simple_python", "multiple", "parallel", "parallel_multiple", "live_simple", "live_multiple")
    entries = [e for c in categories for e in bfcl.load_entries(c)[:SAMPLE]]
    entries += [
        e for e in bfcl.load_entries("live_multiple") if not json.dumps(e.functions, ensure_ascii=False).isascii()
    ][:SAMPLE]
    return entries


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_bfcl_prompts_equal_harmony(encoding: Any, stage: int) -> None:
    """Real tool sets (nested objects, arrays, enums, defaults, unicode): question; then the
    ground-truth calls with reasoning and their results; then an answer and a new question."""
    adapter = GptOssAdapter()
    for entry in _bfcl_sample():
        toolset = bfcl.to_openai_tools(entry.functions)
        tools = fam.tool_specs(toolset)
        messages = fam.as_messages(entry.messages)
        if stage > 1:
            calls = tuple(fam.call_records(bfcl.ground_truth(entry), toolset))
            messages.append(Message("assistant", None, calls, reasoning="Call the tools."))
            messages += [Message("tool", f"result {i}", tool_call_id=c.id) for i, c in enumerate(calls)]
        if stage > 2:
            messages += [Message("assistant", "Done.", reasoning="All good."), Message("user", "Thanks. And now?")]
        ours = adapter.render(messages, tools, ToolChoice())
        tokens = harmony_tokens(encoding, drop_finished_reasoning(harmony_conversation(messages, tools)))
        assert ours == encoding.decode_utf8(tokens), entry.id


# --------------------------------------------------------------------------- parses

PARSE_TOOLS = [
    ToolSpec(n, "", {"type": "object", "properties": {"location": {"type": "string"}}})
    for n in ("get_weather", "get_current_weather", "get_user_location", "lookup_weather", "empty_args", "no_args")
] + [ToolSpec("generate_file", "", {"type": "object", "properties": {"template": {}, "path": {}}})]

# (id, completion as the model writes it after "<|start|>assistant", strict harmony parse)
COMPLETIONS = [
    (  # harmony docs/format.md, "Example output"; the same tokens as test-data/test_simple_reasoning_response.txt
        "docs_reasoning_then_answer",
        '<|channel|>analysis<|message|>User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.<|end|>'
        "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>",
        True,
    ),
    (  # harmony test-data/test_simple_reasoning_response.txt, decoded (analysis closed by <|return|>)
        "test_data_reasoning_response",
        '<|channel|>analysis<|message|>User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.<|return|>'
        "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.",
        True,
    ),
    (  # harmony docs/format.md, "Receiving tool calls"
        "docs_reasoning_then_call",
        "<|channel|>analysis<|message|>Need to use function get_weather.<|end|><|start|>assistant<|channel|>commentary"
        ' to=functions.get_weather <|constrain|>json<|message|>{"location":"San Francisco"}<|call|>',
        True,
    ),
    (  # harmony test-data/test_simple_tool_call.txt, decoded: bare recipient, analysis channel, "code"
        "test_data_simple_tool_call",
        '<|channel|>analysis<|message|>User asks: "What is the weather in Tokyo?" We need to use lookup_weather tool.'
        '<|return|><|start|>assistant to=lookup_weather<|channel|>analysis code<|message|>{"location": "Tokyo"}',
        True,
    ),
    (  # harmony docs/format.md, "Preambles" (a multi-line commentary message, then the call)
        "docs_preamble",
        "<|channel|>analysis<|message|>{long chain of thought}<|end|><|start|>assistant<|channel|>commentary"
        "<|message|>**Action plan**:\n1. Generate an HTML file\n2. Generate a JavaScript for the Node.js server\n"
        "3. Start the server\n---\nWill start executing the plan step by step<|end|><|start|>assistant<|channel|>"
        'commentary to=functions.generate_file<|constrain|>json<|message|>{"template": "basic_html", "path": '
        '"index.html"}<|call|>',
        True,
    ),
    (  # harmony tests/test_harmony.py test_tool_call_with_constrain_marker_adjacent (after <|start|>assistant)
        "constrain_marker_adjacent",
        ' to=functions.get_weather<|channel|>commentary<|constrain|>json<|message|>{"location": "Tokyo"}<|call|>',
        True,
    ),
    (  # harmony tests: test_tool_call_with_channel_before_recipient_and_constrain_adjacent
        "channel_before_recipient_constrain_adjacent",
        '<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>{"latitude":48.8566,'
        '"longitude":2.3522}<|call|>',
        True,
    ),
    (  # harmony tests: test_streamable_parser_missing_message_token (non-strict)
        "missing_message_token",
        "I must refuse<|end|><|start|>assistant<|channel|>analysis<|message|>We must refuse<|end|>"
        "<|start|>assistant<|channel|>final<|message|>I'm sorry, but I can't help with that.<|return|>",
        False,
    ),
    (  # harmony tests: test_streamable_parser_missing_message_token_other_initial_headers (non-strict)
        "missing_message_token_channel_header",
        "<|channel|>analysis I must refuse<|end|><|start|>assistant<|channel|>analysis<|message|>We must refuse<|end|>"
        "<|start|>assistant<|channel|>final<|message|>I'm sorry, but I can't help with that.<|return|>",
        False,
    ),
    (  # harmony tests: test_streamable_parser_missing_message_token_tool_call (non-strict)
        "missing_message_token_then_call",
        "... Let's use the tool.<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary json"
        '<|message|>{"location": "Tokyo"}<|call|>',
        False,
    ),
    (  # vLLM tests/tool_parsers/test_openai_tool_parser.py test_extract_tool_calls_single_tool, rendered by harmony
        "vllm_single_tool_multiline_args",
        '<|channel|>analysis<|message|>User asks: "What is the weather in Tokyo?" We need to use get_current_weather'
        " tool.<|end|><|start|>assistant to=functions.get_current_weather<|channel|>commentary json<|message|>"
        '{\n"location": "Tokyo"\n}<|call|>',
        True,
    ),
    (  # vLLM test_extract_tool_calls_multiple_tools (its offered-function, JSON-bodied messages)
        "vllm_multiple_tools",
        '<|channel|>analysis<|message|>User asks: "What is the weather in Tokyo?" based on their location. We need to'
        " use get_current_weather tool and get_user_location tool.<|end|><|start|>assistant to=functions."
        'get_current_weather<|channel|>commentary json<|message|>{"location": "Tokyo"}<|call|><|start|>assistant '
        'to=functions.get_user_location<|channel|>commentary json<|message|>{"location": "Tokyo"}<|call|>'
        "<|start|>assistant to=functions.empty_args<|channel|>commentary json<|message|>{}<|call|><|start|>assistant"
        " to=functions.no_args<|channel|>commentary json<|message|><|call|>",
        True,
    ),
    (  # vLLM test_extract_tool_calls_with_content: a call, then a final answer in the same text
        "vllm_call_then_content",
        '<|channel|>analysis<|message|>User asks: "What is the weather in Tokyo?" based on their location. We need to'
        " use get_current_weather tool and get_user_location tool.<|end|><|start|>assistant to=functions."
        'get_current_weather<|channel|>commentary json<|message|>{"location": "Tokyo"}<|call|><|start|>assistant'
        "<|channel|>final<|message|>This tool call will get the weather.<|return|>",
        True,
    ),
]


def harmony_reading(encoding: Any, text: str, strict: bool) -> tuple[str, str, list[tuple[str, Any]]]:
    """harmony's parse, read by the gpt_oss family's rules (module docstring)."""
    tokens = encoding.encode(text, allowed_special="all")
    msgs = encoding.parse_messages_from_completion_tokens(tokens, oh.Role.ASSISTANT, strict=strict)
    reasoning, content, calls = [], [], []
    for m in msgs:
        body = "".join(c.text for c in m.content)
        if m.recipient is not None:
            calls.append((m.recipient.removeprefix("functions."), json.loads(body) if body.strip() else {}))
        elif m.channel == "analysis":
            reasoning.append(body)
        else:
            content.append(body)
    return "\n".join(r for r in reasoning if r), "\n".join(c for c in content if c), calls


def our_reading(msg: ParsedMessage) -> tuple[str, str, list[tuple[str, Any]]]:
    assert not msg.rejected
    return msg.reasoning, msg.content, [(c.name, json.loads(c.arguments)) for c in msg.tool_calls]


def _streamed(text: str, seed: int) -> ParsedMessage:
    rng = random.Random(seed)
    parser = GptOssAdapter().parser(PARSE_TOOLS)
    events, i = [], 0
    while i < len(text):
        n = rng.randint(1, 9)
        events += parser.feed(text[i : i + n])
        i += n
    events += parser.finish()
    return ParsedMessage.from_events(events)


@pytest.mark.parametrize(("name", "text", "strict"), COMPLETIONS, ids=[c[0] for c in COMPLETIONS])
def test_parse_equals_harmony(encoding: Any, name: str, text: str, strict: bool) -> None:
    expected = harmony_reading(encoding, text, strict)
    assert expected[2] or expected[1]  # every completion says something
    cut = text.removesuffix("<|call|>").removesuffix("<|return|>")  # what vLLM hands over
    for variant in (text, cut):
        assert our_reading(GptOssAdapter().parser(PARSE_TOOLS).parse(variant)) == expected
        assert our_reading(_streamed(variant, len(variant))) == expected


def test_oracle_reading_is_what_the_sources_assert(encoding: Any) -> None:
    """The sources' own assertions, restated: the reading above is not vacuous."""
    by_id = {c[0]: c for c in COMPLETIONS}
    assert harmony_reading(encoding, *by_id["docs_reasoning_then_answer"][1:]) == (
        'User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.',
        "2 + 2 = 4.",
        [],
    )
    assert harmony_reading(encoding, *by_id["vllm_multiple_tools"][1:])[2] == [
        ("get_current_weather", {"location": "Tokyo"}),
        ("get_user_location", {"location": "Tokyo"}),
        ("empty_args", {}),
        ("no_args", {}),
    ]
    assert harmony_reading(encoding, *by_id["missing_message_token"][1:])[:2] == (
        "We must refuse",
        "I must refuse\nI'm sorry, but I can't help with that.",
    )


def test_history_calls_read_back(encoding: Any) -> None:
    """A call as our prompt writes it in history is a call our parser reads (the history form puts
    the recipient before the channel; the model usually writes it after)."""
    adapter = GptOssAdapter()
    prompt = adapter.render([ASK], [WEATHER], ToolChoice())
    full = adapter.render(
        [ASK, Message("assistant", None, (CALL,), reasoning="Call.")],
        [WEATHER],
        ToolChoice(),
        add_generation_prompt=False,
    )
    turn = full[len(prompt) :]
    assert turn.endswith("<|call|>")
    assert our_reading(adapter.parser([WEATHER]).parse(turn)) == harmony_reading(encoding, turn, True)


_TEXT = st.text(st.sampled_from(list("ab Z9.,:;!?\"'{}[]<>/\\\n\t-_=") + ["é", "東", "🌧"]), max_size=40)
# typed as PARSE_TOOLS declare them ("location" is a string), so schema coercion changes nothing
_ARGS = st.fixed_dictionaries({}, optional={"location": _TEXT, "n": st.integers(), "flag": st.booleans()})
_HEADERS = [  # the header forms seen in harmony's docs and tests: recipient after/before the channel
    "<|channel|>commentary to=functions.{name} <|constrain|>json",
    "<|channel|>commentary to=functions.{name}<|constrain|>json",
    " to=functions.{name}<|channel|>commentary <|constrain|>json",
    " to=functions.{name}<|channel|>commentary json",
    "<|channel|>commentary to=functions.{name}",
]


@st.composite
def completions(draw: st.DrawFn) -> str:
    """A well-formed completion: reasoning, preambles, answers and calls in any order."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["analysis", "commentary", "final", "call"]))
        if kind == "call":
            header = draw(st.sampled_from(_HEADERS)).format(name=draw(st.sampled_from(PARSE_TOOLS)).name)
            body, end = json.dumps(draw(_ARGS), ensure_ascii=draw(st.booleans())), "<|call|>"
        else:
            header, body, end = f"<|channel|>{kind}", draw(_TEXT), "<|end|>"
        parts.append(f"{header}<|message|>{body}{end}")
    return "<|start|>assistant".join(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=completions())
def test_generated_completions_parse_as_harmony_parses_them(encoding: Any, text: str) -> None:
    expected = harmony_reading(encoding, text, True)
    assert our_reading(GptOssAdapter().parser(PARSE_TOOLS).parse(text)) == expected
    assert our_reading(_streamed(text, len(text))) == expected
