"""Snapshots: a replay cut anywhere, its books written out as JSON and read back into a fresh loop and venue,
continues to end exactly where the uninterrupted replay ends: the same events, orders, fills and equity.
This is the recovery a runner relies on ("load the last snapshot, apply what happened after it")."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.costs import Costs
from engine.core.market_rules import MarketRules
from engine.replay import ReplayResult, replay
from engine.strategy.bars import Bars
from engine.strategy.contract import load_strategy
from tests.conftest import shared_candles
from tests.engine.test_bar_by_bar import sessions
from tests.engine.test_golden_replay import CASES

RULES = MarketRules("T/USDT", qty_step=0.001, px_tick=0.01, min_qty=0.001, min_notional=1.0)


def books(result: ReplayResult) -> tuple:
    orders = [(o.client_id, o.status, o.filled_qty, o.avg_px, o.fees, o.reason) for o in result.orders]
    return (orders, [tuple(f) for f in result.fills], result.equity.tolist(), result.position.tolist(),
            result.ledger.cash, result.ledger.qty, [tuple(t) for t in result.ledger.round_trips])


def cut_and_continue(args: tuple, cut: int, bar_by_bar: bool) -> tuple[ReplayResult, ReplayResult]:
    first = replay(*args, stop_after=cut, bar_by_bar=bar_by_bar)
    state = json.loads(json.dumps(first.snapshot))  # through text, as a journal keeps it
    return first, replay(*args, resume=state, bar_by_bar=bar_by_bar)


@settings(max_examples=30, deadline=None)
@given(session=sessions(), bar_by_bar=st.booleans())
def test_a_replay_cut_after_any_bar_and_rebuilt_from_its_snapshot_ends_identical(session, bar_by_bar):
    bars, signals, realism, risk = session
    args = (bars, signals, Costs(0.001, 0.0005, 1000.0, maker_fee_rate=0.0002), realism, RULES, risk)
    whole = replay(*args, bar_by_bar=bar_by_bar)
    for cut in range(len(bars) - 1):
        first, rest = cut_and_continue(args, cut, bar_by_bar)
        assert first.snapshot is not None and first.snapshot["done"] <= cut + 1
        assert books(rest) == books(whole), cut
        assert first.events + rest.events == whole.events  # the journal of the cut run is the uncut one's


def test_a_real_long_short_replay_with_interest_and_partial_fills_resumes_identically():
    case = next(c for c in CASES if c.name.startswith("donchian"))
    bars = Bars.from_frame(shared_candles(case.file).iloc[slice(*case.rows)])
    strategy = load_strategy(case.strategy)
    args = (bars, strategy.signals(bars, strategy.params(case.params)), case.costs, case.realism, case.rules, case.risk)
    whole = replay(*args)
    shorts = sorted({f.bar for f in whole.fills if f.side < 0})  # cut right after the books changed
    for cut in [17, len(bars) - 2, *shorts[:: max(1, len(shorts) // 5)]]:
        first, rest = cut_and_continue(args, cut, False)
        assert first.snapshot["loop"]["ledger"]["interest_paid"] <= whole.ledger.interest_paid
        assert books(rest) == books(whole) and first.events + rest.events == whole.events
    assert whole.ledger.interest_paid > 0 and any(o.status.value == "partially_filled" or o.filled_qty < o.qty
                                                  for o in whole.orders if o.quote_qty is None)
