"""Requests to an exchange through ccxt, retried by one policy (tenacity): only what is worth asking again
(`ccxt_errors.transient`), never sooner than the exchange's Retry-After, with exponential backoff between,
and never a refusal (a bad order, missing funds, a bad key), which no retry changes.

Placing an order is not retried here: whether that is safe depends on what the failure says of the order,
which the ccxt venue decides (`RetryPolicy` still paces its resends after a 429).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ccxt
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

from engine.venues.ccxt_errors import describe, retry_after_s, transient

__all__ = ["Calls", "RetryPolicy"]

log = structlog.get_logger("gauntlet.venue")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a request is asked again. A Retry-After longer than `max_retry_after_s`
    (an IP ban of hours) is not waited out: the call fails and says so."""

    tries: int = 6
    base_s: float = 0.25
    max_s: float = 10.0
    max_retry_after_s: float = 120.0

    def backoff(self) -> Callable[[RetryCallState], float]:
        """Tenacity's wait: exponential from `base_s` up to `max_s`, never shorter than the Retry-After of the
        failure that asked for it."""
        exponential = wait_exponential(multiplier=self.base_s, min=self.base_s, max=self.max_s)

        def wait(state: RetryCallState) -> float:
            return max(exponential(state), waited_for(state))

        return wait

    def too_long(self, state: RetryCallState) -> bool:
        return waited_for(state) > self.max_retry_after_s


def waited_for(state: RetryCallState) -> float:
    """The Retry-After the last failure carried (0 if it carried none)."""
    exc = state.outcome.exception() if state.outcome is not None and state.outcome.failed else None
    return float(getattr(exc, "retry_after_s", 0.0) or 0.0)


class Calls:
    """An exchange's methods, called once (`once`) or under the retry policy (`retried`)."""

    def __init__(self, exchange: Any, policy: RetryPolicy) -> None:
        self.exchange, self.policy = exchange, policy

    async def once(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One request. A 429/418 leaves with its Retry-After attached (`retry_after_s`), read before anything
        else can answer on this client."""
        try:
            return await getattr(self.exchange, method)(*args, **kwargs)
        except ccxt.DDoSProtection as exc:
            exc.retry_after_s = retry_after_s(self.exchange)  # type: ignore[attr-defined]
            raise

    async def retried(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """The request, asked again on transient failures (lost answers, timeouts, 5xx, 429s) until it
        succeeds, the policy's tries run out, or a ban outlasts its patience; then the last error is raised."""
        retrying = AsyncRetrying(retry=retry_if_exception(transient), wait=self.policy.backoff(),
                                 stop=stop_after_attempt(self.policy.tries) | self.policy.too_long, reraise=True,
                                 before_sleep=self._log_retry(method))
        return await retrying(self.once, method, *args, **kwargs)

    def secrets(self) -> tuple[str, ...]:
        """The credential values a message must never carry."""
        return tuple(str(v) for v in (getattr(self.exchange, name, None) for name in ("apiKey", "secret", "password"))
                     if v)

    def _log_retry(self, method: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            log.warning("venue.retry", call=method, attempt=state.attempt_number,
                        error=describe(exc, self.secrets()) if exc else "", wait_s=round(state.upcoming_sleep, 3))

        return before_sleep
