"""Drift's matching, pure: a deployment's orders as its journal tells them, paired one by one with the orders
replay makes over the same candles, and every pair that differs explained by the evidence, with its effect on
equity in quote currency.

- An order and what became of it on one side is an `Outcome`, read from that side's events (`outcomes`): the
  intent as sent, its fills, how it ended, and the runner's rule when the runner kept it from the venue (the
  `RiskChecked` naming a `RUNNER_RULES` rule just before its rejection; a cancel by the kill switch).
- Pairs (`pair`): the same client id first (ids are deterministic, so replay names an order as the runner
  did), then the same decision and role under another attempt, then the same side and candle.
- A pair's effect is what it adds to the journal's final equity minus replay's, every fill valued at the last
  close: a fill of `qty` at `px` with side `s` is worth `s * qty * (close - px) - fee`. These effects add up
  to the whole equity difference (what remains is borrow interest and float rounding), and a round trip
  missing on one side adds its whole PnL.
- Each differing pair is explained by its own evidence (a root), or follows from the last root before it (a
  consequence: an order sized on an equity that differed, the exit of an entry one side never made). Kinds:

| kind | evidence |
| --- | --- |
| `price` | same order, same quantity, another fill price (or fee); beyond or within the spec's slippage |
| `partial` | same order, one side filled less than it asked for |
| `rejection` | rejected on one side, filled on the other: by the venue, the kill switch, the portfolio's limits |
| `late_candle` | an entry refused because its candle came late (`stale_data`) |
| `restart` | an entry refused as stale on a candle caught up after a restart (the journal's `starts`) |
| `unexplained` | nothing explains it: an unmatched order with no root before it, or a difference no rule names |
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from engine.core.events import (RUNNER_RULES, Event, OrderCancelled, OrderFilled, OrderRejected, OrderSubmitted,
                                RiskChecked)
from engine.core.ids import parse_client_id
from engine.live.recovery import KILL_PREFIX

__all__ = ["KINDS", "Context", "Difference", "FillLine", "Matched", "Outcome", "match", "outcomes", "pair"]

KINDS = {  # kind -> its title, in the order a report lists them
    "price": "fill price",
    "partial": "partial fill",
    "rejection": "rejection",
    "late_candle": "late candle",
    "restart": "restart",
    "unexplained": "unexplained",
}
_REL = 1e-9  # figures closer than this (relative) are the same figure


@dataclass(frozen=True, slots=True)
class FillLine:
    ts_ms: int
    qty: float  # base
    px: float
    fee: float  # quote


@dataclass(frozen=True, slots=True)
class Outcome:
    """One order on one side: as sent, its fills, how it ended (filled, partially_filled, cancelled, rejected,
    open), the reason it was rejected or cancelled, and the runner's rule when the runner kept it back."""

    client_id: str
    ts_ms: int  # the candle it was sent at
    side: int  # +1 buy, -1 sell
    qty: float  # base asked; 0 for a quote order
    quote_qty: float | None = None
    reduce_only: bool = False
    status: str = "filled"
    reason: str = ""
    rule: str | None = None  # a RUNNER_RULES key
    fills: tuple[FillLine, ...] = ()

    @property
    def filled_qty(self) -> float:
        return math.fsum(f.qty for f in self.fills)

    @property
    def avg_px(self) -> float:
        qty = self.filled_qty
        return math.fsum(f.qty * f.px for f in self.fills) / qty if qty else math.nan

    @property
    def fee(self) -> float:
        return math.fsum(f.fee for f in self.fills)

    def value(self, close: float) -> float:
        """What its fills add to equity at `close`: bought base is worth the close, paid the price and the fee."""
        return math.fsum(self.side * f.qty * (close - f.px) - f.fee for f in self.fills)

    def figures(self) -> str:
        """In words, for a report: 'buy 0.23342 @ 42797.48', 'rejected', 'cancelled 0.1 @ 42797.48'."""
        done = f"{self.filled_qty:.8g} @ {self.avg_px:.8g}" if self.fills else ""
        if self.status == "filled":
            return f"{'buy' if self.side > 0 else 'sell'} {done}"
        return f"{self.status.replace('_', ' ')} {done}".strip()


@dataclass(frozen=True, slots=True)
class Difference:
    """One pair that differs: its kind, the candle its order acted at, the client id(s), both sides' figures,
    its effect on the journal's equity minus replay's (quote), why, and the root it follows from, if any."""

    kind: str
    ts_ms: int
    client_ids: tuple[str, ...]
    live: Outcome | None
    replay: Outcome | None
    effect: float
    detail: str
    follows: str | None = None  # the client id of the root difference this one follows from

    @property
    def root(self) -> bool:
        return self.follows is None

    def why(self) -> str:
        return self.detail if self.follows is None else f"{self.detail}; follows {self.follows}"


@dataclass(frozen=True, slots=True)
class Context:
    """What the classification needs besides the orders: the last close (effects are valued at it), the spec's
    slippage rate, and the last candle handled before each restart (the journal's `starts` after the first)."""

    close: float
    slippage_rate: float = 0.0
    restarts: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Matched:
    """Every pair compared: how many orders and fills were identical, and the differences in time order."""

    orders: int  # pairs compared
    identical_orders: int
    identical_fills: int  # the journal's fills of identical orders
    differences: tuple[Difference, ...] = field(default_factory=tuple)

    def by_kind(self) -> dict[str, tuple[int, float]]:
        """kind -> (differences, summed effect), in `KINDS` order, kinds present only."""
        out = {}
        for kind in KINDS:
            found = [d.effect for d in self.differences if d.kind == kind]
            if found:
                out[kind] = (len(found), math.fsum(found))
        return out

    @property
    def unexplained(self) -> int:
        return sum(d.kind == "unexplained" for d in self.differences)

    @property
    def explained_effect(self) -> float:
        return math.fsum(d.effect for d in self.differences if d.kind != "unexplained")

    @property
    def effect(self) -> float:
        return math.fsum(d.effect for d in self.differences)


def outcomes(events: Iterable[Event], base: str, quote: str) -> list[Outcome]:
    """Every order in `events` (a journal's, or replay's) and what became of it, in the order they were sent.
    A fee in the quote asset counts as it is, one in base at the fill's price; another asset's (BNB) is not
    valued here (0)."""
    found: dict[str, Outcome] = {}
    last: Event | None = None
    for event in events:
        kind = type(event)
        if kind is OrderSubmitted:
            found[event.client_id] = Outcome(event.client_id, event.ts_ms, event.side, event.qty, event.quote_qty,
                                             event.reduce_only, "open")
        elif kind is OrderFilled and event.client_id in found:
            was = found[event.client_id]
            fee = event.fee if event.fee_asset in (quote, "quote") else \
                event.fee * event.px if event.fee_asset in (base, "base") else 0.0
            line = FillLine(event.ts_ms, event.qty, event.px, fee)
            found[event.client_id] = replace(was, fills=(*was.fills, line),
                                             status="filled" if event.done else "partially_filled")
        elif kind is OrderRejected and event.client_id in found:
            rule = last.rule if type(last) is RiskChecked and last.rule in RUNNER_RULES else None
            found[event.client_id] = replace(found[event.client_id], status="rejected", reason=event.reason, rule=rule)
        elif kind is OrderCancelled and event.client_id in found:
            rule = "kill_switch" if event.reason.startswith(KILL_PREFIX) else None
            found[event.client_id] = replace(found[event.client_id], status="cancelled", reason=event.reason, rule=rule)
        last = event
    return list(found.values())


def pair(live: Sequence[Outcome], replayed: Sequence[Outcome]) -> list[tuple[Outcome | None, Outcome | None]]:
    """Live orders with replay's: by client id, then by decision and role (another attempt), then by side and
    candle; what is left stands alone. In time order (then client id)."""
    left, right = list(live), list(replayed)
    pairs: list[tuple[Outcome | None, Outcome | None]] = []
    for key in (_by_id, _by_decision, _by_candle):
        index: dict[object, list[Outcome]] = {}
        for outcome in right:
            if (k := key(outcome)) is not None:
                index.setdefault(k, []).append(outcome)
        rest = []
        for outcome in left:
            candidates = index.get(key(outcome)) if key(outcome) is not None else None
            if candidates:
                other = candidates.pop(0)
                pairs.append((outcome, other))
                right.remove(other)
            else:
                rest.append(outcome)
        left = rest
    pairs += [(o, None) for o in left] + [(None, o) for o in right]
    return sorted(pairs, key=lambda p: (_first(p).ts_ms, _first(p).client_id))


def match(live: Sequence[Outcome], replayed: Sequence[Outcome], context: Context) -> Matched:
    """Pair the orders and explain every pair that differs (see the module's docstring)."""
    fresh = _fresh_entries(live)
    differences: list[Difference] = []
    identical = identical_fills = 0
    root: Difference | None = None
    for ours, theirs in pair(live, replayed):
        if ours is not None and theirs is not None and _same(ours, theirs):
            identical += 1
            identical_fills += len(ours.fills)
            continue
        effect = (ours.value(context.close) if ours else 0.0) - (theirs.value(context.close) if theirs else 0.0)
        ids = tuple(dict.fromkeys(o.client_id for o in (ours, theirs) if o is not None))
        kind, detail = _evidence(ours, theirs, context, fresh)
        difference = Difference(kind or "unexplained", _first((ours, theirs)).ts_ms, ids, ours, theirs, effect, detail)
        if kind is None:  # no evidence of its own: it follows from the last root, if there is one
            difference = _following(difference, root)
        else:
            root = difference
        differences.append(difference)
    pairs = identical + len(differences)
    return Matched(pairs, identical, identical_fills, tuple(differences))


def _evidence(ours: Outcome | None, theirs: Outcome | None, context: Context,
              fresh: Sequence[int]) -> tuple[str | None, str]:
    """The kind a pair's own evidence names, and why; (None, what differs) when it names none."""
    if ours is not None and ours.rule is not None:
        words = f"refused by the runner: {ours.reason}"
        if ours.rule != "stale_data":
            return "rejection", words
        after = _restart_before(ours.ts_ms, context.restarts, fresh)
        if after is not None:
            return "restart", f"refused as stale, caught up after the restart that followed the candle {_utc(after)}"
        return "late_candle", words
    if ours is None or theirs is None:
        return None, "no such order in the journal" if ours is None else "no such order in replay"
    if ours.status == "rejected" and theirs.fills:
        return "rejection", f"the venue rejected it ({ours.reason}); replay filled it"
    if not _same_ask(ours, theirs):
        return None, f"sized {_size(ours)} live, {_size(theirs)} in replay"
    if theirs.status == "rejected" and ours.fills:
        return "rejection", f"the simulated venue rejected it ({theirs.reason}); the venue filled it"
    if _short(ours) != _short(theirs) or (ours.quote_qty is None and not _close(ours.filled_qty, theirs.filled_qty)):
        return "partial", (f"filled {ours.filled_qty:.8g} live ({ours.status}), {theirs.filled_qty:.8g} in replay "
                           f"({theirs.status})")
    if ours.fills and theirs.fills and not (_close(ours.avg_px, theirs.avg_px) and _close(ours.fee, theirs.fee)):
        return "price", _price_words(ours, theirs, context.slippage_rate)
    return "unexplained", f"{ours.figures()} live, {theirs.figures()} in replay"


def _following(difference: Difference, root: Difference | None) -> Difference:
    """A difference with no evidence of its own takes the kind of the last root before it (the books differed
    from then on: another equity to size on, a position one side never took), or is unexplained."""
    if root is None:
        return replace(difference, detail=f"{difference.detail}, and no difference before it explains why")
    return replace(difference, kind=root.kind, follows=root.client_ids[0])


def _restart_before(ts_ms: int, restarts: Sequence[int], fresh: Sequence[int]) -> int | None:
    """The last candle before the restart whose catch-up `ts_ms` belongs to: a restart after a candle before
    it, with no entry let through on a fresh candle in between (the candles missed while the runner was down
    come late, in one burst, until the feed has caught up)."""
    before = [last for last in restarts if last < ts_ms]
    if not before:
        return None
    last = max(before)
    return None if any(last < t < ts_ms for t in fresh) else last


def _fresh_entries(live: Sequence[Outcome]) -> list[int]:
    """The candles an entry went through (or was refused only by the portfolio): candles that came on time."""
    return [o.ts_ms for o in live if not o.reduce_only and (o.rule is None or o.rule.startswith("portfolio"))]


def _same(a: Outcome, b: Outcome) -> bool:
    return (a.status == b.status and _same_ask(a, b) and len(a.fills) == len(b.fills)
            and all(x.ts_ms == y.ts_ms and _close(x.qty, y.qty) and _close(x.px, y.px) and _close(x.fee, y.fee)
                    for x, y in zip(a.fills, b.fills)))


def _same_ask(a: Outcome, b: Outcome) -> bool:
    """The same order asked for: side, reduce-only, and size (base, or quote)."""
    if (a.side, a.reduce_only, a.quote_qty is None) != (b.side, b.reduce_only, b.quote_qty is None):
        return False
    return _close(a.qty, b.qty) and (a.quote_qty is None or _close(a.quote_qty, b.quote_qty))  # type: ignore[arg-type]


def _short(o: Outcome) -> bool:
    """Filled less than it asked for: not (yet) done, with or without fills (rejections aside)."""
    return o.status in ("open", "partially_filled", "cancelled")


def _size(o: Outcome) -> str:
    return f"{o.quote_qty:.2f} quote" if o.quote_qty is not None else f"{o.qty:.8g}"


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= _REL * max(abs(a), abs(b))


def _price_words(ours: Outcome, theirs: Outcome, slippage_rate: float) -> str:
    """How far the live price is from the price replay's slippage was taken from (the open), against the spec's
    slippage: beyond it, the venue did worse (or better) than the model allows."""
    reference = theirs.avg_px / (1 + theirs.side * slippage_rate)
    bps = (ours.avg_px / reference - 1) * ours.side * 1e4  # adverse: positive
    where = "beyond" if abs(bps) > slippage_rate * 1e4 * (1 + _REL) else "within"
    fee = "" if _close(ours.fee, theirs.fee) else f", fee {ours.fee:.8g} vs {theirs.fee:.8g}"
    return (f"@ {ours.avg_px:.8g} live vs {theirs.avg_px:.8g}: {bps:+.1f} bps from the open, {where} the spec's "
            f"slippage of {slippage_rate * 1e4:g} bps{fee}")


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _first(pair_: tuple[Outcome | None, Outcome | None]) -> Outcome:
    return pair_[0] if pair_[0] is not None else pair_[1]  # type: ignore[return-value]


def _by_id(o: Outcome) -> object:
    return o.client_id


def _by_decision(o: Outcome) -> object:
    parsed = parse_client_id(o.client_id)
    return None if parsed is None else (parsed.scope, parsed.decided_ms, parsed.role)


def _by_candle(o: Outcome) -> object:
    return (o.side, o.reduce_only, o.ts_ms)
