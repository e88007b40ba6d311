"""The event loop, venue and ledger: hand-computed scenarios, invariants over random streams, parity."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.strategy.bars import Bars
from engine.venues.clock import AcceleratedClock
from engine.core.events import BarClosed, Decided, Event, OrderAccepted, OrderCancelled, OrderFilled, OrderSubmitted
from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.core.market_rules import MarketRules, unrestricted
from engine.core.orders import TERMINAL, InvalidTransition, Order, OrderStatus
from engine.replay import replay
from engine.strategy.signals import Signals
from tests.engine.test_clock import FakeTime

FREE = unrestricted("T/USDT")


def bars_of(opens, closes=None, volume=100.0) -> Bars:
    opens = np.asarray(opens, dtype=float)
    closes = opens if closes is None else np.asarray(closes, dtype=float)
    n = len(opens)
    return Bars(np.arange(n, dtype=np.int64) * 60_000, opens, np.maximum(opens, closes) + 1,
                np.minimum(opens, closes) - 1, closes, np.full(n, float(volume)))


def signals_at(n: int, entries=(), exits=(), short_entries=None, short_exits=()) -> Signals:
    def at(bars_: tuple) -> np.ndarray:
        column = np.zeros(n, bool)
        column[list(bars_)] = True
        return column

    if short_entries is None:
        return Signals(entries=at(entries), exits=at(exits))
    return Signals(entries=at(entries), exits=at(exits), short_entries=at(short_entries), short_exits=at(short_exits))


def test_an_all_in_round_trip_by_hand():
    bars = bars_of([100, 100, 110, 120])
    result = replay(bars, signals_at(4, entries=[0], exits=[1]), Costs(0.001, 0.01, 1000.0), Realism.ideal(), FREE)
    buy, sell = result.fills
    spend = 1000 / 1.001
    assert (buy.bar, buy.px) == (1, 101.0) and buy.qty == pytest.approx(spend / 101, rel=1e-15)
    assert buy.fee == pytest.approx(1000 - spend, rel=1e-12)
    assert (sell.bar, sell.px) == (2, pytest.approx(108.9)) and sell.qty == buy.qty
    assert sell.fee == pytest.approx(buy.qty * 108.9 * 0.001, rel=1e-12)
    final = buy.qty * 108.9 * 0.999
    assert result.equity.tolist() == pytest.approx([1000.0, buy.qty * 100, final, final], rel=1e-12)
    (trip,) = result.ledger.round_trips
    assert trip.pnl == pytest.approx(final - 1000, rel=1e-9) and trip.fees == pytest.approx(buy.fee + sell.fee)


def test_a_short_round_trip_by_hand_locks_its_debt_and_pays_to_cover():
    bars = bars_of([100, 100, 90, 80, 80])
    costs = Costs(0.001, 0.001, 1000.0)
    result = replay(bars, signals_at(5, short_entries=[0], short_exits=[2]), costs, Realism.ideal(), FREE)
    short, cover = result.fills
    commit = 1000 / 1.001  # all of the free cash, fees included, as vectorbt's all-in short
    assert (short.bar, short.side, short.px) == (1, -1, pytest.approx(99.9))
    assert short.qty == pytest.approx(commit / 99.9, rel=1e-12) and short.fee == pytest.approx(1000 - commit)
    proceeds = 1000 + commit - (1000 - commit)
    assert result.equity[1] == pytest.approx(proceeds - short.qty * 100, rel=1e-12)  # marked at the close
    assert (cover.bar, cover.side, cover.px, cover.qty) == (3, 1, pytest.approx(80.08), short.qty)
    final = proceeds - short.qty * 80.08 * 1.001
    assert result.ledger.cash == pytest.approx(final, rel=1e-12) and result.ledger.qty == 0.0
    (trip,) = result.ledger.round_trips
    assert trip.direction == -1 and trip.pnl == pytest.approx(final - 1000, rel=1e-9)
    assert (result.position[1:3] < 0).all() and result.equity[-1] == pytest.approx(final)


def test_an_opposite_entry_reverses_the_position_close_first_then_open():
    bars = bars_of([100, 100, 100, 100, 100])
    result = replay(bars, signals_at(5, entries=[0], exits=[1], short_entries=[1]), Costs(0.0, 0.0, 1000.0),
                    Realism.ideal(), FREE)
    assert [(f.bar, f.side, f.qty) for f in result.fills] == [(1, 1, 10.0), (2, -1, 10.0), (2, -1, 10.0)]
    assert [(e.intent, e.decided_ms, e.ts_ms) for e in result.events if isinstance(e, Decided)] == \
        [("long entry", 0, 60_000), ("reverse to short", 60_000, 120_000)]
    assert result.ledger.qty == -10.0 and result.ledger.cash == 2000.0 and result.ledger.free_cash == 0.0
    conflicting = replay(bars, signals_at(5, entries=[0], short_entries=[0]), Costs(0.0, 0.0, 1000.0),
                         Realism.ideal(), FREE)
    assert not conflicting.fills  # a long and a short entry together: vectorbt ignores both


def test_a_short_stop_buys_back_above_the_entry_and_a_cover_is_capped_by_cash():
    n = 5
    stopped = replace(signals_at(n, short_entries=[0]), sl_stop=np.full(n, 0.05))
    bars = bars_of([100, 100, 100, 104, 104])  # bar 3 reaches 105: the stop 5% above the entry
    result = replay(bars, stopped, Costs(0.0, 0.0, 1000.0),
                    Realism(exchange_rules=False, partial_fills=False, borrow_rate=0.0), FREE)
    assert [(f.bar, f.side, f.px) for f in result.fills] == [(1, -1, 100.0), (3, 1, 105.0)]
    assert result.ledger.qty == 0.0 and result.ledger.cash == pytest.approx(1000 - 10 * 5.0)
    squeezed = replay(bars_of([100, 100, 250, 250, 250]), signals_at(n, short_entries=[0], short_exits=[1]),
                      Costs(0.0, 0.0, 1000.0), Realism.ideal(), FREE)
    cover = squeezed.fills[-1]
    assert (cover.bar, cover.qty) == (2, pytest.approx(8.0)) and squeezed.ledger.cash == pytest.approx(0.0, abs=1e-9)
    assert squeezed.ledger.qty == pytest.approx(-2.0)  # what 2,000 of cash cannot buy back stays short
    assert squeezed.orders[-1].status is OrderStatus.CANCELLED and "insufficient balance" in squeezed.orders[-1].reason


def test_a_short_pays_borrow_interest_on_every_bar_it_is_open():
    bars = bars_of([100.0] * 6)  # one-minute bars; short from bar 1's open to bar 4's open: bars 1, 2 and 3
    rate = 0.365  # a year's rate: 0.1% a day
    realism = Realism(exchange_rules=False, partial_fills=False, borrow_rate=rate)
    result = replay(bars, signals_at(6, short_entries=[0], short_exits=[3]), Costs(0.0, 0.0, 1000.0), realism, FREE)
    per_bar = 10.0 * 100.0 * rate / (365 * 24 * 60)  # 10 short at 100
    assert result.ledger.interest_paid == pytest.approx(3 * per_bar, rel=1e-12)
    assert result.equity[1:4] == pytest.approx(1000.0 - per_bar * np.arange(1, 4), rel=1e-12)
    (trip,) = result.ledger.round_trips
    assert trip.pnl == pytest.approx(-3 * per_bar, rel=1e-9) and result.equity[-1] == pytest.approx(1000 - 3 * per_bar)


def test_partial_fills_carry_to_the_next_bars_within_the_participation_cap():
    bars = bars_of([10.0] * 6, volume=4.0)  # cap 0.25 -> one unit a bar
    realism = Realism(exchange_rules=False, partial_fills=True, participation_cap=0.25)
    result = replay(bars, signals_at(6, entries=[0]), Costs(0.0, 0.0, 25.0), realism, FREE)
    assert [f.bar for f in result.fills] == [1, 2, 3]
    assert [f.qty for f in result.fills] == pytest.approx([1.0, 1.0, 0.5])
    kinds = [e.kind for e in result.events if e.kind.startswith("order_")]
    assert kinds == ["order_submitted", "order_accepted", "order_filled", "order_filled", "order_filled"]
    filled = [e for e in result.events if isinstance(e, OrderFilled)]
    assert [(e.qty, e.px, e.fee, e.fee_asset, e.done) for e in filled] == \
        [(1.0, 10.0, 0.0, "USDT", False), (1.0, 10.0, 0.0, "USDT", False), (pytest.approx(0.5), 10.0, 0.0, "USDT", True)]
    assert len({e.trade_id for e in filled}) == 3
    assert result.orders[0].status is OrderStatus.FILLED and result.ledger.cash == 0.0


def test_exchange_rules_truncate_round_and_reject_like_binance():
    rules = MarketRules("T/USDT", qty_step=0.01, px_tick=0.05, min_qty=0.01, min_notional=5.0)
    realism = Realism(exchange_rules=True, partial_fills=False)
    result = replay(bars_of([10.0, 10.02, 10.0]), signals_at(3, entries=[0]), Costs(0.0, 0.0, 100.0), realism, rules)
    (fill,) = result.fills
    assert fill.px == 10.05 and fill.qty == 9.95  # price up to the tick, amount truncated to the step
    assert result.orders[0].status is OrderStatus.FILLED and result.orders[0].reason == "the rest is less than one lot step"
    poor = replay(bars_of([10.0, 10.0, 10.0]), signals_at(3, entries=[0]), Costs(0.0, 0.0, 3.0), realism, rules)
    order = poor.orders[0]
    assert order.status is OrderStatus.REJECTED and "Filter failure: NOTIONAL" in order.reason and not poor.fills
    kinds = [e.kind for e in poor.events if e.kind.startswith("order_")]
    assert kinds == ["order_submitted", "order_rejected"]  # refused at submission, as Binance does: never accepted
    assert poor.equity[-1] == 3.0


def test_a_short_on_a_market_the_exchange_does_not_lend_on_is_refused_at_submission():
    rules = MarketRules("T/USDT", qty_step=0.01, px_tick=0.01, min_qty=0.01, min_notional=5.0, margin=False)
    shorts = signals_at(4, entries=[2], short_entries=[0])
    result = replay(bars_of([10.0] * 4), shorts, Costs(0.0, 0.0, 100.0), Realism(partial_fills=False), rules)
    short, long_ = result.orders
    assert short.status is OrderStatus.REJECTED and short.reason.startswith("Margin account are not allowed")
    assert long_.status is OrderStatus.FILLED and [f.side for f in result.fills] == [1]  # longs need no loan
    ideal = replay(bars_of([10.0] * 4), shorts, Costs(0.0, 0.0, 100.0), Realism.ideal(), rules)
    assert [f.side for f in ideal.fills] == [-1, 1, 1]  # the sweep's assumptions: short, cover, then long


def test_latency_delays_the_fill_and_impact_moves_the_price():
    bars = bars_of([100.0, 101.0, 102.0, 103.0, 104.0], volume=50.0)
    late = replay(bars, signals_at(5, entries=[0]), Costs(0.0, 0.0, 1000.0), Realism(False, False, 1.0, 0.0, 2), FREE)
    assert late.fills[0].bar == 3 and late.fills[0].px == 103.0
    hit = replay(bars, signals_at(5, entries=[0]), Costs(0.0, 0.001, 1000.0), Realism(False, True, 1.0, 0.5, 0), FREE)
    fill = hit.fills[0]
    participation = 1000 / (101.0 * 1.001) / 50.0  # the size at the slipped price sets the impact
    assert fill.px == pytest.approx(101.0 * (1 + 0.001 + 0.5 * participation), rel=1e-12)


def test_an_exit_cancels_the_unfilled_rest_of_an_entry_and_sells_what_is_held():
    bars = bars_of([10.0] * 6, volume=4.0)
    realism = Realism(exchange_rules=False, partial_fills=True, participation_cap=0.25)
    result = replay(bars, signals_at(6, entries=[0], exits=[1]), Costs(0.0, 0.0, 100.0), realism, FREE)
    buy, sell = result.orders
    assert buy.status is OrderStatus.CANCELLED and buy.reason == "exit signal" and buy.filled_qty == 1.0
    assert sell.status is OrderStatus.FILLED and sell.filled_qty == 1.0 and result.ledger.qty == 0.0
    assert [(f.bar, f.side) for f in result.fills] == [(1, 1), (2, -1)]  # the exit acts before bar 2 trades


def test_invalid_order_transitions_raise():
    order = Order("o1", "T/USDT", 1, 1.0)
    fill = OrderFilled(0, "o1", 1.0, 10.0, 0.01, "USDT", "t1", True)
    with pytest.raises(InvalidTransition):
        order.apply(fill)  # pending cannot fill before it is submitted
    order.apply(OrderSubmitted(0, "o1", 1, "market", 1.0))
    order.apply(OrderAccepted(0, "o1", "v1"))
    order.apply(fill)
    assert order.status is OrderStatus.FILLED and order.venue_order_id == "v1"
    for event in (OrderCancelled(0, "o1", "late"), OrderAccepted(0, "o1", "v2"), fill):
        with pytest.raises(InvalidTransition):
            order.apply(event)
    with pytest.raises(ValueError, match="positive base quantity or a positive quote amount"):
        Order("o2", "T/USDT", 1, 0.0)
    with pytest.raises(ValueError, match="side must be"):
        Order("o3", "T/USDT", 0, 1.0)


def random_bars(rng: np.random.Generator, n: int, *, bar_ms: int, gap_rate: float,
                volume: tuple[float, float]) -> Bars:
    """A random walk of n bars: opens a little off the previous close (`gap_rate`), ranges 1% either side."""
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    opens = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, gap_rate, n))
    return Bars(np.arange(n, dtype=np.int64) * bar_ms, opens, np.maximum(opens, close) * 1.01,
                np.minimum(opens, close) * 0.99, close, rng.uniform(*volume, n))


@st.composite
def streams(draw):
    n = draw(st.integers(5, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bars = random_bars(rng, n, bar_ms=60_000, gap_rate=0.002, volume=(0.01, 5.0))
    shorts = draw(st.booleans())
    signals = Signals(entries=rng.random(n) < 0.3, exits=rng.random(n) < 0.3,
                      short_entries=rng.random(n) < 0.3 if shorts else None,
                      short_exits=rng.random(n) < 0.3 if shorts else None)
    realism = Realism(exchange_rules=draw(st.booleans()), partial_fills=draw(st.booleans()),
                      participation_cap=draw(st.sampled_from([0.05, 0.5, 1.0])),
                      impact_rate=draw(st.sampled_from([0.0, 0.1])), latency_bars=draw(st.integers(0, 2)),
                      borrow_rate=draw(st.sampled_from([0.0, 1000.0])))  # absurd, so that it shows
    rules = MarketRules("T/USDT", qty_step=0.001, px_tick=0.01, min_qty=0.001, min_notional=1.0)
    return bars, signals, realism, rules


@settings(max_examples=150, deadline=None)
@given(stream=streams(), fee=st.sampled_from([0.0, 0.001]), slip=st.sampled_from([0.0, 0.0005]))
def test_books_balance_spot_never_goes_negative_and_orders_end_properly(stream, fee, slip):
    bars, signals, realism, rules = stream
    result = replay(bars, signals, Costs(fee, slip, 1000.0), realism, rules)
    bought = sum(f.notional for f in result.fills if f.side > 0)
    sold = sum(f.notional for f in result.fills if f.side < 0)
    ledger = result.ledger
    assert ledger.cash + bought - sold + ledger.fees_paid + ledger.interest_paid == pytest.approx(1000.0, rel=1e-9,
                                                                                                  abs=1e-9)
    if not signals.has_shorts:
        assert ledger.cash >= 0 and (result.position >= 0).all()
    elif realism.borrow_rate == 0:  # no liquidation is modelled: only a stuck short's interest can overdraw cash
        assert ledger.cash >= 0
    pnl = ledger.realized_pnl + ledger.unrealized_pnl(float(bars.close[-1]))
    assert pnl == pytest.approx(result.equity[-1] - 1000.0, rel=1e-9, abs=1e-7)  # every quote of PnL accounted for
    np.testing.assert_allclose(result.equity[-1], ledger.cash + ledger.qty * bars.close[-1], rtol=1e-12)
    still_open = [o for o in result.orders if o.status not in TERMINAL]
    assert len(still_open) <= 1 and all(o is result.orders[-1] for o in still_open)
    for order in result.orders:
        assert order.status is not OrderStatus.PENDING
    assert all(isinstance(e, Event) for e in result.events)
    assert sum(e.bars for e in result.events if isinstance(e, BarClosed)) == len(bars)  # every bar, idle ones too
    assert [e.ts_ms for e in result.events] == sorted(e.ts_ms for e in result.events)  # in time order


@pytest.mark.parametrize("change, message", [
    (lambda b: b.close.__setitem__(3, np.nan), "close is NaN or infinite at row 3"),
    (lambda b: b.ts_ms.__setitem__(4, b.ts_ms[2]), "open times must increase; row 4 does not"),
])
def test_bad_bars_are_refused_before_anything_trades(change, message):
    bars = bars_of([100.0] * 6)
    columns = {name: getattr(bars, name).copy() for name in ("ts_ms", "open", "high", "low", "close", "volume")}
    broken = Bars(**columns)
    change(broken)
    with pytest.raises(ValueError, match=message):
        Bars(**{name: getattr(broken, name) for name in columns})


def test_signals_that_do_not_match_the_bars_are_refused():
    with pytest.raises(ValueError, match="signals have 3 rows for 5 bars"):
        replay(bars_of([1.0] * 5), signals_at(3), Costs(), Realism.ideal(), FREE)


def test_the_loop_waits_on_its_clock_for_each_bar_to_open_and_close():
    bars = bars_of([100.0] * 10)  # one-minute bars
    fake = FakeTime(0.0)
    clock = AcceleratedClock(start_ms=0, speed=60.0, sleep=fake.sleep, clock=fake)
    seen: list[tuple[str, int, int]] = []
    replay(bars, signals_at(10, entries=[2], exits=[6]), Costs(0.0, 0.0, 1000.0), Realism.ideal(), FREE,
           on_event=lambda e: seen.append((e.kind, e.ts_ms, clock.now_ms())), clock=clock)
    assert all(now >= ts for _, ts, now in seen)  # nothing happens before its time
    closes = [(ts, now) for kind, ts, now in seen if kind == "bar_closed"]
    assert closes and all(now >= ts + 60_000 for ts, now in closes)  # a bar's close is reported once it has closed
    assert sum(fake.slept) == pytest.approx(closes[-1][0] / 1000 / 60 + 1, rel=1e-9)  # 60x faster than the wall
