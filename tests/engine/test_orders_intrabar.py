"""Limit and stop orders against a bar's range on the pessimistic path, and strategy stops as protective
one-cancels-other orders."""

from __future__ import annotations

import numpy as np
import pytest

from engine.strategy.bars import Bars
from engine.core.ids import parse_client_id
from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.sim.fills import FillModel
from engine.core.market_rules import unrestricted
from engine.core.orders import Order, OrderStatus, OrderType
from engine.replay import replay
from engine.strategy.signals import Signals

FREE, IDEAL = unrestricted("T/USDT"), Realism.ideal()
LIVE_STOPS = Realism(exchange_rules=False, partial_fills=False)  # realistic stop conventions, nothing else


def bar_rows(rows) -> Bars:
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    return Bars(np.arange(len(o), dtype=np.int64) * 60_000, o, h, lo, c, np.full(len(o), 1e6))


BAR = bar_rows([(100, 105, 95, 101)])


@pytest.mark.parametrize("kind, side, level, expected, realism", [
    (OrderType.LIMIT, 1, 96.0, 96.0, LIVE_STOPS),    # traded through: fills at the limit
    (OrderType.LIMIT, 1, 95.0, None, LIVE_STOPS),    # only touched: may sit behind the queue
    (OrderType.LIMIT, 1, 95.0, 95.0, IDEAL),  # ... except under vectorbt's conventions, where a touch fills
    (OrderType.LIMIT, -1, 105.0, 105.0, IDEAL),
    (OrderType.LIMIT, 1, 102.0, 100.0, LIVE_STOPS),  # already below the limit at the open: fills at the open
    (OrderType.LIMIT, -1, 104.0, 104.0, LIVE_STOPS),
    (OrderType.STOP, -1, 96.0, 96.0, LIVE_STOPS),    # a stop triggers on a touch, fills at the stop
    (OrderType.STOP, -1, 101.0, 100.0, LIVE_STOPS),  # gapped through: fills at the open
    (OrderType.STOP, -1, 94.0, None, LIVE_STOPS),
    (OrderType.STOP, 1, 105.0, 105.0, LIVE_STOPS),
])
def test_the_reference_price_of_resting_orders(kind, side, level, expected, realism):
    venue = FillModel(BAR, Costs(), realism, FREE)
    price = {"limit_px": level} if kind is OrderType.LIMIT else {"stop_px": level}
    assert venue.reference_px(Order("o", "T/USDT", side, 1.0, kind, **price), venue.candle(0)) == expected


def role(order) -> str:
    return parse_client_id(order.client_id).role


def stop_signals(n: int, sl: float = np.nan, tp: float = np.nan) -> Signals:
    entries = np.zeros(n, bool)
    entries[0] = True
    return Signals(entries, np.zeros(n, bool), sl_stop=np.full(n, sl), tp_stop=np.full(n, tp))


def test_a_stop_loss_exits_at_the_stop_with_slippage_or_at_a_gapped_open():
    bars = bar_rows([(100, 100, 100, 100), (100, 101, 99, 100), (99, 100, 98, 99), (97, 98, 94, 95), (95, 95, 95, 95)])
    result = replay(bars, stop_signals(5, sl=0.05), Costs(0.001, 0.001, 1000.0), LIVE_STOPS, FREE)
    buy, sell = result.fills
    assert buy.px == pytest.approx(100.1) and sell.bar == 3
    assert sell.px == pytest.approx(100.1 * 0.95 * (1 - 0.001))  # stop at 95.095, sold with slippage
    _, swept = replay(bars, stop_signals(5, sl=0.05), Costs(0.001, 0.001, 1000.0), IDEAL, FREE).fills
    assert swept.px == pytest.approx(100.1 * 0.95)  # vectorbt's convention: at the stop, no slippage
    gap = bar_rows([(100, 100, 100, 100), (100, 101, 99, 100), (90, 91, 89, 90)])
    _, gapped = replay(gap, stop_signals(3, sl=0.05), Costs(0.0, 0.0, 1000.0), LIVE_STOPS, FREE).fills
    assert gapped.px == 90.0


def test_a_stop_is_live_on_the_entry_bar_unless_vectorbt_conventions_apply():
    bars = bar_rows([(100, 100, 100, 100), (100, 101, 90, 95), (95, 96, 94, 95)])  # the entry bar dips 10%
    live = replay(bars, stop_signals(3, sl=0.05), Costs(0.0, 0.0, 1000.0), LIVE_STOPS, FREE)
    assert [f.bar for f in live.fills] == [1, 1]
    swept = replay(bars, stop_signals(3, sl=0.05), Costs(0.0, 0.0, 1000.0), IDEAL, FREE)
    assert [f.bar for f in swept.fills] == [1, 2] and swept.fills[1].px == 95.0  # from the next bar, at the stop


def test_when_stop_and_target_share_a_bar_the_stop_is_assumed_first():
    bars = bar_rows([(100, 100, 100, 100), (100, 100, 100, 100), (100, 120, 80, 100)])
    result = replay(bars, stop_signals(3, sl=0.1, tp=0.1), Costs(0.0, 0.0, 1000.0), IDEAL, FREE)
    stop, target = (o for o in result.orders if role(o) in ("stop_loss", "take_profit"))
    assert stop.status is OrderStatus.FILLED and stop.avg_px == pytest.approx(90.0)
    assert target.status is OrderStatus.CANCELLED and "one-cancels-other" in target.reason


def test_a_take_profit_fills_at_its_limit_with_the_maker_fee():
    bars = bar_rows([(100, 100, 100, 100), (100, 100, 100, 100), (101, 106, 100, 105), (105, 105, 105, 105)])
    costs = Costs(fee_rate=0.001, slippage_rate=0.0, init_cash=1000.0, maker_fee_rate=0.0002)
    result = replay(bars, stop_signals(4, sl=0.2, tp=0.05), costs, IDEAL, FREE)
    buy, sell = result.fills
    assert sell.bar == 2 and sell.px == pytest.approx(105.0) and sell.fee == pytest.approx(sell.notional * 0.0002)
    assert {role(o): o.status for o in result.orders[1:]} == {"stop_loss": OrderStatus.CANCELLED,
                                                              "take_profit": OrderStatus.FILLED}
    assert result.ledger.qty == 0


def test_an_exit_signal_cancels_the_protection():
    bars = bar_rows([(100, 100, 100, 100)] * 5)
    signals = stop_signals(5, sl=0.1, tp=0.1)
    signals.exits[2] = True
    result = replay(bars, signals, Costs(0.0, 0.0, 1000.0), IDEAL, FREE)
    assert [o.status for o in result.orders] == [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.CANCELLED,
                                                 OrderStatus.FILLED]
    assert result.fills[-1].bar == 3 and result.ledger.qty == 0


def test_less_than_a_lot_of_a_bars_volume_left_is_no_volume_not_a_refusal():
    """A bar of 18.8885 volume at a 0.2 cap gives 3.7777: the first fill takes 3.777 (a 0.001 lot), and the
    0.0007 left cannot buy a lot. Offered again on that bar, the order waits for the next one; it is not
    refused by the exchange's LOT_SIZE filter."""
    from engine.core.ledger import Ledger
    from engine.core.market_rules import MarketRules

    bars = bar_rows([(100, 100, 100, 100), (100, 101, 99, 100)])
    bars = Bars(bars.ts_ms, bars.open, bars.high, bars.low, bars.close, np.array([18.8885, 18.8885]))
    rules = MarketRules("T/USDT", qty_step=0.001, px_tick=0.01, min_qty=0.001, min_notional=1.0)
    model = FillModel(bars, Costs(0.0, 0.0, 10_000.0), Realism(partial_fills=True, participation_cap=0.2), rules)
    order, account = Order("m", "T/USDT", 1, 5.0, live_from_bar=1), Ledger(cash=10_000.0)
    first, _ = model.execute(order, model.candle(1), account, 1)
    assert first.qty == pytest.approx(3.777)
    order.filled_qty = first.qty  # as the loop records it
    again, why = model.execute(order, model.candle(1), account, 1)
    assert again is None and why == "no volume left on this bar"
