"""A scripted run of metric events, played on ``Metrics`` and on a reference that sends each event
straight to prometheus-client (what ``Metrics`` did before it kept values itself), for the
exposition comparison in ``test_metrics_exposition``. Run as a module it prints the expositions of
one side, so that multiprocess mode (one set of files per process) can run each side apart:
``python -m tests.ops.metrics_replay fast|direct`` with ``PROMETHEUS_MULTIPROC_DIR`` set."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from server.metrics import (
    AUTO_DECISIONS,
    CALL_OUTCOMES,
    DIALECTS,
    FINISH_REASONS,
    OTHER,
    REQUEST_OUTCOMES,
    TOOL_OUTCOMES,
    Metrics,
)

MODELS = ["plain", "smol", "gpt"]
BACKENDS = ["fake", "local"]
ROUTES = {"plain": "fake", "smol": "local"}
SEPARATOR = b"\n=====\n"


def metrics() -> Metrics:
    return Metrics(MODELS, BACKENDS, routes=ROUTES)


class Direct:
    """The event methods as they were: label values folded by ``Metrics``' own public methods, then
    ``labels(…).inc()`` / ``observe()`` on its prometheus-client objects. Rendered from a registry of
    those objects alone, so nothing ``Metrics`` keeps itself reaches the output."""

    def __init__(self, m: Metrics) -> None:
        self.m = m
        self.in_flight = Gauge(
            "toolrelay_requests_in_flight", "Chat requests being served", registry=None, multiprocess_mode="livesum"
        )
        self.registry = CollectorRegistry()
        for metric in (
            m.requests, m.latency, m.ttft, m.upstream_latency, m.prompt_tokens, m.completion_tokens, m.tool_calls,
            m.finish, m.fallbacks, m.auto_decisions, m.auto_decision_latency, m.retries, m.errors, self.in_flight,
        ):  # fmt: skip
            self.registry.register(metric)

    def request(self, model: str, backend: str, outcome: str, seconds: float, dialect: str = "chat") -> None:
        m = self.m
        o = outcome if outcome in REQUEST_OUTCOMES else "error"
        d = dialect if dialect in DIALECTS else OTHER
        m.requests.labels(m.model(model), m.backend(backend), o, d).inc()
        m.latency.labels(m.model(model), o).observe(seconds)

    def first_token(self, model: str, seconds: float) -> None:
        self.m.ttft.labels(self.m.model(model)).observe(seconds)

    def upstream_call(self, backend: str, outcome: str, seconds: float) -> None:
        o = outcome if outcome in CALL_OUTCOMES else "error"
        self.m.upstream_latency.labels(self.m.backend(backend), o).observe(seconds)

    def usage(self, model: str, prompt: int, completion: int) -> None:
        self.m.prompt_tokens.labels(self.m.model(model)).inc(max(prompt, 0))
        self.m.completion_tokens.labels(self.m.model(model)).inc(max(completion, 0))

    def tool_call(self, family: str | None, outcome: str) -> None:
        self.m.tool_calls.labels(self.m.family(family), outcome if outcome in TOOL_OUTCOMES else OTHER).inc()

    def finish_reason(self, model: str, reason: str | None) -> None:
        self.m.finish.labels(self.m.model(model), reason if reason in FINISH_REASONS else OTHER).inc()

    def auto_decision(self, model: str, decision: str, seconds: float) -> None:
        d = decision if decision in AUTO_DECISIONS else OTHER
        self.m.auto_decisions.labels(self.m.model(model), d).inc()
        self.m.auto_decision_latency.labels(self.m.model(model)).observe(seconds)

    def fallback(self, model: str) -> None:
        self.m.fallbacks.labels(self.m.model(model)).inc()

    def retry(self, backend: str) -> None:
        self.m.retries.labels(self.m.backend(backend)).inc()

    def upstream_error(self, backend: str, kind: str) -> None:
        self.m.errors.labels(self.m.backend(backend), self.m.error_kind(kind)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def play(target: Metrics | Direct, render: Callable[[], bytes], *, steps: int = 3000, seed: int = 7) -> list[bytes]:
    """Random events over known and unknown names, odd values included (negative, +Inf, bucket
    bounds exactly, NaN), rendered at random points and at the end."""
    rng = random.Random(seed)
    models = [*MODELS, "nobody"]
    backends = [*BACKENDS, "ghost"]
    durations = [0.0, 0.01, 0.025, 0.1, 0.3, 1.0, 600.0, 601.0, 1e9, -1.0, float("inf")]

    def seconds() -> float:
        pick = rng.randrange(4)
        if pick == 0:
            return rng.choice(durations)
        return rng.random() if pick == 1 else rng.expovariate(3)

    def model() -> str:
        return rng.choice(models)

    def backend() -> str:
        return rng.choice(backends)

    t = target
    events: list[Callable[[], None]] = [
        lambda: t.in_flight.inc(),
        lambda: t.in_flight.dec(),
        lambda: t.request(
            model(), backend(), rng.choice([*REQUEST_OUTCOMES, "x"]), seconds(), rng.choice([*DIALECTS, "x"])
        ),
        lambda: t.first_token(model(), seconds()),
        lambda: t.upstream_call(backend(), rng.choice([*CALL_OUTCOMES, "odd"]), seconds()),
        lambda: t.usage(model(), rng.randrange(-5, 500), rng.randrange(-5, 500)),
        lambda: t.tool_call(rng.choice([None, "hermes", "upstream", "zzz"]), rng.choice([*TOOL_OUTCOMES, "meh"])),
        lambda: t.finish_reason(model(), rng.choice([*FINISH_REASONS, None, "end_turn"])),
        lambda: t.auto_decision(model(), rng.choice([*AUTO_DECISIONS, "x"]), seconds()),
        lambda: t.fallback(model()),
        lambda: t.retry(backend()),
        lambda: t.upstream_error(backend(), rng.choice(["GatewayTimeout", "rate_limited", "Nope"])),
    ]
    out = [render()]
    for _ in range(steps):
        rng.choice(events)()
        if rng.random() < 0.01:
            out.append(render())
    t.first_token("gpt", float("nan"))
    t.upstream_call("local", "error", float("nan"))
    out.append(render())
    return out


def main() -> None:
    side = sys.argv[1]
    m = metrics()
    if side == "fast":
        out = play(m, lambda: m.render()[0])
    else:
        # Rendered through Metrics.render as well: in multiprocess mode it reads the files the
        # reference's prometheus-client objects wrote, and Metrics' own values go to files only.
        out = play(Direct(m), lambda: m.render()[0])
    sys.stdout.buffer.write(SEPARATOR.join(out))


if __name__ == "__main__":
    main()
