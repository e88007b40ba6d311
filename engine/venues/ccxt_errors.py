"""What a ccxt error says about a request's fate, in one place, because the venue's safety rests on it.

"The request failed" has five meanings for an order, and confusing two of them loses money:

- `REFUSED`: the exchange answered no (a filter, the balance, the key): nothing exists; never retried.
- `EXISTS`: Binance's -2010 "Duplicate order sent.": an order with this client id is open; fetch it.
- `RATE_LIMITED`: 429 or 418: the request was turned away before anything was done; wait Retry-After.
- `STALE`: -1021, the timestamp fell outside recvWindow: refused for its time; sign again.
- `UNKNOWN`: no answer (a dropped connection, a timeout), a 5xx, Binance's -1006/-1007, or an error we
  cannot place: the exchange may have acted. Never a refusal: the order is looked up by client id.
- `NOT_FOUND`: a look-up's -2013/-2011.

ccxt 4.5.90's classes, measured against the emulator: 429/418 -> DDoSProtection; 503/-1001 and -1006 ->
OperationFailed (the parent of NetworkError, not a child); -1007 -> RequestTimeout; -1021 -> InvalidNonce
(a NetworkError); -2010 "Duplicate order sent." -> InvalidOrder; -2013/-2011 -> OrderNotFound; -1013 ->
InvalidOrder (LOT_SIZE, PRICE_FILTER) or BadRequest (NOTIONAL). So the order of the checks below matters.

Messages leave here scrubbed (`describe`): ccxt puts the signed URL of a timed-out GET in its message, and
nothing derived from a credential goes into an event, a journal row, a log line or an exception.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Any, TypeVar

import ccxt

__all__ = ["KeyRefused", "Outcome", "VenueError", "classify", "describe", "redact", "retry_after_s", "scrubbed",
           "transient"]


class Outcome(StrEnum):
    REFUSED = "refused"
    EXISTS = "exists"
    RATE_LIMITED = "rate_limited"
    STALE = "stale"
    UNKNOWN = "unknown"
    NOT_FOUND = "not_found"


_REFUSALS = (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended, ccxt.InsufficientFunds,
             ccxt.InvalidOrder, ccxt.BadRequest, ccxt.BadSymbol, ccxt.ArgumentsRequired, ccxt.NotSupported)
_DUPLICATE = "Duplicate order sent"
T = TypeVar("T")
_SIGNED = re.compile(r"(signature|apiKey|api_key|secret)=[^&\s\"']*", re.IGNORECASE)
_QUERY = re.compile(r"(https?://\S+?)\?\S*")


class VenueError(RuntimeError):
    """A venue call that cannot succeed as asked (refused, or still failing after the retries); the message
    is the exchange's, scrubbed of anything signed."""


class KeyRefused(VenueError):
    """The API key may do more than trading (withdraw funds): refused for live trading, with what to change."""


def classify(exc: BaseException) -> Outcome:
    """The fate of the request that raised `exc` (a ccxt error; anything else is a bug and is not asked)."""
    if isinstance(exc, ccxt.OrderNotFound):
        return Outcome.NOT_FOUND
    if isinstance(exc, ccxt.InvalidOrder) and _DUPLICATE in str(exc):
        return Outcome.EXISTS
    if isinstance(exc, ccxt.DDoSProtection):
        return Outcome.RATE_LIMITED
    if isinstance(exc, ccxt.InvalidNonce):
        return Outcome.STALE
    if isinstance(exc, ccxt.NetworkError):
        return Outcome.UNKNOWN
    if isinstance(exc, _REFUSALS):
        return Outcome.REFUSED
    return Outcome.UNKNOWN  # OperationFailed (5xx, -1001, -1006), BadResponse, an unmapped ExchangeError


def transient(exc: BaseException) -> bool:
    """Worth asking again (a look-up, a cancel, a balance): the request did nothing or did something
    harmless to repeat."""
    return isinstance(exc, ccxt.BaseError) and classify(exc) in (Outcome.RATE_LIMITED, Outcome.STALE, Outcome.UNKNOWN)


def describe(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The exchange's own words (Binance's `msg`) where it gave some, else ccxt's message without the query
    string of any URL in it; every credential value in `secrets` is blanked in case an exchange echoed one."""
    text = str(exc)
    try:
        parsed = json.loads(text[text.index("{"):])
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("msg"), str):
        text = parsed["msg"]
    text = _QUERY.sub(r"\1", redact(text, secrets))
    return f"{type(exc).__name__}: {text}" if classify(exc) is not Outcome.REFUSED else text


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every signature (and key or secret passed as a parameter) blanked, and every value in
    `secrets` (the credentials themselves) too."""
    text = _SIGNED.sub(r"\1=…", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "…")
    return text


def scrubbed(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """A venue method whose ccxt errors leave as `VenueError`, their message described and scrubbed (ccxt
    puts a timed-out request's signed URL in its message), the original not chained."""

    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        try:
            return await method(self, *args, **kwargs)
        except ccxt.BaseError as exc:
            words = describe(exc, self.calls.secrets())
        raise VenueError(f"{method.__name__}: {words}")

    return wrapper


def retry_after_s(exchange: Any) -> float:
    """The Retry-After of the exchange's last answer, in seconds (0 when it gave none). Read right where the
    error surfaced: ccxt sets the headers and raises with no await between, so they are this answer's."""
    headers = getattr(exchange, "last_response_headers", None) or {}
    value = next((v for k, v in dict(headers).items() if str(k).lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else 0.0
    except ValueError:
        return 0.0
