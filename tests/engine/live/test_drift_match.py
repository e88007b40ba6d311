"""Drift's matching on hand-made orders: pairs by client id, by decision under another attempt, by side and
candle; each difference classified by its own evidence (fill price beyond or within slippage, partial fill,
rejection by the venue / kill switch / portfolio, late candle, restart) or as following from the last one before
it, else unexplained; and the effects, valued at the last close, adding up to the equity difference."""

from __future__ import annotations

import pytest

from engine.core.events import (BarClosed, OrderAccepted, OrderCancelled, OrderFilled, OrderRejected, OrderSubmitted,
                                RiskChecked)
from engine.core.ids import client_order_id
from engine.live.drift_match import Context, FillLine, Outcome, match, outcomes, pair

H = 3_600_000
T0 = 1_705_536_000_000
CLOSE = 110.0
CONTEXT = Context(close=CLOSE, slippage_rate=0.0005)


def cid(hour: int, role: str = "entry", attempt: int = 0, scope: str = "dep") -> str:
    return client_order_id(scope, T0 + (hour - 1) * H, role, attempt)


def filled(hour: int, side: int = 1, qty: float = 1.0, px: float = 100.0, fee: float = 0.1, role: str = "entry",
           **kw: object) -> Outcome:
    base = {"client_id": cid(hour, role), "ts_ms": T0 + hour * H, "side": side, "qty": 0.0 if side > 0 else qty,
            "quote_qty": 100.0 if side > 0 else None, "reduce_only": side < 0,
            "fills": (FillLine(T0 + hour * H, qty, px, fee),)}
    return Outcome(**{**base, **kw})


def refused(outcome: Outcome, rule: str | None, reason: str = "no") -> Outcome:
    return Outcome(outcome.client_id, outcome.ts_ms, outcome.side, outcome.qty, outcome.quote_qty,
                   outcome.reduce_only, "rejected", reason, rule)


def test_identical_orders_make_no_difference_and_count_their_fills():
    orders = [filled(1), filled(5, side=-1, px=104.0, role="exit")]
    matched = match(orders, list(orders), CONTEXT)
    assert (matched.orders, matched.identical_orders, matched.identical_fills, matched.differences) == (2, 2, 2, ())


def test_a_fill_price_beyond_the_spec_slippage_costs_its_price_difference():
    replayed = filled(1, px=100.05)  # the open 100, plus 5 bps
    live = filled(1, px=100.25)  # 25 bps above the open
    (d,) = match([live], [replayed], CONTEXT).differences
    assert d.kind == "price" and d.root and d.client_ids == (live.client_id,)
    assert d.effect == pytest.approx(-0.2)  # bought 1 at 0.20 more
    assert "+25.0 bps from the open, beyond the spec's slippage of 5 bps" in d.detail
    (within,) = match([filled(1, px=100.03)], [replayed], CONTEXT).differences
    assert within.kind == "price" and "within the spec's slippage" in within.detail
    assert within.effect == pytest.approx(0.02)
    sold = match([filled(1, side=-1, px=99.8, role="exit")], [filled(1, side=-1, px=99.95, role="exit")], CONTEXT)
    assert sold.differences[0].effect == pytest.approx(-0.15)  # sold for less


def test_a_fee_alone_that_differs_is_a_fill_price_difference_with_its_effect():
    (d,) = match([filled(1, fee=0.3)], [filled(1, fee=0.1)], CONTEXT).differences
    assert d.kind == "price" and d.effect == pytest.approx(-0.2) and "fee 0.3 vs 0.1" in d.detail


def test_a_partial_fill_is_worth_the_missing_base_at_the_close():
    sell = dict(side=-1, role="exit", qty=2.0, px=105.0)
    replayed = filled(3, **sell)
    live = filled(3, **{**sell, "fills": (FillLine(T0 + 3 * H, 1.5, 105.0, 0.1),)}, status="partially_filled")
    (d,) = match([live], [replayed], CONTEXT).differences
    assert d.kind == "partial" and "filled 1.5 live (partially_filled), 2 in replay (filled)" in d.detail
    assert d.effect == pytest.approx(0.5 * (CLOSE - 105.0))  # still holds 0.5 base replay sold at 105, now 110
    nothing = filled(3, **sell, status="cancelled", reason="expired")
    nothing = Outcome(**{**{k: getattr(nothing, k) for k in Outcome.__slots__}, "fills": ()})
    (d,) = match([nothing], [replayed], CONTEXT).differences
    assert d.kind == "partial" and d.effect == pytest.approx(-(-2.0 * (CLOSE - 105.0) - 0.1))


@pytest.mark.parametrize("rule, kind", [("kill_switch", "rejection"), ("portfolio_exposure", "rejection"),
                                        ("portfolio_drawdown", "rejection"), ("stale_data", "late_candle"),
                                        (None, "rejection")])
def test_a_refused_or_rejected_entry_is_explained_by_its_rule(rule, kind):
    replayed = filled(2, px=100.0)
    (d,) = match([refused(replayed, rule, "kept back")], [replayed], CONTEXT).differences
    assert d.kind == kind and d.root and d.effect == pytest.approx(-(CLOSE - 100.0 - 0.1))
    assert d.detail == ("the venue rejected it (kept back); replay filled it" if rule is None else
                        "refused by the runner: kept back")


def test_a_kill_switch_cancel_of_a_resting_stop_is_a_rejection():
    events = [OrderSubmitted(T0, cid(0, "stop_loss"), -1, "stop", 1.0, stop_px=95.0, reduce_only=True),
              OrderAccepted(T0, cid(0, "stop_loss"), "v1"),
              OrderCancelled(T0 + 4 * H, cid(0, "stop_loss"), "kill switch: exchange incident")]
    (live,) = outcomes(events, "BTC", "USDT")
    assert (live.status, live.rule) == ("cancelled", "kill_switch")
    replayed = Outcome(live.client_id, T0, -1, 1.0, None, True, "filled", fills=(FillLine(T0 + 5 * H, 1.0, 95.0, 0.1),))
    (d,) = match([live], [replayed], CONTEXT).differences
    assert d.kind == "rejection" and d.effect == pytest.approx(-(-(CLOSE - 95.0) - 0.1))


def test_stale_entries_after_a_restart_belong_to_it_until_an_entry_goes_through():
    first, second, third = filled(10), filled(30), filled(60)
    gone = filled(40)  # let through on a fresh candle: the catch-up is over
    live = [refused(first, "stale_data"), refused(second, "stale_data"), gone, refused(third, "stale_data")]
    kinds = [d.kind for d in match(live, [first, second, gone, third], Context(CLOSE, 0.0, (T0 + 5 * H,))).differences]
    assert kinds == ["restart", "restart", "late_candle"]
    before = match([refused(filled(3), "stale_data")], [filled(3)], Context(CLOSE, 0.0, (T0 + 5 * H,)))
    assert before.differences[0].kind == "late_candle"  # before the restart


def test_what_follows_a_difference_takes_its_kind_and_names_it():
    entry, exit_ = filled(2), filled(6, side=-1, px=104.0, role="exit")
    later_replay = filled(9, qty=0.95, px=105.0)
    later_live = filled(9, qty=0.99, px=105.0, quote_qty=104.0)  # sized on another equity
    matched = match([refused(entry, "kill_switch"), later_live], [entry, exit_, later_replay], CONTEXT)
    root, missing, sized = matched.differences
    assert (root.kind, missing.kind, sized.kind) == ("rejection",) * 3 and matched.unexplained == 0
    assert missing.follows == sized.follows == entry.client_id and root.follows is None
    assert missing.why() == f"no such order in the journal; follows {entry.client_id}"
    assert sized.detail == "sized 104.00 quote live, 100.00 quote in replay"
    assert root.effect + missing.effect == pytest.approx(-(4.0 - 0.2))  # the round trip replay made and live did not
    assert matched.by_kind() == {"rejection": (3, pytest.approx(matched.effect))}


def test_an_order_on_one_side_with_nothing_before_it_is_unexplained_and_so_is_what_follows():
    matched = match([filled(4, side=-1, role="exit", px=101.0), filled(8)], [filled(8, quote_qty=90.0)], CONTEXT)
    lone, sized = matched.differences
    assert (lone.kind, sized.kind, matched.unexplained) == ("unexplained", "unexplained", 2)
    assert lone.detail == "no such order in replay, and no difference before it explains why"
    assert matched.explained_effect == 0.0


def test_pairs_by_client_id_then_decision_under_another_attempt_then_side_and_candle():
    replayed = [filled(1), filled(5, side=-1, role="exit")]
    retried = Outcome(**{**{k: getattr(replayed[0], k) for k in Outcome.__slots__}, "client_id": cid(1, attempt=1)})
    elsewhere = Outcome(**{**{k: getattr(replayed[1], k) for k in Outcome.__slots__},
                           "client_id": cid(5, "exit", scope="other")})
    pairs = pair([elsewhere, retried], replayed)
    assert [(a.client_id, b.client_id) for a, b in pairs] == [(retried.client_id, replayed[0].client_id),
                                                            (elsewhere.client_id, replayed[1].client_id)]
    assert match([elsewhere, retried], replayed, CONTEXT).identical_orders == 2


def test_outcomes_read_the_runner_rule_and_value_fees_in_quote():
    entry, refused_ = cid(1), cid(2)
    events = [OrderSubmitted(T0, entry, 1, "market", 0.0, quote_qty=100.0), OrderAccepted(T0, entry, "v1"),
              OrderFilled(T0, entry, 0.5, 100.0, 0.0005, "BTC", "t1", False),
              OrderFilled(T0, entry, 0.5, 102.0, 0.05, "USDT", "t2", True), BarClosed(T0),
              OrderSubmitted(T0 + H, refused_, 1, "market", 0.0, quote_qty=100.0),
              RiskChecked(T0 + H, 100.0, 100.0, 0.0, "kill_switch"),
              OrderRejected(T0 + H, refused_, "kill switch latched: x"), BarClosed(T0 + H)]
    first, second = outcomes(events, "BTC", "USDT")
    assert first.status == "filled" and first.filled_qty == 1.0 and first.avg_px == 101.0
    assert first.fee == pytest.approx(0.0005 * 100.0 + 0.05)
    assert (second.status, second.rule, second.reason) == ("rejected", "kill_switch", "kill switch latched: x")
