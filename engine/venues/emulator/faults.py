"""Fault injection: the ways an exchange and the network between misbehave, each for the next N matching
requests (or for good), after letting some through.

Most production losses of trading bots happen between "request sent" and "response received", so besides
the transport faults (429, 418, 503, timeouts, resets, cut-off bodies) there are the trading ones: the answer
lost after the order was accepted, an order invisible to queries for a while after it was placed (Binance's
"Memory => Database" lag), "execution status unknown" with the order placed or not, and one request
delivered twice.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields

from aiohttp import web

from engine.venues import binance_wire as wire

FAULT_KINDS = ("rate_limit", "ip_ban", "unavailable", "timeout", "truncate", "reset", "bad_api_key",
               "lost_response", "invisible", "status_unknown", "duplicate")
_REFUSALS = ("rate_limit", "ip_ban", "unavailable", "bad_api_key")  # answered with an error, nothing done
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
INVISIBLE_S = web.RequestKey("invisible_s", float)  # how long the order a request places stays out of queries


@dataclass(slots=True)
class Fault:
    """Misbehaviour for the next `times` requests whose path starts with `path` (and whose method is
    `method`, when given; `times=None`: forever), after letting `skip` of them through untouched.

    - `rate_limit` (429 with Retry-After), `ip_ban` (418), `unavailable` (503), `bad_api_key` (401, -2015):
      an error instead of an answer; nothing is done.
    - `timeout`: the request is processed `delay_s` late, after the client has given up on it.
    - `truncate`: the answer is cut in half; `reset`: the connection is dropped and nothing is done.
    - `lost_response`: the request is processed (an order is placed), then the connection is dropped.
    - `invisible`: the order a `POST /api/v3/order` places is missing from every query for `delay_s` wall
      seconds (GET order answers -2013 meanwhile); cancelling and the duplicate check still see it.
    - `status_unknown`: Binance's -1007 (`code=-1006` for the other one), after processing the request if
      `placed`, without if not.
    - `duplicate`: the request is processed twice and the client gets the second answer, as behind a
      retrying proxy (for a resting order: -2010 "Duplicate order sent.").

    `hidden_s` adds the database lag to any fault that lets a placement through (`lost_response`,
    `status_unknown`, `timeout`, `duplicate`, `truncate`): the order it places stays out of queries for that
    many wall seconds, so "the answer was lost" and "the order cannot be found yet" happen together.
    """

    kind: str
    times: int | None = 1
    path: str = "/api/v3/"
    method: str = ""
    retry_after_s: int = 0
    delay_s: float = 1.0
    skip: int = 0
    code: int = -1007
    placed: bool = True
    hidden_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; choose from {', '.join(FAULT_KINDS)}")
        if self.kind == "status_unknown" and self.code not in (-1006, -1007):
            raise ValueError(f"status_unknown is Binance's -1006 or -1007, not {self.code}")

    def matches(self, method: str, path: str) -> bool:
        if self.kind == "invisible" and (method, path) != ("POST", "/api/v3/order"):
            return False  # only an order placement can be invisible
        return path.startswith(self.path) and (not self.method or method == self.method.upper())

    @classmethod
    def parse(cls, text: str) -> Fault:
        """`KIND[,key=value...]` as the command line gives it, e.g. `invisible,delay_s=3` or
        `rate_limit,times=5,path=/api/v3/klines,retry_after_s=2` (`times=forever` never clears)."""
        kind, *pairs = [part.strip() for part in text.split(",") if part.strip()]
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or key not in types or key == "kind":
                raise ValueError(f"fault {text!r}: expected KIND[,key=value...] with keys from "
                                 f"{', '.join(n for n in types if n != 'kind')}")
            values[key] = _typed(types[key], value)
        return cls(kind, **values)  # type: ignore[arg-type]


def _typed(annotation: str, value: str) -> object:
    if "bool" in annotation:
        return value.lower() in ("1", "true", "yes")
    if "None" in annotation and value.lower() in ("none", "forever"):
        return None
    if "int" in annotation:
        return int(value)
    return float(value) if "float" in annotation else value


class FaultBook:
    """The faults waiting for requests; injected from any thread, taken by the server's."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault this request meets, if any, counted down (a skipped request meets none)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None


async def serve_faulty(fault: Fault, request: web.Request, handler: Handler, now_ms: int) -> web.StreamResponse:
    """Answer `request` the way `fault` says (`handler` is what answers it normally)."""
    kind = fault.kind
    if fault.hidden_s > 0:
        request[INVISIBLE_S] = fault.hidden_s  # read by the order placement
    if kind in _REFUSALS:
        return _refusal(fault, now_ms)
    if kind == "reset":
        return _hang_up(request)
    if kind == "timeout":
        await request.read()  # the request arrived whole; it is processed after the client has given up
        await asyncio.sleep(fault.delay_s)
        return await handler(request)
    if kind == "status_unknown":
        if fault.placed:
            await handler(request)
        status, body = wire.error_body(f"status_unknown_{-fault.code}")
        return web.json_response(body, status=status)
    if kind == "duplicate":
        await handler(request)
        return await handler(request)
    if kind == "invisible":
        request[INVISIBLE_S] = fault.delay_s  # read by the order placement
    response = await handler(request)
    if kind == "lost_response":
        return _hang_up(request)
    if kind == "truncate":
        return await _truncated(request, response)
    return response


def _refusal(fault: Fault, now_ms: int) -> web.Response:
    until = now_ms + fault.retry_after_s * 1000
    status, body = wire.error_body(fault.kind, until=until) if fault.kind == "ip_ban" else wire.error_body(fault.kind)
    return web.json_response(body, status=status, headers={"Retry-After": str(fault.retry_after_s)})


def _hang_up(request: web.Request) -> web.Response:
    """Close the connection without a word: the client sees it dropped (what aiohttp then writes goes nowhere)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response()


async def _truncated(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Announce the whole body, send half of it, hang up."""
    data = response.body if isinstance(response, web.Response) and isinstance(response.body, bytes) else b"{}"
    cut = web.StreamResponse(status=response.status, headers={"Content-Type": "application/json"})
    cut.content_length = len(data)
    await cut.prepare(request)
    await cut.write(data[: len(data) // 2])
    if request.transport is not None:
        request.transport.close()
    return cut
