"""The ccxt venue on a healthy exchange: what it sends, what it reports, hand-checked against the emulator's
market (the 00:05 candle opened at 100; the engine's 0.05 % slippage; Binance's 0.1 % commission in the asset
received)."""

from __future__ import annotations

from engine.core.commands import CancelOrder
from engine.core.events import OrderAccepted, OrderFilled, OrderRejected
from engine.core.orders import OrderStatus, OrderType
from engine.live.journal import Journal
from engine.venues.submission import Phase
from tests.engine.venues.conftest import NOW
from tests.engine.venues.venue_kit import (SYMBOL, command, exchange_orders, intent, jump, limit, run,
                                           trading_emulator, venue_on)

NOW_PLUS = NOW + 60_000


def test_a_market_buy_pays_its_fee_in_base_and_a_sell_in_quote(tmp_path):
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        async def scenario():
            async with venue_on(emu, journal) as venue:
                buy = await venue.submit(command(intent(1, 0.5)))
                sell = await venue.submit(command(intent(2, 0.4, side=-1)))
                return buy, sell, await venue.balances()

        buy, sell, balances = run(scenario())
    assert [type(e) for e in buy] == [OrderAccepted, OrderFilled]
    fill = buy[1]
    assert (fill.qty, fill.px, fill.fee, fill.fee_asset, fill.done) == (0.5, 100.05, 0.0005, "BTC", True)
    assert (sell[1].px, sell[1].fee, sell[1].fee_asset) == (99.95, 0.03998, "USDT")
    assert fill.trade_id == "1" and sell[1].trade_id == "2"
    assert balances["BTC"] == 1.0995 and balances["USDT"] == 9989.91502


def test_a_resting_limit_is_followed_into_fills_once_per_trade_id_and_the_journal_books_each_once(tmp_path):
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        order = limit(1, 2.5, 99.5)

        async def scenario():
            async with venue_on(emu, journal) as venue:
                placed = await venue.submit(command(order))
                quiet = await venue.sync(order.client_id)  # nothing happened yet
                jump(emu, 50)  # the 00:05 candle closes: its low 99 traded through 99.5, a tenth of 10 BTC fills
                first, again = await venue.sync(order.client_id), await venue.sync(order.client_id)
                jump(emu, 120)  # two more candles
                rest = await venue.poll()
                return placed, quiet, first, again, rest, await venue.sync(order.client_id)

        placed, quiet, first, again, rest, after = run(scenario())
        for batch in (placed, first, rest):
            journal.append("venue-test", batch)
        row, booked = journal.order(order.client_id), journal.fills_since("venue-test")
    assert [type(e) for e in placed] == [OrderAccepted] and quiet == again == after == []
    assert [(e.qty, e.px, e.fee, e.fee_asset, e.done) for e in first + rest] == [
        (1.0, 99.5, 0.001, "BTC", False), (1.0, 99.5, 0.001, "BTC", False), (0.5, 99.5, 0.0005, "BTC", True)]
    assert [e.trade_id for e in first + rest] == ["1", "2", "3"]
    assert (row.status, row.filled_qty, row.venue_order_id) == (OrderStatus.FILLED, 2.5, placed[0].venue_order_id)
    assert [(f.trade_id, f.qty) for f in booked] == [("1", 1.0), ("2", 1.0), ("3", 0.5)]


def test_a_cancel_reports_the_fills_before_it_then_the_cancellation_with_our_reason(tmp_path):
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        order = limit(1, 2.5, 99.5)

        async def scenario():
            async with venue_on(emu, journal) as venue:
                await venue.submit(command(order))
                jump(emu, 50)
                cancelled = await venue.cancel(CancelOrder(NOW_PLUS, order.client_id, "stop moved"))
                return cancelled, await venue.cancel(CancelOrder(NOW_PLUS, order.client_id, "again")), \
                    await venue.open_orders(), await venue.balances()

        cancelled, twice, still_open, balances = run(scenario())
    assert [(type(e).__name__, getattr(e, "qty", None)) for e in cancelled] == [("OrderFilled", 1.0),
                                                                               ("OrderCancelled", None)]
    assert cancelled[1].reason == "stop moved" and twice == [] and still_open == []
    assert balances["USDT"] == 10000 - 99.5 and exchange_orders(emu)[0].status == "CANCELED"


def test_amounts_are_truncated_and_prices_rounded_by_the_market_and_a_breach_is_refused_without_a_request(tmp_path):
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        refusals = {"tiny": intent(1, 0.000001), "huge": intent(2, 10_000.0), "cheap": intent(3, 0.01),
                    "tick": limit(4, 0.1, 0.001), "dear": limit(5, 1.0, 2_000_000.0)}

        async def scenario():
            async with venue_on(emu, journal) as venue:
                sent = await venue.submit(command(limit(9, 0.123456789, 99.456)))
                before = len(emu.requests)
                refused = {name: await venue.submit(command(o)) for name, o in refusals.items()}
                return sent, refused, len(emu.requests) - before, venue.phase(refusals["tiny"].client_id)

        sent, refused, requests, phase = run(scenario())
        rows = {name: journal.order(o.client_id) for name, o in refusals.items()}
    assert isinstance(sent[0], OrderAccepted)
    placed = exchange_orders(emu)[0]
    assert (str(placed.qty), str(placed.price)) == ("0.12345", "99.46")  # truncated; rounded to the tick
    assert {name: [type(e) for e in events] for name, events in refused.items()} == {
        name: [OrderRejected] for name in refusals}
    assert {name: events[0].reason for name, events in refused.items()} == {
        "tiny": "Filter failure: LOT_SIZE", "huge": "Filter failure: LOT_SIZE", "cheap": "Filter failure: NOTIONAL",
        "tick": "Filter failure: PRICE_FILTER", "dear": "Filter failure: PRICE_FILTER"}
    assert requests == 0 and phase is Phase.REFUSED and len(exchange_orders(emu)) == 1
    assert all(row is not None for row in rows.values())  # the intents were journaled all the same


def test_the_local_refusal_words_are_the_exchanges(tmp_path):
    from tests.engine.venues.conftest import signed

    with trading_emulator() as emu:
        answers = [signed(emu, "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                         "timeInForce": "GTC", **params})[1]["msg"]
                   for params in ({"quantity": "0.000001", "price": "100"}, {"quantity": "0.01", "price": "100"},
                                  {"quantity": "0.1", "price": "0.001"})]
    assert answers == ["Filter failure: LOT_SIZE", "Filter failure: NOTIONAL", "Filter failure: PRICE_FILTER"]


def test_a_quote_amount_a_stop_limit_and_the_deployments_own_open_orders_and_trades(tmp_path):
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        quote = intent(1, 0.0, quote_qty=50.0)
        stop = intent(2, 0.5, side=-1, type=OrderType.STOP, stop_px=99.2, limit_px=99.0, role="stop_loss")

        async def scenario():
            async with venue_on(emu, journal) as venue:
                bought = await venue.submit(command(quote))
                stopped = await venue.submit(command(stop))
                await venue.exchange.create_order(SYMBOL, "limit", "buy", 0.1, 99.0, {"clientOrderId": "by-hand-1"})
                return bought, stopped, await venue.open_orders(), await venue.trades_since(NOW - 60_000), \
                    await venue.order(stop.client_id)

        bought, stopped, open_orders, trades, copy = run(scenario())
    assert [(e.qty, e.px, e.fee, e.fee_asset) for e in bought[1:]] == [(0.49975, 100.05, 0.00049975, "BTC")]
    assert exchange_orders(emu, stop.client_id)[0].type == "STOP_LOSS_LIMIT" and isinstance(stopped[0], OrderAccepted)
    assert [o.client_id for o in open_orders] == [stop.client_id]  # not the order placed by hand
    assert (copy.type, copy.stop_px, copy.limit_px, copy.status) == (OrderType.STOP, 99.2, 99.0, OrderStatus.ACCEPTED)
    assert [(t.client_id, t.trade_id, t.qty, t.fee_asset, t.fee_px) for t in trades] == [
        (quote.client_id, "1", 0.49975, "BTC", 100.05)]
    assert trades[0].as_fill().fee_asset == "base" and trades[0].as_fill().fee_quote == 0.00049975 * 100.05


def test_trades_since_walks_the_days_between_one_window_per_day(tmp_path):
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        first, later = intent(1, 0.1), intent(2, 0.1, side=-1)

        async def scenario():
            async with venue_on(emu, journal) as venue:
                await venue.submit(command(first))
                jump(emu, 3 * 86_400)  # three days on (past the feed's end: the last close, 100, is the market)
                await venue.submit(command(later))
                asked = emu.count("/api/v3/myTrades")
                trades = await venue.trades_since(NOW - 60_000)
                return trades, emu.count("/api/v3/myTrades") - asked

        trades, requests = run(scenario())
    assert [(t.client_id, t.side, t.fee_asset) for t in trades] == [(first.client_id, 1, "BTC"),
                                                                    (later.client_id, -1, "USDT")]
    assert trades[1].ts_ms - trades[0].ts_ms >= 3 * 86_400_000 and requests == 4  # four days touched
