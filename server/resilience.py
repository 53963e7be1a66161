"""Resilience primitives: retry delays, per-backend circuit breakers, in-flight limits.

Everything here is small, synchronous where it can be, and owns no I/O of its own, so the
dispatcher composes it and tests can drive it with a fake clock:

- ``retry_delay`` turns a ``RetryPolicy``, the attempt number and an upstream ``Retry-After``
  into how long to wait before the next try (exponential backoff with full jitter), or ``None``
  when the upstream asked for a longer wait than the policy allows.
- ``Circuit`` opens after N consecutive failures of one backend, lets one probe through after a
  cooldown (half-open), and closes on the probe's success.
- ``Gate`` is a non-blocking in-flight limit: ``try_enter`` either takes a slot or says no at
  once, so excess load is answered with 429 instead of waiting in an unbounded queue.

A streamed answer's first-byte, idle and total limits are the client's own waits
(``server.backends.http.timed_body`` over ``server.http1``): one timer per wait, none when data is
already there.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from server.config import RetryPolicy

Clock = Callable[[], float]

# The defaults of RetryPolicy.circuit_failures / circuit_cooldown, for a Circuit built alone.
CIRCUIT_FAILURES = 5
CIRCUIT_COOLDOWN = 10.0


# --------------------------------------------------------------------------- retries


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; ``None`` when
    absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds < 0:  # NaN or in the past: retry without waiting
        return 0.0
    return seconds


def retry_delay(
    policy: RetryPolicy, attempt: int, retry_after: str | None, rand: Callable[[], float] = random.random
) -> float | None:
    """Wait before retry number ``attempt`` (0 = the first retry).

    Full jitter (uniform in [0, backoff]) spreads clients that failed together; a server's
    ``Retry-After`` is a floor, honoured up to ``retry_after_max`` and otherwise a reason not to
    retry this backend at all (move on to a fallback instead of waiting minutes)."""
    backoff = min(policy.backoff_max, policy.backoff_initial * (2.0**attempt))
    delay = backoff * rand()
    asked = parse_retry_after(retry_after)
    if asked is not None:
        if asked > policy.retry_after_max:
            return None
        delay = max(delay, asked)
    return delay


# --------------------------------------------------------------------------- circuit breaker


@dataclass(slots=True)
class Circuit:
    """Consecutive-failure breaker for one backend model (backend name and upstream model id).

    closed → (``failures`` in a row) → open for ``cooldown`` s → half-open: one probe at a time;
    the probe's success closes the circuit, its failure opens it for another cooldown."""

    failures: int = CIRCUIT_FAILURES
    cooldown: float = CIRCUIT_COOLDOWN
    clock: Clock = time.monotonic
    _streak: int = 0
    _open_until: float = 0.0
    _probing: bool = False
    opened: int = field(default=0)  # times the circuit opened (for tests and logs)

    @property
    def state(self) -> str:
        if self._streak < self.failures:
            return "closed"
        return "open" if self.clock() < self._open_until or self._probing else "half_open"

    def allow(self) -> bool:
        """May a call go to this backend now? In half-open state only one probe is let through."""
        if self._streak < self.failures:
            return True
        if self.clock() < self._open_until or self._probing:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        self._streak = 0
        self._probing = False

    def failure(self) -> None:
        self._streak += 1
        self._probing = False
        if self._streak >= self.failures:
            if self.clock() >= self._open_until:
                self.opened += 1
            self._open_until = self.clock() + self.cooldown

    def retry_in(self) -> float:
        """Seconds until the next probe may go through (0 when calls are allowed now)."""
        return max(0.0, self._open_until - self.clock()) if self._streak >= self.failures else 0.0

    def release_probe(self) -> None:
        """A probe that ended without a verdict (the client left, a 4xx): let another probe try."""
        self._probing = False


# --------------------------------------------------------------------------- in-flight limits


class Gate:
    """A counter with a ceiling; ``try_enter`` never waits. ``limit=None`` means unlimited."""

    __slots__ = ("limit", "inside")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.inside = 0

    def try_enter(self) -> bool:
        if self.limit is not None and self.inside >= self.limit:
            return False
        self.inside += 1
        return True

    def leave(self) -> None:
        self.inside -= 1


class Lease:
    """A slot taken from one or more gates, given back exactly once however the request ends."""

    __slots__ = ("_gates",)

    def __init__(self, *gates: Gate) -> None:
        self._gates: tuple[Gate, ...] = gates

    def release(self) -> None:
        gates, self._gates = self._gates, ()
        for gate in gates:
            gate.leave()
