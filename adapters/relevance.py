"""Lexical relevance between a conversation and the tools it offers (no model, no I/O).

One input of the ``auto`` decision (``adapters/auto_gate.py``): does the user's request share words
with what a tool is about? Two numbers, each the best over the offered tools:

- ``name_overlap``: the share of a tool's *name* words (``calculate_triangle_area`` → triangl,
  area; "calculate" is generic) that appear in the request. A tool's name is the densest statement
  of what it does, and short enough that one shared word counts.
- ``bm25``: Okapi BM25 of the request's words against each tool's whole document (name, description,
  parameter names and descriptions, enum values), divided by what a document holding every request
  word once would score and capped at 1, so that it lies in [0, 1] whatever the request's length.
  The request's tools are the corpus; with few tools the IDF mostly says "a word in every tool
  matters less".

Only the latest request counts (the last run of user turns), and tools already called for it are
left out: on an agent's turn after the tool results, what was asked has been done.

Words are lower-cased, split at non-letters and camelCase, reduced by a light suffix stemmer, and
English function words and the verbs that nearly every tool name uses (get, calculate, find ...)
are dropped: they make an unrelated tool look relevant ("calculate the area" vs
``calculate_bmi``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.base import Message, ToolSpec

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# English function words, and words that say "this is a tool" rather than what it is about.
_STOP = frozenset(
    """a an the and or but if then else of to in on at by for with from into onto over under about as is are
    was were be been being am do does did doing have has had having it its this that these those there here
    i me my we our you your he she they them their his her what which who whom whose when where why how
    can could would should will shall may might must not no yes so than too very just also only please
    some any all each every other such same both few more most much many own per via up down out off
    give tell show let make want need like know use using used help thanks thank hi hello
    get gets set find calculate calculation compute retrieve fetch obtain return returns provide
    given specified specific particular certain based value values data info information details detail
    number type default optional required parameter parameters function note provided python syntax
    """.split()
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "ly", "s", "e")
# Seven, not six: at six "current" and "currency" became one word (an agent asking for the current
# weather was offered a currency converter as relevant).
_STEM_LENGTH = 7


def stem(word: str) -> str:
    """A light suffix stemmer, then the first seven letters: crude, but it matches
    triangle/triangles and temperature/temperatures without a dictionary."""
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:_STEM_LENGTH]


_STOP_STEMS = frozenset(stem(w) for w in _STOP if len(w) > 3)  # "calculated" goes with "calculate"


def terms(text: str) -> list[str]:
    """Content words of ``text``, stemmed; numbers and one-letter words are dropped."""
    out = []
    for raw in _WORD.findall(text):
        word = raw.lower()
        if len(word) < 2 or word.isdigit() or word in _STOP:
            continue
        stemmed = stem(word)
        if stemmed not in _STOP_STEMS:
            out.append(stemmed)
    return out


def _schema_words(schema: Mapping[str, Any]) -> Iterable[str]:
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for name, sub in properties.items():
            yield str(name)
            if isinstance(sub, Mapping):
                yield str(sub.get("description") or "")
                enum = sub.get("enum")
                if isinstance(enum, list):
                    yield " ".join(str(v) for v in enum)
                yield from _schema_words(sub)
    items = schema.get("items")
    if isinstance(items, Mapping):
        yield from _schema_words(items)


def tool_document(tool: ToolSpec) -> list[str]:
    """Everything a tool says about itself, as terms."""
    text = " ".join([tool.name, tool.description, *_schema_words(tool.parameters)])
    return terms(text)


def current_request(messages: Sequence[Message]) -> tuple[str, frozenset[str]]:
    """The latest request (the last run of user turns) and the tools called since it: an agent's
    follow-up turn, after tool results, is still about that request, minus what was done."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    if last < 0:
        return "", frozenset()
    first = last
    while first > 0 and messages[first - 1].role == "user":
        first -= 1
    text = "\n".join(m.content or "" for m in messages[first : last + 1])
    called = frozenset(c.name for m in messages[last + 1 :] for c in m.tool_calls)
    return text, called


@dataclass(frozen=True, slots=True)
class Relevance:
    name_overlap: float  # [0, 1]
    bm25: float  # [0, 1]


def bm25(query: Sequence[str], docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> list[float]:
    """Okapi BM25 of ``query`` against each document, divided by what a document of average length
    that holds each query word once would score, and capped at 1."""
    if not docs:
        return []
    n = len(docs)
    avg = sum(len(d) for d in docs) / n or 1.0
    df = Counter(t for d in docs for t in set(d))
    unique = set(query)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in unique}
    # what a document of average length holding each query word once scores: "all of it is there"
    ceiling = sum(idf.values()) or 1.0
    scores = []
    for doc in docs:
        tf = Counter(doc)
        norm = k1 * (1 - b + b * len(doc) / avg)
        total = sum(idf[t] * tf[t] * (k1 + 1) / (tf[t] + norm) for t in unique if tf[t])
        scores.append(min(1.0, total / ceiling))
    return scores


def relevance(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Relevance:
    """How well the latest request matches the best-matching offered tool that has not been called
    for it yet (0 when there is none)."""
    text, called = current_request(messages)
    query = terms(text)
    tools = [t for t in tools if t.name not in called]
    if not tools or not query:
        return Relevance(0.0, 0.0)
    asked = set(query)
    overlap = 0.0
    for tool in tools:
        name = set(terms(tool.name))
        if name:
            overlap = max(overlap, len(name & asked) / len(name))
    scores = bm25(query, [tool_document(t) for t in tools])
    return Relevance(overlap, max(scores))
