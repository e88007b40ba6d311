"""The trading endpoints' bodies in Binance's shapes (compare `shared/data/fixtures/binance_spot/binance_docs`):
an order as `GET /api/v3/order` shows it, a new order as ACK/RESULT/FULL, a cancel, a trade of `myTrades`, the
account and a key's API restrictions. Amounts are 8-decimal strings and times JSON numbers, as Binance sends."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from engine.venues.emulator.auth import ApiKey
from engine.venues.emulator.config import TradingConfig
from engine.venues.emulator.records import STOP_TYPES, BookOrder, BookTrade

_STP = "EXPIRE_MAKER"  # Binance's default self-trade prevention mode on spot


def amount(value: Decimal) -> str:
    return f"{value:.8f}"


def _core(order: BookOrder) -> dict:
    """The fields every order body shares, in Binance's order."""
    return {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1, "clientOrderId": order.client_id}


def _amounts(order: BookOrder) -> dict:
    body = {"price": amount(order.price), "origQty": amount(order.qty), "executedQty": amount(order.executed_qty),
            "origQuoteOrderQty": amount(order.quote_qty), "cummulativeQuoteQty": amount(order.cum_quote),
            "status": order.status, "timeInForce": order.tif, "type": order.type, "side": order.side}
    if order.type in STOP_TYPES:
        body["stopPrice"] = amount(order.stop_px)
    return body


def order_body(order: BookOrder) -> dict:
    """`GET /api/v3/order`, and each entry of openOrders and allOrders."""
    return {**_core(order), **_amounts(order), "stopPrice": amount(order.stop_px), "icebergQty": amount(Decimal(0)),
            "time": order.time_ms, "updateTime": order.update_ms, "isWorking": order.working_ms >= 0,
            "workingTime": order.working_ms, "selfTradePreventionMode": _STP}


def new_order_body(order: BookOrder, trades: Iterable[BookTrade], resp_type: str) -> dict:
    """`POST /api/v3/order`: ACK (ids and time), RESULT (the order), FULL (the order and its fills)."""
    body = {**_core(order), "transactTime": order.time_ms}
    if resp_type == "ACK":
        return body
    body |= {**_amounts(order), "workingTime": order.working_ms, "selfTradePreventionMode": _STP}
    if resp_type == "FULL":
        body["fills"] = [{"price": amount(t.px), "qty": amount(t.qty), "commission": amount(t.commission),
                          "commissionAsset": t.commission_asset, "tradeId": t.trade_id} for t in trades]
    return body


def cancel_body(order: BookOrder, cancel_client_id: str, now_ms: int) -> dict:
    """`DELETE /api/v3/order`: the order as cancelled; `clientOrderId` names the cancel, the order's own id is
    `origClientOrderId` (so ccxt's parsed `clientOrderId` of a cancel is the cancel's)."""
    return {"symbol": order.symbol, "origClientOrderId": order.client_id, "orderId": order.order_id,
            "orderListId": -1, "clientOrderId": cancel_client_id, "transactTime": now_ms, **_amounts(order),
            "selfTradePreventionMode": _STP}


def trade_body(trade: BookTrade) -> dict:
    """One entry of `GET /api/v3/myTrades`."""
    return {"symbol": trade.symbol, "id": trade.trade_id, "orderId": trade.order_id, "orderListId": -1,
            "price": amount(trade.px), "qty": amount(trade.qty), "quoteQty": amount(trade.quote_qty),
            "commission": amount(trade.commission), "commissionAsset": trade.commission_asset, "time": trade.time_ms,
            "isBuyer": trade.is_buyer, "isMaker": trade.is_maker, "isBestMatch": True}


def account_body(rows: Iterable[tuple[str, Decimal, Decimal]], key: ApiKey, config: TradingConfig, now_ms: int) -> dict:
    """`GET /api/v3/account`: commission rates (also in basis points), permissions and balances."""
    maker, taker = config.maker_rate, config.taker_rate
    return {"makerCommission": int(maker * 10_000), "takerCommission": int(taker * 10_000), "buyerCommission": 0,
            "sellerCommission": 0, "commissionRates": {"maker": amount(maker), "taker": amount(taker),
                                                       "buyer": amount(Decimal(0)), "seller": amount(Decimal(0))},
            "canTrade": True, "canWithdraw": key.can_withdraw, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now_ms, "accountType": "SPOT",
            "balances": [{"asset": a, "free": amount(free), "locked": amount(locked)} for a, free, locked in rows],
            "permissions": ["SPOT"], "uid": 1}


def restrictions_body(key: ApiKey, created_ms: int) -> dict:
    """`GET /sapi/v1/account/apiRestrictions`: what this key may do."""
    return {"ipRestrict": key.ip_restricted, "createTime": created_ms, "enableReading": True,
            "enableSpotAndMarginTrading": True, "enableWithdrawals": key.can_withdraw,
            "enableInternalTransfer": False, "enableMargin": False, "enableFutures": False,
            "permitsUniversalTransfer": False, "enableVanillaOptions": False, "enableFixApiTrade": False,
            "enableFixReadOnly": False, "enablePortfolioMarginTrading": False}
