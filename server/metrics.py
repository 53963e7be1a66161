"""Prometheus metrics: every ``toolrelay_*`` series, one registry per app, fixed label sets.

Label values come only from the configuration (model and backend names), the adapter registry
(family names) and fixed enums (outcomes, finish reasons, error kinds). Anything else is folded
into ``_unknown`` / ``other`` before it reaches a label, so a request naming a model nobody
configured, or a provider inventing a finish reason, can never create a new time series.

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment before start-up (several uvicorn
workers), each worker writes its values to files in that directory and ``render`` merges them,
so one scrape of any worker returns totals over all workers (prometheus-client multiprocess mode).

The prometheus-client objects define every series and render the exposition, but a request does
not touch them: it changes plain floats kept here (``_Total``, ``_Buckets``), which are copied
into prometheus-client's values whenever the registry is collected. prometheus-client validates
its arguments and takes a lock on every change, about eight times per request; the server is one
asyncio loop, so none of that buys anything there. In multiprocess mode another worker may read
this worker's files at any moment, so there each change goes straight to the file-backed value.
"""

from __future__ import annotations

import glob
import os
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

if TYPE_CHECKING:
    from server.config import Settings

UNKNOWN = "_unknown"
OTHER = "other"
UPSTREAM_FAMILY = "upstream"  # tool calls from a hosted API, which has no toolrelay family

REQUEST_OUTCOMES: tuple[str, ...] = ("ok", "error", "cancelled")
CALL_OUTCOMES: tuple[str, ...] = ("ok", "error")
TOOL_OUTCOMES: tuple[str, ...] = ("parsed", "repaired", "invalid", "dropped")  # adapters.base.Outcome
FINISH_REASONS: tuple[str, ...] = ("stop", "length", "tool_calls", "content_filter", "function_call")
DIALECTS: tuple[str, ...] = ("chat", "responses", "anthropic")  # the doors (server/dialects)
AUTO_DECISIONS: tuple[str, ...] = ("called", "answered", "failed")  # server.backends.vllm_gate.GATE_OUTCOMES

# Whole requests and backend calls: a cached or rejected request takes milliseconds, a long
# generation on a busy GPU minutes. Roughly doubling steps keep quantile error bounded everywhere.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600)
# Time to first token: what users feel; dense between 50 ms and 3 s where SLOs usually sit.
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _error_kinds() -> dict[str, str]:
    """Every ``ProxyError`` class, by class name and by its snake_case kind, mapped to the kind.
    The set is fixed by the code, so error kinds are an enum too."""
    from server.errors import ProxyError

    kinds: dict[str, str] = {}
    pending: list[type[ProxyError]] = [ProxyError]
    while pending:
        cls = pending.pop()
        kinds[cls.__name__] = kinds[_snake(cls.__name__)] = _snake(cls.__name__)
        pending.extend(cls.__subclasses__())
    return kinds


def _families() -> frozenset[str]:
    from adapters import REGISTRY

    return frozenset(REGISTRY) | {UPSTREAM_FAMILY}


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# The classes below reach into prometheus-client's children for their value objects (``_value``,
# ``_buckets``, ``_sum``, ``_upper_bounds``: no public API sets a counter's total);
# tests/ops/test_metrics_exposition.py compares every line with what prometheus-client renders
# on its own, so a change there shows.


class _Total:
    """One series of a counter, or the in-flight gauge, made from prometheus-client's child for
    it; ``publish`` brings the child's value up to date."""

    __slots__ = ("_target", "value")

    def __init__(self, child: Any) -> None:
        self._target: Any = child._value
        self.value: float = self._target.get()

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount

    def publish(self) -> None:
        # The running value itself, not a delta: the float additions happen in the same order as
        # prometheus-client's own ``inc`` would do them, so the rendered value is the same.
        self._target.set(self.value)


class _SharedTotal(_Total):
    """Multiprocess mode: the file-backed value is the truth (``value`` stays unused)."""

    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        self._target.inc(amount)

    def dec(self, amount: float = 1) -> None:
        self._target.inc(-amount)

    def publish(self) -> None:
        pass


class _Buckets:
    """One series of a histogram: the count of each bucket (not cumulative, as prometheus-client
    keeps them) and the sum, published like ``_Total``."""

    __slots__ = ("_bounds", "_count_targets", "_counts", "_sum", "_sum_target")

    def __init__(self, child: Any) -> None:
        self._bounds: list[float] = child._upper_bounds  # the configured buckets and +Inf
        self._count_targets: list[Any] = child._buckets
        self._sum_target: Any = child._sum
        self._counts: list[float] = [target.get() for target in self._count_targets]
        self._sum: float = self._sum_target.get()

    def observe(self, amount: float) -> None:
        self._sum += amount
        i = bisect_left(self._bounds, amount)
        if amount <= self._bounds[i]:  # false only for NaN, which prometheus-client puts in no bucket
            self._counts[i] += 1

    def publish(self) -> None:
        self._sum_target.set(self._sum)
        for target, count in zip(self._count_targets, self._counts, strict=True):
            target.set(count)


class _SharedBuckets(_Buckets):
    __slots__ = ()

    def observe(self, amount: float) -> None:
        self._sum_target.inc(amount)
        i = bisect_left(self._bounds, amount)
        if amount <= self._bounds[i]:
            self._count_targets[i].inc(1)

    def publish(self) -> None:
        pass


S = TypeVar("S", _Total, _Buckets)


class _Series(dict[tuple[str, ...], S]):
    """One metric's series by label values, each made on its first use: when prometheus-client
    would have made it, so the exposition lists the series in the same order, with the same
    ``_created`` times. Plain dict indexing on the hot path; ``__missing__`` only once per series."""

    def __init__(self, metric: MetricWrapperBase, make: Callable[[Any], S], made: list[_Total | _Buckets]) -> None:
        super().__init__()
        self._metric = metric
        self._make: Callable[[Any], S] = make
        self._made = made

    def __missing__(self, values: tuple[str, ...]) -> S:
        series = self._make(self._metric.labels(*values))
        self[values] = series
        self._made.append(series)
        return series


class _Exposition:
    """What ``Metrics`` puts in the registry (a prometheus-client collector): the metrics in their
    order, each collected after the values kept in ``Metrics`` were published into it."""

    def __init__(self, metrics: list[MetricWrapperBase], series: list[_Total | _Buckets]) -> None:
        self._metrics = metrics
        self._series = series

    def describe(self) -> list[Metric]:
        return [d for metric in self._metrics for d in metric.describe()]

    def collect(self) -> list[Metric]:
        for series in self._series:
            series.publish()
        return [c for metric in self._metrics for c in metric.collect()]


class Metrics:
    """The app's metrics. Call sites pass raw names; this class decides which become labels.

    The prometheus-client objects (``requests``, ``latency``, …) hold the definitions; their values
    are overwritten from the ones kept here, so change them through the event methods only.
    ``in_flight`` has the gauge's ``inc``/``dec``."""

    def __init__(
        self,
        models: Iterable[str],
        backends: Iterable[str],
        registry: CollectorRegistry | None = None,
        *,
        routes: Mapping[str, str] | None = None,
    ) -> None:
        """``routes`` (model → its backend) lets the common series exist at zero from the start,
        so ``rate()`` and ``increase()`` see the first request of each model too."""
        self.registry = registry if registry is not None else CollectorRegistry()
        self._models = frozenset(models)
        self._backends = frozenset(backends)
        self._families = _families()
        self._kinds = _error_kinds()
        self._multiproc_dir = multiprocess_dir()
        # Registered together through ``_Exposition`` below, in this order.
        self.requests = Counter(
            "toolrelay_requests_total",
            "Requests by model, backend, outcome and door (chat, responses, anthropic)",
            ["model", "backend", "outcome", "dialect"],
            registry=None,
        )
        self.latency = Histogram(
            "toolrelay_request_duration_seconds",
            "Whole chat request, body received to last byte sent",
            ["model", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.ttft = Histogram(
            "toolrelay_time_to_first_token_seconds",
            "Streamed requests: arrival to the first content or tool delta",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=None,
        )
        self.upstream_latency = Histogram(
            "toolrelay_upstream_request_duration_seconds",
            "One call to a backend (hosted API or vLLM); for streams, until the first item",
            ["backend", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.prompt_tokens = Counter(
            "toolrelay_prompt_tokens_total", "Prompt tokens by model", ["model"], registry=None
        )
        self.completion_tokens = Counter(
            "toolrelay_completion_tokens_total", "Completion tokens by model", ["model"], registry=None
        )
        self.tool_calls = Counter(
            "toolrelay_tool_calls_total",
            "Tool calls by family and parse outcome (parsed, repaired, invalid, dropped)",
            ["family", "outcome"],
            registry=None,
        )
        self.finish = Counter(
            "toolrelay_finish_reasons_total", "Choices by model and finish reason", ["model", "reason"], registry=None
        )
        self.fallbacks = Counter(
            "toolrelay_fallbacks_total",
            "Requests moved on to a fallback model, by the model asked for",
            ["model"],
            registry=None,
        )
        # tool_choice auto on a model with an auto gate (adapters/auto_gate.py): what it decided, and
        # the time it added before generation (one one-token vLLM request)
        self.auto_decisions = Counter(
            "toolrelay_auto_decisions_total",
            "tool_choice auto requests decided by the model's auto gate: called, answered, failed",
            ["model", "decision"],
            registry=None,
        )
        self.auto_decision_latency = Histogram(
            "toolrelay_auto_decision_seconds",
            "Time the auto gate's decision added before generation",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=None,
        )
        self.retries = Counter(
            "toolrelay_retries_total", "Backend calls retried, by backend", ["backend"], registry=None
        )
        self.errors = Counter(
            "toolrelay_upstream_errors_total", "Backend errors by backend and kind", ["backend", "kind"], registry=None
        )
        # livesum: in multiprocess mode the gauge is the sum over the workers that are alive.
        in_flight = Gauge(
            "toolrelay_requests_in_flight", "Chat requests being served", registry=None, multiprocess_mode="livesum"
        )

        shared = self._multiproc_dir is not None
        total = _SharedTotal if shared else _Total
        buckets = _SharedBuckets if shared else _Buckets
        made: list[_Total | _Buckets] = []
        self._requests = _Series(self.requests, total, made)
        self._latency = _Series(self.latency, buckets, made)
        self._ttft = _Series(self.ttft, buckets, made)
        self._upstream_latency = _Series(self.upstream_latency, buckets, made)
        self._prompt_tokens = _Series(self.prompt_tokens, total, made)
        self._completion_tokens = _Series(self.completion_tokens, total, made)
        self._tool_calls = _Series(self.tool_calls, total, made)
        self._finish = _Series(self.finish, total, made)
        self._fallbacks = _Series(self.fallbacks, total, made)
        self._auto_decisions = _Series(self.auto_decisions, total, made)
        self._auto_decision_latency = _Series(self.auto_decision_latency, buckets, made)
        self._retries = _Series(self.retries, total, made)
        self._errors = _Series(self.errors, total, made)
        self.in_flight = total(in_flight)
        made.append(self.in_flight)
        ordered = [
            self.requests, self.latency, self.ttft, self.upstream_latency, self.prompt_tokens,
            self.completion_tokens, self.tool_calls, self.finish, self.fallbacks, self.auto_decisions,
            self.auto_decision_latency, self.retries, self.errors, in_flight,
        ]  # fmt: skip
        self.registry.register(_Exposition(ordered, made))
        self._initialise(routes or {})
        if self._multiproc_dir is not None:
            self._reap_dead_workers()

    def _initialise(self, routes: Mapping[str, str]) -> None:
        for model, backend in routes.items():
            m, b = self.model(model), self.backend(backend)
            for outcome in REQUEST_OUTCOMES:
                self._requests[m, b, outcome, "chat"]
            self._latency[m, "ok"]
            self._finish[m, "tool_calls"]
            self._finish[m, "stop"]
        # Requests for models nobody configured land here: one fixed series, present from the start.
        self._requests[UNKNOWN, UNKNOWN, "error", "chat"]
        self._latency[UNKNOWN, "error"]
        for backend in self._backends:
            self._upstream_latency[backend, "ok"]
        for family in self._families:
            for outcome in TOOL_OUTCOMES:
                self._tool_calls[family, outcome]

    @classmethod
    def from_settings(cls, settings: Settings, registry: CollectorRegistry | None = None) -> Metrics:
        routes = {name: m.backend for name, m in settings.models.items()}
        return cls(settings.models, settings.backends, registry, routes=routes)

    # ------------------------------------------------------------------ label values

    def model(self, name: str) -> str:
        return name if name in self._models else UNKNOWN

    def backend(self, name: str) -> str:
        return name if name in self._backends else UNKNOWN

    def family(self, name: str | None) -> str:
        if name is None:
            return UPSTREAM_FAMILY
        return name if name in self._families else UNKNOWN

    def error_kind(self, kind: str) -> str:
        return self._kinds.get(kind, OTHER)

    # ------------------------------------------------------------------ events
    # Label values reach the series dicts already folded to the fixed sets above, so they stay small.

    def request(self, model: str, backend: str, outcome: str, seconds: float, dialect: str = "chat") -> None:
        m = self.model(model)
        o = outcome if outcome in REQUEST_OUTCOMES else "error"
        d = dialect if dialect in DIALECTS else OTHER
        self._requests[m, self.backend(backend), o, d].inc()
        self._latency[m, o].observe(seconds)

    def first_token(self, model: str, seconds: float) -> None:
        self._ttft[(self.model(model),)].observe(seconds)

    def upstream_call(self, backend: str, outcome: str, seconds: float) -> None:
        o = outcome if outcome in CALL_OUTCOMES else "error"
        self._upstream_latency[self.backend(backend), o].observe(seconds)

    def usage(self, model: str, prompt: int, completion: int) -> None:
        key = (self.model(model),)
        # A provider reporting negative usage must not make a counter go down.
        self._prompt_tokens[key].inc(max(prompt, 0))
        self._completion_tokens[key].inc(max(completion, 0))

    def tool_call(self, family: str | None, outcome: str) -> None:
        self._tool_calls[self.family(family), outcome if outcome in TOOL_OUTCOMES else OTHER].inc()

    def finish_reason(self, model: str, reason: str | None) -> None:
        r = reason if reason in FINISH_REASONS else OTHER
        self._finish[self.model(model), r].inc()

    def auto_decision(self, model: str, decision: str, seconds: float) -> None:
        d = decision if decision in AUTO_DECISIONS else OTHER
        m = self.model(model)
        self._auto_decisions[m, d].inc()
        self._auto_decision_latency[(m,)].observe(seconds)

    def fallback(self, model: str) -> None:
        self._fallbacks[(self.model(model),)].inc()

    def retry(self, backend: str) -> None:
        self._retries[(self.backend(backend),)].inc()

    def upstream_error(self, backend: str, kind: str) -> None:
        """``kind``: a ``ProxyError`` class name (``type(err).__name__``) or its snake_case form."""
        self._errors[self.backend(backend), self.error_kind(kind)].inc()

    # ------------------------------------------------------------------ exposition

    def render(self) -> tuple[bytes, str]:
        """The text exposition format, and its content type."""
        if self._multiproc_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4
        # Merged from every worker's files; a fresh registry each time, as prometheus-client requires.
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self._multiproc_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged), CONTENT_TYPE_PLAIN_0_0_4

    def close(self) -> None:
        """At app shutdown: this worker's in-flight gauge stops counting (counters keep their totals)."""
        if self._multiproc_dir is not None:
            _drop_live_gauges(self._multiproc_dir, os.getpid())

    def _reap_dead_workers(self) -> None:
        # A worker that crashed never ran close(); its live gauge file would keep its last
        # in-flight count forever. Any worker starting up removes the files of dead pids.
        assert self._multiproc_dir is not None
        for path in glob.glob(os.path.join(self._multiproc_dir, "gauge_live*_*.db")):
            pid = os.path.basename(path).rsplit("_", 1)[-1].removesuffix(".db")
            if pid.isdigit() and not _alive(int(pid)):
                _drop_live_gauges(self._multiproc_dir, int(pid))


def _drop_live_gauges(directory: str, pid: int) -> None:
    """What ``multiprocess.mark_process_dead`` does (it is untyped): a dead worker's ``live*``
    gauge files go, so the merged gauges count only workers that are alive."""
    for path in glob.glob(os.path.join(directory, f"gauge_live*_{pid}.db")):
        try:
            os.remove(path)
        except FileNotFoundError:  # another worker reaped it first
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
