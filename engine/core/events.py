"""Events: what happened, in order, as typed records with structured fields. Replay keeps them in a list,
the live runner will journal them, and the books are a fold over them.

Each is a past-tense `NamedTuple` (immutable, and the cheapest record Python builds in a hot loop) with
`ts_ms` first: the open time of the bar during which it happened, UTC. A `kind` class attribute names the
type in text (journals, CSV). Nothing here is prose for a program to parse back: a risk refusal says which
rule and the figures; `describe()` turns a record into words for people.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BarClosed", "Decided", "Event", "FlattenOrdered", "InterestCharged", "OrderAccepted", "OrderCancelled", "OrderFilled",
           "OrderRejected", "OrderSubmitted", "RiskChecked", "RISK_RULES", "RUNNER_RULES"]

# the rules a risk check can name, in the order they are checked (the first failing one decides)
RISK_RULES = {
    "require_stop": "the strategy must carry a stop-loss on every entry",
    "cooldown": "cooling down after a losing streak",
    "max_drawdown": "drawdown circuit breaker",
    "daily_loss": "daily loss limit",
    "max_positions": "max concurrent positions reached",
    "position_limit": "above the position/exposure limit",
}
# the rules a runner adds in front of the venue, across a deployment's loop (paper and live only: a replay has
# no feed to go stale, no kill switch and no other deployments); each refusal is a `RiskChecked` naming one
RUNNER_RULES = {
    "kill_switch": "the kill switch is latched",
    "stale_data": "candles arrive late: no new entries until the data is fresh",
    "portfolio_drawdown": "the portfolio's drawdown halt",
    "portfolio_exposure": "above the portfolio's total exposure limit",
    "portfolio_asset": "above one asset's share of the portfolio",
}
RISK_RULES.update(RUNNER_RULES)


class BarClosed(NamedTuple):
    """`bars` bars closed, the last opening at `ts_ms`: one record may stand for an idle stretch."""

    ts_ms: int
    bars: int = 1
    kind = "bar_closed"

    def describe(self) -> str:
        return f"{self.bars} bar(s) closed" if self.bars > 1 else "bar closed"


class Decided(NamedTuple):
    """The strategy's decision at the close of the bar opening `decided_ms` takes effect."""

    ts_ms: int
    decided_ms: int
    intent: str  # long entry, short entry, long exit, short exit, reverse to long, reverse to short
    kind = "decided"

    def describe(self) -> str:
        return f"{self.intent} decided at the close of the bar opening {self.decided_ms}"


class RiskChecked(NamedTuple):
    """The risk rules on an entry: what sizing wanted, what they allowed, and the rule that cut or refused it."""

    ts_ms: int
    equity: float
    wanted_quote: float
    allowed_quote: float
    rule: str | None = None  # a key of RISK_RULES; None: allowed in full
    peak: float = 0.0  # the figures the rule compared: peak equity, the day's opening equity
    day_start: float = 0.0
    cooldown_until_ms: int = 0
    kind = "risk_checked"

    @property
    def outcome(self) -> str:
        return "allowed" if self.rule is None else "blocked" if self.allowed_quote <= 0 else "cut"

    def describe(self) -> str:
        if self.rule is None:
            return f"allowed: {self.allowed_quote:.2f} of {self.equity:.2f} equity"
        detail = {"max_drawdown": f", equity {self.equity:.2f} is {1 - self.equity / self.peak:.1%} below the peak "
                                  f"{self.peak:.2f}" if self.peak else "",
                  "daily_loss": f", equity {self.equity:.2f} vs {self.day_start:.2f} at the day's start",
                  "cooldown": f", until {self.cooldown_until_ms}",
                  "position_limit": f": {self.wanted_quote:.2f} cut to {self.allowed_quote:.2f}"}.get(self.rule, "")
        return f"{self.outcome}: {RISK_RULES[self.rule]}{detail}"


class OrderSubmitted(NamedTuple):
    ts_ms: int
    client_id: str
    side: int  # +1 buy, -1 sell
    type: str  # market, limit, stop
    qty: float  # base; 0 for a quote order
    quote_qty: float | None = None
    limit_px: float | None = None
    stop_px: float | None = None
    reduce_only: bool = False
    kind = "order_submitted"

    def describe(self) -> str:
        size = f"{self.quote_qty:.2f} quote" if self.quote_qty is not None else f"{self.qty:.8g}"
        return f"{'buy' if self.side > 0 else 'sell'} {self.type} {size}" + (" reduce-only" if self.reduce_only else "")


class OrderAccepted(NamedTuple):
    ts_ms: int
    client_id: str
    venue_order_id: str
    kind = "order_accepted"

    def describe(self) -> str:
        return f"accepted as {self.venue_order_id}"


class OrderRejected(NamedTuple):
    ts_ms: int
    client_id: str
    reason: str  # the venue's words (Binance's, where it has them)
    kind = "order_rejected"

    def describe(self) -> str:
        return f"rejected: {self.reason}"


class OrderFilled(NamedTuple):
    """A fill: `qty` base at `px`, `fee` charged in `fee_asset`; `done` when the order has nothing left."""

    ts_ms: int
    client_id: str
    qty: float
    px: float
    fee: float
    fee_asset: str
    trade_id: str
    done: bool
    kind = "order_filled"

    def describe(self) -> str:
        state = "filled" if self.done else "partly filled"
        return f"{state} {self.qty:.8g} @ {self.px:.8g}, fee {self.fee:.8g} {self.fee_asset}"


class OrderCancelled(NamedTuple):
    ts_ms: int
    client_id: str
    reason: str
    kind = "order_cancelled"

    def describe(self) -> str:
        return f"cancelled: {self.reason}"


class InterestCharged(NamedTuple):
    """Borrow interest a short paid for the bars up to `ts_ms`: `amount` this time, and `accrued` on the loan
    since the position last changed (as a margin account shows it), which the books are set from so the same
    loan costs the same however many charges it took."""

    ts_ms: int
    amount: float
    asset: str
    accrued: float = 0.0
    kind = "interest_charged"

    def describe(self) -> str:
        return f"borrow interest {self.amount:.8g} {self.asset}"


class FlattenOrdered(NamedTuple):
    """The kill switch asked for the position to be closed (`gauntlet stop --flatten`): `client_id` is the
    reduce-only market order sent for the whole of it (`qty`, base, signed as held) at the open of the bar
    opening `ts_ms`, after the open orders were cancelled. A runner's only; replay never flattens."""

    ts_ms: int
    client_id: str
    qty: float
    reason: str  # the kill switch's
    kind = "flatten_ordered"

    def describe(self) -> str:
        return f"flatten {self.qty:.8g} ordered: kill switch latched: {self.reason}"


Event = (BarClosed | Decided | RiskChecked | OrderSubmitted | OrderAccepted | OrderRejected | OrderFilled
         | OrderCancelled | InterestCharged | FlattenOrdered)
