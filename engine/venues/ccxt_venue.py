"""The ccxt venue: the `AsyncVenue` protocol over ccxt's async client (built by `ccxt_client.make_exchange`),
for live trading and for rehearsals against the loopback emulator. Results are typed events.

Submission follows DESIGN.md's protocol (the state machine is `submission`):
1. the intent goes to the `IntentLog` (the journal) before the request leaves, and beside it the request's
   `timestamp` and `recvWindow` (what a restarted runner needs to prove an order absent);
2. an answer places or refuses it; a lost answer, a timeout, a 5xx or -1006/-1007 leaves it UNKNOWN;
3. an unknown order is looked up by client id (tenacity's backoff) until found, or proven never placed (the
   request's deadline passed on the venue's clock and `confirmations` spaced look-ups agree), and only then
   resent under the next attempt's client id: the old attempt closes with `OrderCancelled` ("never placed:
   ..."), the new one opens with `OrderSubmitted` (a runner maps it to the loop's order: `intent_of`).
   -2010 "Duplicate order sent." means the order exists: it is fetched and adopted, never resent.
429/418 are waited out (Retry-After, then backoff); a refusal is never retried, and is believed only once the
client id is looked up: a request the network delivered twice may be refused by its second copy (a market
order's "insufficient balance") after its first was placed, and then the placed order is ours. Fills come from the exchange's
trades by venue trade id, each reported once, the fee in the asset charged. `reconcile` brings journaled
orders to the exchange's truth after a restart and never sends an order; `audit` names what the exchange holds
that the books cannot explain (one client id on two orders, an order no journal row names), for a runner to
halt on.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ccxt
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, retry_if_result
from tenacity import stop_after_attempt, stop_after_delay, wait_exponential

from engine.core.calendar import DAY_MS
from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.events import Event, OrderCancelled, OrderRejected, OrderSubmitted
from engine.core.ids import parse_client_id, scope_tag
from engine.core.orders import Order, OrderStatus
from engine.venues.calls import Calls, RetryPolicy, waited_for
from engine.venues.ccxt_errors import KeyRefused, Outcome, VenueError, classify, describe, scrubbed, transient
from engine.venues.precision import FilterRefused, Request, prepare
from engine.venues.reports import VenueFill, dec, fill_of, order_of, progress
from engine.venues.submission import (BookedFill, IntentLog, JournaledOrder, Phase, ProofPolicy, Submission, Verdict,
                                      next_attempt)

__all__ = ["CcxtVenue", "VenueConfig"]

log = structlog.get_logger("gauntlet.venue")
_RESENDABLE = (Outcome.RATE_LIMITED, Outcome.STALE)  # refused before anything was done: the same id again
PAGE = 1000  # Binance's largest page of trades
MAX_LOOKBACK_MS = 366 * DAY_MS


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """Whose orders (`deployment`: the scope of every client id), in which markets, how an unknown order is
    proven absent, how requests are retried, and whether real money is at stake (`live`: the key is checked)."""

    deployment: str
    symbols: tuple[str, ...]
    proof: ProofPolicy = field(default_factory=ProofPolicy)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    live: bool = False


class CcxtVenue:
    """One deployment's orders on one exchange account. `await start()` before trading, `await close()` after."""

    def __init__(self, exchange: Any, config: VenueConfig, intents: IntentLog) -> None:
        if not config.symbols:
            raise ValueError("a ccxt venue needs the symbols it trades (myTrades is asked market by market)")
        self.exchange, self.config, self.intents = exchange, config, intents
        self.calls = Calls(exchange, config.retry)
        self.tag = scope_tag(config.deployment)
        self.submissions: dict[str, Submission] = {}  # every attempt seen, by client id, closed ones included
        self.log = log.bind(deployment=config.deployment)  # every line names whose orders

    @scrubbed
    async def start(self) -> None:
        """Load the markets; for live trading, refuse a key that can withdraw."""
        await self.calls.retried("load_markets")
        missing = [s for s in self.config.symbols if s not in self.exchange.markets]
        if missing:
            raise VenueError(f"{self.exchange.id} has no market {', '.join(missing)} (check the symbols, e.g. BTC/USDT)")
        if self.config.live:
            await self.check_key()

    @scrubbed
    async def check_key(self) -> None:
        """`KeyRefused` if the API key can withdraw funds (Binance's apiRestrictions): a trading bot's key must
        not be able to move money off the exchange."""
        if not hasattr(self.exchange, "sapi_get_account_apirestrictions"):
            raise KeyRefused(f"cannot read what this API key may do on {self.exchange.id}: live trading needs a key "
                             "known to be unable to withdraw")
        restrictions = await self.calls.retried("sapi_get_account_apirestrictions")
        if restrictions.get("enableWithdrawals"):
            raise KeyRefused("this API key can withdraw funds, so gauntlet will not trade live with it: in Binance's "
                             "API Management, untick 'Enable Withdrawals' for the key (and restrict it to trusted "
                             "IPs), or make a new trading-only key, then start again")
        if not restrictions.get("ipRestrict"):
            self.log.warning("venue.key_unrestricted", advice="restrict the API key to this machine's IP addresses")

    async def close(self) -> None:
        await self.exchange.close()

    def phase(self, client_id: str) -> Phase | None:
        """Where the submission of `client_id` stands (`Phase.UNKNOWN`: sent, fate not yet known)."""
        sub = self.submissions.get(client_id)
        return None if sub is None else sub.phase

    def trail(self, client_id: str) -> tuple[str, ...]:
        """What happened to the submission of `client_id`, in words."""
        sub = self.submissions.get(client_id)
        return () if sub is None else tuple(sub.trail)

    # -- submitting ---------------------------------------------------------------------------------------------

    @scrubbed
    async def submit(self, command: SubmitOrder) -> list[Event]:
        """Journal the intent, send it, and say what became of it; an unknown outcome is resolved here (within
        the proof policy's patience; past it the order stays UNKNOWN for `poll`)."""
        order = command.order
        if order.client_id in self.submissions:
            raise ValueError(f"order {order.client_id} was submitted already: a client id names one intent, once")
        stamp = self._stamp()
        self.intents.record_intent(self.config.deployment, order, stamp)
        sub = Submission(order.copy(), stamp, self.config.proof.recv_window_ms, last_px=command.last_px)
        self.submissions[order.client_id] = sub
        return await self._attempt(sub)

    async def _attempt(self, sub: Submission) -> list[Event]:
        """Send one attempt: refused here if it breaks a filter, else what its answer (or silence) says."""
        try:
            request = prepare(self.exchange, sub.order, sub.last_px)
        except FilterRefused as refusal:
            self.log.info("venue.refused_locally", client_id=sub.client_id, reason=refusal.reason, detail=refusal.detail)
            return self._refuse(sub, refusal.reason, f"{refusal.reason} ({refusal.detail}), refused before sending")
        except ccxt.BaseError as exc:  # a market the exchange does not list: never sent
            return self._refuse(sub, describe(exc, self.calls.secrets()))
        try:
            answer = await self._send(sub, request)
        except ccxt.BaseError as exc:
            outcome, words = classify(exc), describe(exc, self.calls.secrets())
            if outcome is Outcome.REFUSED and (found := await self._first_copy(sub, exc)) is not None:
                self.log.warning("venue.refused_copy", client_id=sub.client_id, error=words,
                            detail="the request was delivered twice: its first copy placed the order")
                return await self._report(sub, found, None)
            if outcome in (Outcome.REFUSED, *_RESENDABLE):  # refused (a 429 or -1021 after every retry too)
                return self._refuse(sub, words)
            sub.unknown(words, exists=outcome is Outcome.EXISTS)
            self.log.warning("venue.unknown", client_id=sub.client_id, error=words)
            return await self._resolve(sub, resend=True)
        sub.placed(str(answer["id"]), "answered")
        self.intents.note_venue_state(sub.client_id, {"request": self._request_note(sub, request),
                                                      "order": answer.get("info") or {}}, self._stamp())
        return await self._report(sub, answer, answer.get("trades"))

    async def _first_copy(self, sub: Submission, refusal: ccxt.BaseError) -> dict[str, Any] | None:
        """The order a refused request's earlier copy placed, if the network delivered it twice (a key the
        exchange refuses cannot have placed anything; a look-up that fails leaves the refusal standing)."""
        if isinstance(refusal, (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)):
            return None
        try:
            return await self._find(sub, retried=True)
        except ccxt.BaseError:
            return None

    def _refuse(self, sub: Submission, reason: str, detail: str = "") -> list[Event]:
        sub.refused(detail or reason)
        return [OrderRejected(self._stamp(), sub.client_id, reason)]

    async def _send(self, sub: Submission, request: Request) -> dict[str, Any]:
        """The request, sent again (same client id, fresh timestamp) only when the exchange turned it away
        before doing anything (429/418 after Retry-After, -1021); each send's timestamp is journaled first."""
        policy = self.config.retry
        retrying = AsyncRetrying(retry=retry_if_exception(lambda e: isinstance(e, ccxt.BaseError)
                                                          and classify(e) in _RESENDABLE),
                                 wait=policy.backoff(), stop=stop_after_attempt(policy.tries) | policy.too_long,
                                 reraise=True)
        async for attempt in retrying:
            with attempt:
                sub.sent(self._stamp(), self.config.proof.recv_window_ms)
                self.intents.note_venue_state(sub.client_id, {"request": self._request_note(sub, request)},
                                              sub.timestamp_ms)
                params = {**request.params, "clientOrderId": sub.client_id, "timestamp": sub.timestamp_ms,
                          "recvWindow": sub.recv_window_ms}
                return await self.calls.once("create_order", request.symbol, request.type, request.side,
                                             request.amount, request.price, params)
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    async def _resolve(self, sub: Submission, *, resend: bool) -> list[Event]:
        """Look an unknown order up until it is found or proven absent; an absent one is closed and, if
        `resend`, sent again under its next attempt's id. Still unknown after the policy's patience: []."""
        found = await self._look(sub)
        if isinstance(found, dict):
            return await self._report(sub, found, None)
        if found is not Verdict.ABSENT:
            self.log.warning("venue.still_unknown", client_id=sub.client_id, trail=sub.trail[-1:])
            return []
        nxt = next_attempt(sub.client_id, self.config.deployment) if resend else None
        if nxt is not None and nxt[1] >= self.config.proof.max_attempts:
            nxt = None
        sub.closed = True
        reason = sub.proof(self.config.proof) + (f"; resent as {nxt[0]}" if nxt else "")
        self.log.warning("venue.never_placed", client_id=sub.client_id, resent_as=nxt[0] if nxt else None)
        events: list[Event] = [OrderCancelled(self._stamp(), sub.client_id, reason)]
        return events + (await self._resend(sub, nxt[0]) if nxt else [])

    async def _look(self, sub: Submission) -> dict[str, Any] | Verdict | None:
        """Spaced look-ups by client id (tenacity): the order, `Verdict.ABSENT`, or None (patience ran out)."""
        proof = self.config.proof
        backoff = wait_exponential(multiplier=proof.spacing_s / 8, min=proof.spacing_s / 8, max=proof.spacing_s)

        def wait(state: RetryCallState) -> float:  # counted misses are spaced; a 429's Retry-After is honoured
            return max(proof.spacing_s if sub.misses else backoff(state), waited_for(state))

        retrying = AsyncRetrying(retry=retry_if_result(lambda r: r is Verdict.LOOK_AGAIN) | retry_if_exception(transient),
                                 wait=wait, stop=stop_after_delay(proof.patience_s),
                                 retry_error_callback=lambda state: None)
        return await retrying(self._probe, sub)

    async def _probe(self, sub: Submission) -> dict[str, Any] | Verdict:
        venue_ms = int(await self.calls.once("fetch_time"))  # read before the look-up: a miss after it counts
        found = await self._find(sub, retried=False)
        verdict = sub.observe(found is not None, venue_ms, self.config.proof)
        return found if found is not None else verdict

    async def _resend(self, sub: Submission, client_id: str) -> list[Event]:
        """The same intent under its next attempt's id: journaled, announced (`OrderSubmitted`), sent."""
        order = dataclasses.replace(sub.order, client_id=client_id, status=OrderStatus.PENDING, filled_qty=0.0,
                                    spent=0.0, avg_px=0.0, fees=0.0, reason="", venue_order_id="")
        stamp = self._stamp()
        self.intents.record_intent(self.config.deployment, order, stamp)
        new = Submission(order, stamp, self.config.proof.recv_window_ms, last_px=sub.last_px)
        self.submissions[client_id] = new
        announced = OrderSubmitted(stamp, client_id, order.side, order.type.value, order.qty, order.quote_qty,
                                   order.limit_px, order.stop_px, order.reduce_only)
        return [announced, *await self._attempt(new)]

    # -- following orders ---------------------------------------------------------------------------------------

    @scrubbed
    async def cancel(self, command: CancelOrder) -> list[Event]:
        """Cancel by client id (retried: cancelling twice is harmless) and report what the order did before
        it ended. An unknown order is resolved first (absent: closed, not resent)."""
        sub = self.submissions.get(command.client_id)
        if sub is None:
            raise VenueError(f"order {command.client_id} is not known to this venue: reconcile the journal first")
        if sub.closed:
            return []
        sub.cancel_reason = command.reason
        events = await self._resolve(sub, resend=False) if sub.phase in (Phase.SENDING, Phase.UNKNOWN) else []
        if sub.closed:  # proven never placed, or it ended while it was being found
            return events
        try:  # still unknown after the look-ups: cancelled by name all the same, in case it appears
            await self.calls.retried("cancel_order", None, sub.symbol, {"clientOrderId": sub.client_id})
        except ccxt.OrderNotFound:
            pass  # not open any more: its state below says why (filled, expired), or not visible yet
        found = await self._find(sub, retried=True)
        return events + (await self._report(sub, found, None) if found is not None else [])

    @scrubbed
    async def sync(self, client_id: str, *, resend: bool = True) -> list[Event]:
        """What the exchange did with `client_id` since last asked: acceptance, new fills (once per trade
        id), its end. An unknown one is resolved (and, if proven absent, resent unless `resend` is False)."""
        sub = self.submissions.get(client_id)
        if sub is None or sub.closed:
            return []
        if sub.phase in (Phase.SENDING, Phase.UNKNOWN):
            return await self._resolve(sub, resend=resend)
        found = await self._find(sub, retried=True)
        return [] if found is None else await self._report(sub, found, None)

    @scrubbed
    async def poll(self) -> list[Event]:
        """`sync` of every order this venue follows that has not ended."""
        events: list[Event] = []
        for client_id in [cid for cid, sub in self.submissions.items() if not sub.closed]:
            events += await self.sync(client_id)
        return events

    async def _report(self, sub: Submission, order: dict[str, Any], trades: list[dict] | None) -> list[Event]:
        """The events `order` adds, with its trades fetched when the answer did not carry them all (and the
        order fetched again if its trades are newer than it: a fill is `done` only once the order is)."""
        if sub.phase is not Phase.PLACED:
            sub.placed(str(order["id"]), "found by client id")
        trades, filled = list(trades or []), dec(order.get("filled"))
        if filled > sum((dec(t["amount"]) for t in trades), dec(0)):
            trades = await self.calls.retried("fetch_my_trades", sub.symbol, None, PAGE, {"orderId": order["id"]})
            if sum((dec(t["amount"]) for t in trades), dec(0)) > filled:
                order = await self._find(sub, retried=True) or order
        return progress(sub, order, trades, self._stamp())

    async def _find(self, sub: Submission, *, retried: bool) -> dict[str, Any] | None:
        """The exchange's order named `sub`'s client id, or None if it says there is none (yet)."""
        call = self.calls.retried if retried else self.calls.once
        try:
            return await call("fetch_order", None, sub.symbol, {"clientOrderId": sub.client_id})
        except ccxt.OrderNotFound:
            return None

    # -- the rest of the protocol -------------------------------------------------------------------------------

    @scrubbed
    async def order(self, client_id: str) -> Order | None:
        """The exchange's copy of our order `client_id`, or None."""
        sub = self.submissions.get(client_id)
        for symbol in (sub.symbol,) if sub else self.config.symbols:
            try:
                return order_of(await self.calls.retried("fetch_order", None, symbol, {"clientOrderId": client_id}))
            except ccxt.OrderNotFound:
                continue
        return None

    @scrubbed
    async def open_orders(self) -> list[Order]:
        """This deployment's open orders (client ids in its scope), in every market it trades."""
        found = []
        for symbol in self.config.symbols:
            found += [order_of(o) for o in await self.calls.retried("fetch_open_orders", symbol) if self._ours(o)]
        return found

    @scrubbed
    async def trades_since(self, ts_ms: int) -> list[VenueFill]:
        """This deployment's fills at or after `ts_ms`, oldest first, with venue trade ids and fees as charged."""
        fills: list[VenueFill] = []
        for symbol in self.config.symbols:
            names = {s.venue_order_id: cid for cid, s in self.submissions.items() if s.venue_order_id}
            for trade in await self._since("fetch_my_trades", symbol, ts_ms):
                order_id = str(trade["order"])
                if order_id not in names:
                    names[order_id] = str((await self.calls.retried("fetch_order", order_id, symbol)).get(
                        "clientOrderId") or "")
                if self._ours({"clientOrderId": names[order_id]}):
                    fills.append(fill_of(trade, names[order_id]))
        return sorted(fills, key=lambda f: (f.ts_ms, f.symbol, f.trade_id))

    async def _since(self, method: str, symbol: str, ts_ms: int) -> list[dict[str, Any]]:
        """Every trade (`fetch_my_trades`) or order (`fetch_orders`) of the account in `symbol` from `ts_ms` to
        now, a day's window at a time (Binance answers at most 24 hours a request), a full page continued from
        its last record's time."""
        now = int(await self.calls.retried("fetch_time"))
        if ts_ms < now - MAX_LOOKBACK_MS:
            raise ValueError(f"records since {ts_ms} reach back more than {MAX_LOOKBACK_MS // DAY_MS} days (one "
                             "request a day): ask from the journal's last fill")
        found: dict[str, dict[str, Any]] = {}
        start = ts_ms
        while start <= now:
            end = min(start + DAY_MS - 1, now)
            page = await self.calls.retried(method, symbol, start, PAGE, {"endTime": end})
            found.update((str(t["id"]), t) for t in page)
            full = len(page) == PAGE and int(page[-1]["timestamp"]) > start
            start = int(page[-1]["timestamp"]) if full else end + 1
        return sorted(found.values(), key=lambda t: (int(t["timestamp"]), int(t["id"])))

    @scrubbed
    async def audit(self, since_ms: int, journaled: Iterable[str]) -> list[str]:
        """What the exchange holds of this deployment since `since_ms` that the books cannot explain: a client
        id on more than one exchange order (a request delivered twice by the network: Binance keeps client ids
        unique among open orders only, so a repeated market order fills twice), or an order of ours that no
        journaled client id names. Empty: nothing to halt for."""
        known, problems = set(journaled), []
        for symbol in self.config.symbols:
            ours = [o for o in await self._since("fetch_orders", symbol, since_ms) if self._ours(o)]
            ids: dict[str, list[str]] = defaultdict(list)
            for order in ours:
                ids[order["clientOrderId"]].append(str(order["id"]))
            problems += [f"{cid} names {len(found)} orders on {symbol} ({', '.join(found)}): one intent, placed "
                         f"{len(found)} times" for cid, found in ids.items() if len(found) > 1]
            problems += [f"{cid} ({symbol}, order {found[0]}) is in no journal row" for cid, found in ids.items()
                         if cid not in known]
        return problems

    @scrubbed
    async def balances(self) -> dict[str, float]:
        """Every asset's total (free and locked), as the exchange reports it."""
        balance = await self.calls.retried("fetch_balance")
        return {asset: float(total) for asset, total in (balance.get("total") or {}).items() if total is not None}

    # -- recovery -----------------------------------------------------------------------------------------------

    @scrubbed
    async def reconcile(self, orders: Iterable[JournaledOrder], booked: Iterable[BookedFill] = ()) -> list[Event]:
        """The events that bring journaled orders to the exchange's truth after a restart: accepted, filled
        while we were down (trades not in `booked`), cancelled or expired, or never placed (proven as in
        `submit`, then closed, not resent). Terminal orders are skipped; a second run adds nothing."""
        trade_ids = _trade_ids(booked)
        events: list[Event] = []
        for record in orders:
            if not record.is_open:
                continue
            sub = self.submissions.get(record.client_id) or self._adopt(record, trade_ids[record.client_id])
            if sub.closed:
                continue
            if sub.phase is Phase.PLACED:
                found = await self._find(sub, retried=True)
                events += [] if found is None else await self._report(sub, found, None)
            else:
                events += await self._resolve(sub, resend=False)
        return events

    def follow(self, orders: Iterable[JournaledOrder], booked: Iterable[BookedFill] = ()) -> None:
        """Follow journaled orders again without asking the exchange yet (`sync` or `poll` will): a restarted
        runner's intents whose candle it is about to handle again."""
        trade_ids = _trade_ids(booked)
        for record in orders:
            if record.is_open and record.client_id not in self.submissions:
                self._adopt(record, trade_ids[record.client_id])

    def _adopt(self, record: JournaledOrder, booked: set[str]) -> Submission:
        """A journaled order followed again: the request's time from the note beside the intent (else the
        intent's), placed if the venue had answered, with the fills the journal booked as reported."""
        state = record.venue_state or {}
        request = state.get("request") or {}
        order = Order(record.client_id, record.symbol, record.side, record.qty, record.type, record.quote_qty,
                      record.limit_px, record.stop_px, record.tif, record.reduce_only)
        sub = Submission(order, int(request.get("timestamp") or record.intent_ms), int(request.get("recvWindow") or 0),
                         reported=set(booked), reported_qty=dec(record.filled_qty))
        if record.venue_order_id:
            sub.accepted = True
            sub.placed(record.venue_order_id, "journaled as accepted")
        else:
            sub.unknown("journaled with no answer from the venue", exists="order" in state)
        self.submissions[record.client_id] = sub
        return sub

    # -- helpers ------------------------------------------------------------------------------------------------

    def _stamp(self) -> int:
        """Now on the clock requests are signed with (the venue's, as far as the client knows it)."""
        return int(self.exchange.nonce())

    def _ours(self, order: dict[str, Any]) -> bool:
        parsed = parse_client_id(str(order.get("clientOrderId") or ""))
        return parsed is not None and parsed.scope == self.tag

    def _request_note(self, sub: Submission, request: Request) -> dict[str, Any]:
        return {"timestamp": sub.timestamp_ms, "recvWindow": sub.recv_window_ms, **request.describe()}


def _trade_ids(booked: Iterable[BookedFill]) -> defaultdict[str, set[str]]:
    """The trade ids the journal booked, by client id: the fills an adopted order has reported already."""
    ids: defaultdict[str, set[str]] = defaultdict(set)
    for fill in booked:
        ids[fill.client_id].add(fill.trade_id)
    return ids
