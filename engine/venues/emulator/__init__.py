"""A loopback Binance: the spot REST endpoints ccxt's `binance` class calls — market data and signed trading —
served from our candles, so tests, the demo and paper rehearsals run the real exchange code path offline.

The real ccxt client is pointed at it (`engine.venues.ccxt_client.make_exchange(..., api_url=..., clock=...)`).
What makes it a test instrument rather than a file server:

- a clock: the emulator's "now" decides which candles exist, which one is still in progress (served partially,
  as Binance does), and which have closed and are matched against resting orders; it is manual, or
  accelerated so a rehearsal runs hundreds of candles in seconds;
- an account: orders, fills from the engine's own fill model (`engine.core.matching`), Binance's commission,
  balances and refusals, kept in the server and, with a state file, across its restarts;
- faults: HTTP 429, 418 bans, 503s, timeouts, cut-off bodies, dropped connections, bad credentials, answers
  lost after an order was accepted, orders invisible to queries for a while, "execution status unknown" and
  duplicated requests, each injected for the next N matching requests or for good.

Spot markets are served on `/api/v3` and USDⓈ-M perpetuals (a feed named `BTC/USDT:USDT`) on `/fapi/v1`
(market data only). Only 127.0.0.1 is ever bound.

Modules: `server` (the emulator, its thread and loop), `app` (routes), `market_data`, `trading` (signed
endpoints), `auth` (keys and signatures), `book` (orders, balances, trades), `fills` (matching against the
candles), `filters`, `records`, `balances`, `responses` (Binance's bodies), `faults`, `state` (the state file),
`feed`, `config`.
"""

from engine.venues.emulator.auth import ApiKey
from engine.venues.emulator.config import TradingConfig, parse_balances
from engine.venues.emulator.faults import FAULT_KINDS, Fault
from engine.venues.emulator.feed import Feed
from engine.venues.emulator.server import LOOPBACK, BinanceEmulator

__all__ = ["FAULT_KINDS", "LOOPBACK", "ApiKey", "BinanceEmulator", "Fault", "Feed", "TradingConfig", "parse_balances"]
