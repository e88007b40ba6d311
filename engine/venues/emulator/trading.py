"""The signed endpoints: orders (new, test, query, cancel), open and all orders, my trades, the account and
the key's API restrictions. Each takes one authenticated call and answers (status, body); refusals are
raised as `BinanceError` by the book and answered by the app."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.venues.binance_wire import BinanceError
from engine.venues.emulator import responses
from engine.venues.emulator.auth import ApiKey
from engine.venues.emulator.book import Book, Window, generated_client_id
from engine.venues.emulator.config import TradingConfig
from engine.venues.emulator.records import OrderRequest

KEY_CREATED_MS = 1_577_836_800_000  # 2020-01-01: when the emulated account's keys were made
MAX_LIST_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request: its parameters, the key that signed it, the exchange's "now", and (from the
    `invisible` fault) how long an order it places stays out of queries."""

    params: Mapping[str, str]
    key: ApiKey
    now_ms: int
    book: Book
    config: TradingConfig
    invisible_s: float = 0.0


Answer = tuple[int, object]


def new_order(call: Call) -> Answer:
    request = OrderRequest.parse(call.params, generated_client_id())
    order, trades = call.book.place(request, call.now_ms, call.invisible_s)
    return 200, responses.new_order_body(order, trades, request.resp_type)


def test_order(call: Call) -> Answer:
    call.book.test(OrderRequest.parse(call.params, generated_client_id()), call.now_ms)
    return 200, {}


def query_order(call: Call) -> Answer:
    order_id, client_id = _order_ref(call.params)
    return 200, responses.order_body(call.book.query(_symbol(call), order_id, client_id, call.now_ms))


def cancel_order(call: Call) -> Answer:
    order_id, client_id = _order_ref(call.params)
    order = call.book.cancel(_symbol(call), order_id, client_id, call.now_ms)
    cancel_client_id = call.params.get("newClientOrderId") or generated_client_id()
    return 200, responses.cancel_body(order, cancel_client_id, call.now_ms)


def open_orders(call: Call) -> Answer:
    orders = call.book.open_orders(_symbol(call) if call.params.get("symbol") else None, call.now_ms)
    return 200, [responses.order_body(o) for o in orders]


def all_orders(call: Call) -> Answer:
    orders = call.book.all_orders(_symbol(call), _window(call.params), call.now_ms)
    return 200, [responses.order_body(o) for o in orders]


def my_trades(call: Call) -> Answer:
    trades = call.book.my_trades(_symbol(call), _window(call.params), call.now_ms)
    return 200, [responses.trade_body(t) for t in trades]


def account(call: Call) -> Answer:
    rows = call.book.balance_rows(call.now_ms)
    if call.params.get("omitZeroBalances") == "true":
        rows = [row for row in rows if row[1] or row[2]]
    return 200, responses.account_body(rows, call.key, call.config, call.now_ms)


def api_restrictions(call: Call) -> Answer:
    return 200, responses.restrictions_body(call.key, KEY_CREATED_MS)


ROUTES: dict[tuple[str, str], Callable[[Call], Answer]] = {
    ("POST", "/api/v3/order"): new_order,
    ("POST", "/api/v3/order/test"): test_order,
    ("GET", "/api/v3/order"): query_order,
    ("DELETE", "/api/v3/order"): cancel_order,
    ("GET", "/api/v3/openOrders"): open_orders,
    ("GET", "/api/v3/allOrders"): all_orders,
    ("GET", "/api/v3/myTrades"): my_trades,
    ("GET", "/api/v3/account"): account,
    ("GET", "/sapi/v1/account/apiRestrictions"): api_restrictions,
}


def _symbol(call: Call) -> str:
    """The market a call names: required, and one the exchange trades (-1121 otherwise)."""
    symbol = call.params.get("symbol", "")
    if not symbol:
        raise BinanceError("missing_parameter", name="symbol")
    if symbol not in call.book.markets:
        raise BinanceError("bad_symbol")
    return symbol


def _int(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise BinanceError("illegal_parameter", name=name, legal="^[0-9]{1,20}$") from None


def _order_ref(params: Mapping[str, str]) -> tuple[int | None, str | None]:
    order_id, client_id = _int(params, "orderId"), params.get("origClientOrderId") or None
    if order_id is None and client_id is None:
        raise BinanceError("missing_either", first="origClientOrderId", second="orderId")
    return order_id, client_id


def _window(params: Mapping[str, str]) -> Window:
    limit = _int(params, "limit") or 500
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise BinanceError("bad_parameter")
    return Window(_int(params, "startTime"), _int(params, "endTime"), _int(params, "fromId"), _int(params, "orderId"),
                  limit)

