"""Prometheus metrics: every ``toolrelay_*`` series, one registry per app, fixed label sets.

Label values come only from the configuration (model and backend names), the adapter registry
(family names) and fixed enums (outcomes, finish reasons, error kinds). Anything else is folded
into ``_unknown`` / ``other`` before it reaches a label, so a request naming a model nobody
configured, or a provider inventing a finish reason, can never create a new time series.

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment before start-up (several uvicorn
workers), each worker writes its values to files in that directory and ``render`` merges them,
so one scrape of any worker returns totals over all workers (prometheus-client multiprocess mode).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics import MetricWrapperBase

if TYPE_CHECKING:
    from server.config import Settings

M = TypeVar("M", bound=MetricWrapperBase)

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


class Metrics:
    """The app's metrics. Call sites pass raw names; this class decides which become labels."""

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
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        r = self.registry
        self.requests = Counter(
            "toolrelay_requests_total",
            "Requests by model, backend, outcome and door (chat, responses, anthropic)",
            ["model", "backend", "outcome", "dialect"],
            registry=r,
        )
        self.latency = Histogram(
            "toolrelay_request_duration_seconds",
            "Whole chat request, body received to last byte sent",
            ["model", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "toolrelay_time_to_first_token_seconds",
            "Streamed requests: arrival to the first content or tool delta",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "toolrelay_upstream_request_duration_seconds",
            "One call to a backend (hosted API or vLLM); for streams, until the first item",
            ["backend", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter("toolrelay_prompt_tokens_total", "Prompt tokens by model", ["model"], registry=r)
        self.completion_tokens = Counter(
            "toolrelay_completion_tokens_total", "Completion tokens by model", ["model"], registry=r
        )
        self.tool_calls = Counter(
            "toolrelay_tool_calls_total",
            "Tool calls by family and parse outcome (parsed, repaired, invalid, dropped)",
            ["family", "outcome"],
            registry=r,
        )
        self.finish = Counter(
            "toolrelay_finish_reasons_total", "Choices by model and finish reason", ["model", "reason"], registry=r
        )
        self.fallbacks = Counter(
            "toolrelay_fallbacks_total",
            "Requests moved on to a fallback model, by the model asked for",
            ["model"],
            registry=r,
        )
        # tool_choice auto on a model with an auto gate (adapters/auto_gate.py): what it decided, and
        # the time it added before generation (one one-token vLLM request)
        self.auto_decisions = Counter(
            "toolrelay_auto_decisions_total",
            "tool_choice auto requests decided by the model's auto gate: called, answered, failed",
            ["model", "decision"],
            registry=r,
        )
        self.auto_decision_latency = Histogram(
            "toolrelay_auto_decision_seconds",
            "Time the auto gate's decision added before generation",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.retries = Counter("toolrelay_retries_total", "Backend calls retried, by backend", ["backend"], registry=r)
        self.errors = Counter(
            "toolrelay_upstream_errors_total", "Backend errors by backend and kind", ["backend", "kind"], registry=r
        )
        # livesum: in multiprocess mode the gauge is the sum over the workers that are alive.
        self.in_flight = Gauge(
            "toolrelay_requests_in_flight", "Chat requests being served", registry=r, multiprocess_mode="livesum"
        )
        self._initialise(routes or {})
        if self._multiproc_dir is not None:
            self._reap_dead_workers()

    def _initialise(self, routes: Mapping[str, str]) -> None:
        for model, backend in routes.items():
            m, b = self.model(model), self.backend(backend)
            for outcome in REQUEST_OUTCOMES:
                self.requests.labels(m, b, outcome, "chat")
            self.latency.labels(m, "ok")
            self.finish.labels(m, "tool_calls")
            self.finish.labels(m, "stop")
        # Requests for models nobody configured land here: one fixed series, present from the start.
        self.requests.labels(UNKNOWN, UNKNOWN, "error", "chat")
        self.latency.labels(UNKNOWN, "error")
        for backend in self._backends:
            self.upstream_latency.labels(backend, "ok")
        for family in self._families:
            for outcome in TOOL_OUTCOMES:
                self.tool_calls.labels(family, outcome)

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

    def _child(self, metric: M, *values: str) -> M:
        """``metric.labels(*values)``, looked up once per label set: prometheus-client checks the
        values and takes a lock on every ``labels`` call, a few percent of a small request's CPU.
        Values reach here already folded to the fixed sets above, so this dict stays small."""
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    # ------------------------------------------------------------------ events

    def request(self, model: str, backend: str, outcome: str, seconds: float, dialect: str = "chat") -> None:
        m = self.model(model)
        o = outcome if outcome in REQUEST_OUTCOMES else "error"
        d = dialect if dialect in DIALECTS else OTHER
        self._child(self.requests, m, self.backend(backend), o, d).inc()
        self._child(self.latency, m, o).observe(seconds)

    def first_token(self, model: str, seconds: float) -> None:
        self._child(self.ttft, self.model(model)).observe(seconds)

    def upstream_call(self, backend: str, outcome: str, seconds: float) -> None:
        o = outcome if outcome in CALL_OUTCOMES else "error"
        self._child(self.upstream_latency, self.backend(backend), o).observe(seconds)

    def usage(self, model: str, prompt: int, completion: int) -> None:
        m = self.model(model)
        # A provider reporting negative usage must not make a counter go down (which raises).
        self._child(self.prompt_tokens, m).inc(max(prompt, 0))
        self._child(self.completion_tokens, m).inc(max(completion, 0))

    def tool_call(self, family: str | None, outcome: str) -> None:
        self._child(self.tool_calls, self.family(family), outcome if outcome in TOOL_OUTCOMES else OTHER).inc()

    def finish_reason(self, model: str, reason: str | None) -> None:
        r = reason if reason in FINISH_REASONS else OTHER
        self._child(self.finish, self.model(model), r).inc()

    def auto_decision(self, model: str, decision: str, seconds: float) -> None:
        d = decision if decision in AUTO_DECISIONS else OTHER
        m = self.model(model)
        self._child(self.auto_decisions, m, d).inc()
        self._child(self.auto_decision_latency, m).observe(seconds)

    def fallback(self, model: str) -> None:
        self._child(self.fallbacks, self.model(model)).inc()

    def retry(self, backend: str) -> None:
        self._child(self.retries, self.backend(backend)).inc()

    def upstream_error(self, backend: str, kind: str) -> None:
        """``kind``: a ``ProxyError`` class name (``type(err).__name__``) or its snake_case form."""
        self._child(self.errors, self.backend(backend), self.error_kind(kind)).inc()

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
