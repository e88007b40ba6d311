"""The exchange's records, as Binance keeps them: an order with its fills so far, a trade (one fill, with its
commission), and a new-order request as the exchange reads its parameters. Amounts are `Decimal`: the
exchange's books are exact, and its answers are decimal strings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engine.venues.binance_wire import BinanceError

ZERO = Decimal(0)
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
ORDER_TYPES = ("MARKET", "LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
STOP_TYPES = ("STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
_DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"


@dataclass(slots=True)
class BookOrder:
    """One order as the exchange holds it. `working_ms` is when it started working on the book (-1: a stop
    not yet triggered); `locked` is the balance still set aside for it (quote for a buy, base for a sell);
    `visible_at` the monotonic second from which queries see it (the database lag)."""

    order_id: int
    symbol: str  # the market id, e.g. BTCUSDT
    client_id: str
    side: str  # BUY | SELL
    type: str
    tif: str
    qty: Decimal
    price: Decimal  # 0 for a market order
    stop_px: Decimal  # 0 unless a stop
    quote_qty: Decimal  # quoteOrderQty of a market order, else 0
    time_ms: int
    update_ms: int
    working_ms: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    locked: Decimal = ZERO
    visible_at: float = 0.0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_buy(self) -> bool:
        return self.side == "BUY"

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed_qty


@dataclass(frozen=True, slots=True)
class BookTrade:
    """One fill of one order: `commission` is charged in `commission_asset`, the asset the order received."""

    trade_id: int
    order_id: int
    symbol: str
    is_buyer: bool
    px: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_maker: bool


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """The parameters of `POST /api/v3/order`, checked for presence and form (not yet against the market)."""

    symbol: str
    side: str
    type: str
    tif: str
    qty: Decimal | None
    quote_qty: Decimal | None
    price: Decimal | None
    stop_px: Decimal | None
    client_id: str
    resp_type: str

    @classmethod
    def parse(cls, params: Mapping[str, str], default_client_id: str) -> OrderRequest:
        symbol, side, kind = (_required(params, name) for name in ("symbol", "side", "type"))
        if side not in ("BUY", "SELL"):
            raise BinanceError("bad_side")
        if kind not in ORDER_TYPES:
            raise BinanceError("bad_order_type")
        qty, quote_qty, price, stop_px = (_decimal(params, name) for name in ("quantity", "quoteOrderQty", "price",
                                                                               "stopPrice"))
        tif = params.get("timeInForce", "")
        _check_shape(kind, tif, (qty, quote_qty, price, stop_px))
        resp_type = params.get("newOrderRespType") or ("FULL" if kind in ("MARKET", "LIMIT") else "ACK")
        return cls(symbol, side, kind, tif or "GTC", qty, quote_qty, price, stop_px,
                   params.get("newClientOrderId") or default_client_id, resp_type)


def _check_shape(kind: str, tif: str, amounts: tuple[Decimal | None, ...]) -> None:
    """The parameters each order type needs (Binance's table for POST /api/v3/order)."""
    qty, quote_qty, price, stop_px = amounts
    if kind == "MARKET":
        if (qty is None) == (quote_qty is None):
            raise BinanceError("missing_either", first="quantity", second="quoteOrderQty")
        if price is not None or stop_px is not None or tif:
            raise BinanceError("unsupported_combination")
        return
    for name, value in (("quantity", qty), ("price", price)):
        if value is None:
            raise BinanceError("missing_parameter", name=name)
    if kind in STOP_TYPES and stop_px is None:
        raise BinanceError("missing_parameter", name="stopPrice")
    if kind == "LIMIT_MAKER":
        if tif:
            raise BinanceError("unsupported_combination")
    elif not tif:
        raise BinanceError("missing_parameter", name="timeInForce")
    elif tif not in ("GTC", "IOC", "FOK"):
        raise BinanceError("bad_tif")
    if quote_qty is not None or (stop_px is not None and kind not in STOP_TYPES):
        raise BinanceError("unsupported_combination")


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise BinanceError("missing_parameter", name=name)
    return value


def _decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise BinanceError("illegal_parameter", name=name, legal=_DECIMAL_RANGE)
    return value
