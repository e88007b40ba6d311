"""Golden replays: what the engine produced on real candles, pinned before the engine core is rebuilt.

Each case replays a built-in strategy over a real candle file with the realism features that matter
(partial fills, exchange filters, latency, impact, borrow interest, stops, shorts, reversals, risk rules)
and compares a readable summary with `tests/engine/golden/<case>.txt`: sorted `key=value` lines and sha256
hashes of every fill, order, round trip and bar value. Floats are written to 12 significant digits: a
refactor must reproduce them, and a CI machine whose CPU rounds a NumPy reduction in its last bit still
agrees. Regenerating them (`GAUNTLET_REGOLDEN=1 pytest tests/engine/test_golden_replay.py`) is a
reviewed diff and never a way to loosen them.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.core.market_rules import MarketRules
from engine.replay import ReplayResult, replay
from engine.core.risk import RiskConfig, RiskLimits, Sizing
from engine.strategy.contract import load_strategy
from tests.conftest import shared_candles

GOLDEN = Path(__file__).parent / "golden"
BINANCE_BTC = MarketRules("BTC/USDT", qty_step=1e-05, px_tick=0.01, min_qty=1e-05, min_notional=5.0)
BINANCE_ALT = MarketRules("SOL/USDT", qty_step=0.01, px_tick=0.0001, min_qty=0.01, min_notional=5.0)


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    strategy: str
    params: dict
    costs: Costs
    realism: Realism
    rules: MarketRules
    risk: RiskConfig | None = None
    rows: tuple[int | None, int | None] = (None, None)  # a slice of the file


CASES = [
    Case("sma_cross_btc_1h_realistic", "binance_BTC-USDT_1h_2024-01_2024-09.parquet", "sma_cross",
         {"fast": 10, "slow": 30}, Costs(fee_rate=0.001, slippage_rate=0.0005), Realism(), BINANCE_BTC),
    Case("donchian_long_short_sol_5m_latency_impact", "binance_SOL-USDT_5m.parquet", "donchian_breakout",
         {"entry_window": 50, "exit_window": 20, "short": True}, Costs(fee_rate=0.00075, slippage_rate=0.0003),
         Realism(latency_bars=1, impact_rate=0.05, participation_cap=0.05, borrow_rate=0.08), BINANCE_ALT),
    Case("atr_trend_stops_risk_btc_1h", "binance_BTC-USDT_1h.parquet", "atr_trend",
         {"window": 50, "atr_mult": 2.0, "short": True}, Costs(fee_rate=0.001, slippage_rate=0.0005, maker_fee_rate=0.0002),
         Realism(), BINANCE_BTC,
         RiskConfig(RiskLimits(max_position_rate=0.5, daily_loss_rate=0.03, max_drawdown_rate=0.35, loss_streak=3,
                               cooldown_bars=24), Sizing(method="atr", risk_per_trade=0.02, atr_mult=2.0))),
    Case("rsi_reversion_eth_5m_half_kelly_ideal_stops", "binance_ETH-USDT_5m.parquet", "rsi_reversion", {},
         Costs(fee_rate=0.001, slippage_rate=0.0005), Realism(vectorbt_stops=True), BINANCE_BTC,
         RiskConfig(RiskLimits(), Sizing(method="half_kelly", fraction=0.5, kelly_lookback=20)), (0, 30_000)),
]


def _text(value: object) -> str:
    return f"{value:.12g}" if isinstance(value, float) else str(value)


def _hash(rows: list[tuple]) -> str:
    return hashlib.sha256("\n".join(",".join(map(_text, row)) for row in rows).encode()).hexdigest()


def summarize(case: Case, result: ReplayResult) -> str:
    """Sorted `key=value` lines: the figures a reader checks, and hashes of everything else."""
    fills = [(f.ts_ms, f.side, f.qty, f.px, f.fee) for f in result.fills]
    orders = [(o.type.value, o.side, o.qty, o.quote_qty, o.limit_px, o.stop_px, o.status.value, o.filled_qty,
               o.avg_px, o.fees, o.reduce_only) for o in result.orders]
    trips = [(t.direction, t.qty, t.entry_px, t.exit_px, t.fees, t.pnl) for t in result.ledger.round_trips]
    statuses = Counter(o.status.value for o in result.orders)
    lines = {
        "case": case.name, "bars": len(result.bars), "orders": len(result.orders), "fills": len(result.fills),
        "round_trips": len(trips), "final_equity": _text(float(result.equity[-1])),
        "final_cash": _text(float(result.ledger.cash)), "final_qty": _text(float(result.ledger.qty)),
        "fees_paid": _text(float(sum(f.fee for f in result.fills))),
        "interest_paid": _text(float(result.ledger.interest_paid)),
        "fills_sha256": _hash(fills), "orders_sha256": _hash(orders), "round_trips_sha256": _hash(trips),
        "equity_sha256": _hash([tuple(map(float, result.equity))]),
        "position_sha256": _hash([tuple(map(float, result.position))]),
        **{f"orders_{status}": count for status, count in statuses.items()},
    }
    return "".join(f"{key}={value}\n" for key, value in sorted(lines.items()))


def run(case: Case) -> ReplayResult:
    bars = Bars.from_frame(shared_candles(case.file).iloc[slice(*case.rows)])
    strategy = load_strategy(case.strategy)
    signals = strategy.signals(bars, strategy.params(case.params))
    return replay(bars, signals, case.costs, case.realism, case.rules, case.risk)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_replay_reproduces_its_golden_record(case):
    summary = summarize(case, run(case))
    path = GOLDEN / f"{case.name}.txt"
    if os.environ.get("GAUNTLET_REGOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(summary)
    assert summary == path.read_text(), f"{case.name} no longer reproduces {path}"


def test_the_golden_cases_exercise_what_they_claim():
    """A golden file pins little if its case never trades, rejects, stops or shorts."""
    text = {c.name: (GOLDEN / f"{c.name}.txt").read_text() for c in CASES}
    figures = {name: dict(line.split("=", 1) for line in body.splitlines()) for name, body in text.items()}
    for name, figure in figures.items():
        assert int(figure["round_trips"]) >= 10, name
    assert float(figures["donchian_long_short_sol_5m_latency_impact"]["interest_paid"]) > 0  # shorts held
    assert int(figures["donchian_long_short_sol_5m_latency_impact"]["fills"]) > \
        int(figures["donchian_long_short_sol_5m_latency_impact"]["orders_filled"])  # partial fills
