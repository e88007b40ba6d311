"""Parity: the ideal replay (realism off) must equal the vectorbt sweep trade for trade, and the realistic
replay is explained against the ideal one, feature by feature, as each feature's signed effect on final
equity in quote currency (an effect is negative when the feature makes equity smaller: a cost)."""

from __future__ import annotations

from dataclasses import dataclass, replace as with_fields
from typing import NamedTuple

import numpy as np

from engine.strategy.bars import Bars
from engine.core.events import OrderFilled, RiskChecked
from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.core.ledger import Fill
from engine.core.market_rules import MarketRules, unrestricted
from engine.replay import ReplayResult, replay
from engine.core.risk import RiskConfig
from engine.strategy.signals import Signals
from research.vbt_adapter import portfolio

RTOL = 1e-9


@dataclass(frozen=True, slots=True)
class ParityReport:
    ok: bool
    orders_replay: int
    orders_sweep: int
    final_equity_replay: float
    final_equity_sweep: float
    first_difference: str | None

    def describe(self) -> str:
        if self.ok:
            return (f"parity ok: {self.orders_replay} orders identical, final equity {self.final_equity_replay:.10g} "
                    f"vs {self.final_equity_sweep:.10g}")
        return f"PARITY BROKEN: {self.first_difference}"


class _Trade(NamedTuple):
    bar: int
    side: int
    qty: float
    px: float


def _as_sweep_orders(fills: list[Fill]) -> list[_Trade]:
    """The replay's fills as vectorbt records them: a reversal is one vectorbt order, where replay closes
    and then opens (two fills on the same bar, side and price), so those two are added together."""
    trades: list[_Trade] = []
    for fill in fills:
        last = trades[-1] if trades else None
        if last is not None and (last.bar, last.side, last.px) == (fill.bar, fill.side, fill.px):
            trades[-1] = last._replace(qty=last.qty + fill.qty)
        else:
            trades.append(_Trade(fill.bar, fill.side, fill.qty, fill.px))
    return trades


def check_parity(bars: Bars, signals: Signals, costs: Costs, freq: str) -> tuple[ParityReport, ReplayResult]:
    ideal = replay(bars, signals, costs, Realism.ideal(), unrestricted("ideal"))
    trades = _as_sweep_orders(ideal.fills)
    pf = portfolio(bars, [signals], costs, freq)
    records = pf.orders.records_arr
    sweep_equity = float(pf.value().to_numpy()[-1, 0])
    first = None
    for k, fill in enumerate(trades):
        if k >= len(records):
            first = f"order {k}: replay fills at bar {fill.bar}, the sweep has no order {k}"
            break
        row = records[k]
        side = 1 if row["side"] == 0 else -1
        same = (row["idx"] == fill.bar and side == fill.side and np.isclose(row["size"], fill.qty, rtol=RTOL, atol=0)
                and np.isclose(row["price"], fill.px, rtol=RTOL, atol=0))
        if not same:
            first = (f"order {k}: replay {'buy' if fill.side > 0 else 'sell'} {fill.qty:.10g} @ {fill.px:.10g} at bar "
                     f"{fill.bar}; sweep {'buy' if side > 0 else 'sell'} {row['size']:.10g} @ {row['price']:.10g} at bar "
                     f"{row['idx']}")
            break
    if first is None and len(records) > len(trades):
        first = f"order {len(trades)}: the sweep fills at bar {records[len(trades)]['idx']}, replay does not"
    final = float(ideal.equity[-1])
    if first is None and not np.isclose(final, sweep_equity, rtol=RTOL, atol=0):
        first = f"final equity {final:.12g} vs the sweep's {sweep_equity:.12g}"
    return ParityReport(first is None, len(trades), len(records), final, sweep_equity, first), ideal


def explain(realistic: ReplayResult, ideal: ReplayResult) -> dict:
    """How and why the realistic replay differs from the sweep's assumptions, in quote currency."""
    def slippage(result: ReplayResult) -> float:
        opens = result.bars.open
        return float(sum(f.qty * abs(f.px - opens[f.bar]) for f in result.fills))

    statuses = [o.status.value for o in realistic.orders]
    return {
        "final_equity_ideal": float(ideal.equity[-1]), "final_equity_realistic": float(realistic.equity[-1]),
        "difference": float(realistic.equity[-1] - ideal.equity[-1]),
        "fees_paid": {"ideal": ideal.ledger.fees_paid, "realistic": realistic.ledger.fees_paid},
        "borrow_interest": realistic.ledger.interest_paid,
        "slippage_cost": {"ideal": slippage(ideal), "realistic": slippage(realistic)},
        "orders": {"ideal": len(ideal.orders), "realistic": len(realistic.orders)},
        "partial_fills": int(sum(1 for e in realistic.events if isinstance(e, OrderFilled) and not e.done)),
        "rejected": {o.client_id: o.reason for o in realistic.orders if o.status.value == "rejected"},
        "risk_blocks": [e.describe() for e in realistic.events if isinstance(e, RiskChecked) and e.rule is not None],
        "cancelled": int(statuses.count("cancelled")),
        "round_trips": {"ideal": len(ideal.ledger.round_trips), "realistic": len(realistic.ledger.round_trips)},
    }


_STEPS = (  # realism switched on one feature at a time, in the order a fill meets them
    ("stop conventions (live on the entry bar, stops pay slippage)", ("vectorbt_stops",)),
    ("exchange rules (lot step, tick, minimums)", ("exchange_rules",)),
    ("partial fills (participation cap)", ("partial_fills", "participation_cap")),
    ("volume impact", ("impact_rate",)),
    ("latency", ("latency_bars",)),
    ("borrow interest on shorts", ("borrow_rate",)),
)


def attribute(bars: Bars, signals: Signals, costs: Costs, realism: Realism, rules: MarketRules,
              risk: RiskConfig | None, ideal: ReplayResult) -> list[dict]:
    """What each realism feature does to final equity, in quote: the realistic replay rebuilt from the ideal
    one (already run, by `check_parity`) a feature at a time, each step's `effect` the signed change of final
    equity (negative: a cost). The effects add up to the whole difference, interactions included (they fall
    to the later feature). A positive effect means realism made the strategy look BETTER than the ideal
    replay (e.g. a volume cap left losing orders unfilled on zero-volume candles); `describe_step` says so."""
    current = Realism.ideal()
    before = float(ideal.equity[-1])
    steps = []
    for label, names in _STEPS:
        target = with_fields(current, **{name: getattr(realism, name) for name in names})
        if target == current:
            continue
        current = target
        after = float(replay(bars, signals, costs, current, rules).equity[-1])
        steps.append({"step": label, "final_equity": after, "effect": after - before})
        before = after
    if risk is not None:
        after = float(replay(bars, signals, costs, current, rules, risk).equity[-1])
        steps.append({"step": "risk rules and sizing", "final_equity": after, "effect": after - before})
    return steps


def describe_step(step: dict) -> str:
    """One line per step: its signed effect on final equity, in words where realism flattered the strategy."""
    effect = step["effect"]
    if effect < 0:
        words = f"costs {-effect:,.2f}"
    elif effect > 0:
        words = f"adds {effect:,.2f}: realism makes the strategy look better here (orders it cut or left unfilled lost money)"
    else:
        words = "no effect"
    return f"{step['step']:<62s} effect {effect:>+14,.2f} -> equity {step['final_equity']:,.2f}  ({words})"
