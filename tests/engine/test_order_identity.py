"""Orders are named by time, not by bar index: two windows of the same candles call one order by one name."""

from __future__ import annotations

from engine.strategy.bars import Bars
from engine.core.ids import parse_client_id
from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.replay import replay
from engine.strategy.contract import load_strategy
from tests.conftest import shared_candles
from tests.engine.test_golden_replay import BINANCE_BTC


def orders_by_id(bars: Bars, scope: str = "replay") -> dict[str, tuple]:
    strategy = load_strategy("atr_trend")
    params = strategy.params({"window": 50, "atr_mult": 2.0, "short": True})
    result = replay(bars, strategy.signals(bars, params), Costs(), Realism(), BINANCE_BTC, scope=scope)
    ts = bars.ts_ms
    return {o.client_id: (int(ts[o.decided_bar]), o.side, o.type.value, o.reduce_only) for o in result.orders}


def test_two_overlapping_windows_share_no_id_between_different_orders():
    frame = shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet")
    first, second = orders_by_id(Bars.from_frame(frame.iloc[:4000])), orders_by_id(Bars.from_frame(frame.iloc[2000:]))
    shared = first.keys() & second.keys()
    assert len(first) > 50 and len(second) > 50 and shared  # the windows overlap and some orders coincide
    assert all(first[i] == second[i] for i in shared)  # one name, one order: same decision, side, type, role
    for name, (decided_ms, *_rest) in {**first, **second}.items():
        assert parse_client_id(name).decided_ms == decided_ms


def test_two_deployments_on_one_account_never_share_an_id():
    bars = Bars.from_frame(shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet").iloc[:3000])
    assert not orders_by_id(bars, "deployment-a").keys() & orders_by_id(bars, "deployment-b").keys()
