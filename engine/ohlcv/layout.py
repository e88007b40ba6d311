"""Where a series lives on disk, and the one symbol converter (`BTC/USDT` in memory, `BTC-USDT` on disk).

data/ohlcv/<exchange>/<BASE-QUOTE>/<timeframe>/manifest.json
data/ohlcv/<exchange>/<BASE-QUOTE>/<timeframe>/<YYYY-MM>.<digest>.parquet

Derivatives keep ccxt's unified form in memory (`BTC/USDT:USDT` a linear swap, `BTC/USD:BTC` an inverse
one, `BTC/USDT:USDT-250328` a dated future) and put `_` for the `:` on disk (`BTC-USDT_USDT`,
`BTC-USDT_USDT-250328`): `:` is not a portable file-name character, and the mapping stays reversible
because neither `/`, `:` nor `_` occurs inside a currency code.

Partition file names carry a content digest so a rewrite never overwrites a file a reader may be using:
the manifest names the current file of each month and is the single commit point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from engine.ohlcv.timeframe import timeframe_ms

_CODE = r"[A-Z0-9]+"
_CONTRACT = r"[A-Z0-9]+(?:-[A-Z0-9.]+)*"  # settle currency, then expiry (and strike, option type) for dated ones
_SYMBOL = re.compile(rf"^{_CODE}/{_CODE}(?::{_CONTRACT})?$")
_DISK_SYMBOL = re.compile(rf"^({_CODE})-({_CODE})(?:_({_CONTRACT}))?$")
_EXCHANGE = re.compile(r"^[a-z0-9_]+$")
# The cache folder of the invented sample market (`engine.ohlcv.sample`), so it is never mistaken for real data.
SYNTHETIC_EXCHANGE = "synthetic"


def symbol_to_disk(symbol: str) -> str:
    """`BTC/USDT` -> `BTC-USDT`; `BTC/USDT:USDT` -> `BTC-USDT_USDT`."""
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError(f"symbol {symbol!r} is not in ccxt's unified form in capitals: BASE/QUOTE such as "
                         f"BTC/USDT, or BASE/QUOTE:SETTLE for a swap such as BTC/USDT:USDT")
    return symbol.replace("/", "-").replace(":", "_")


def symbol_from_disk(name: str) -> str:
    """`BTC-USDT` -> `BTC/USDT`; `BTC-USDT_USDT` -> `BTC/USDT:USDT`."""
    match = _DISK_SYMBOL.fullmatch(name)
    if match is None:
        raise ValueError(f"folder {name!r} is not a symbol of the form BASE-QUOTE or BASE-QUOTE_SETTLE")
    base, quote, contract = match.groups()
    return f"{base}/{quote}" + (f":{contract}" if contract else "")


def market_type(symbol: str) -> str:
    """ccxt's market type as the unified symbol spells it: spot, swap, future (dated) or option."""
    if ":" not in symbol:
        return "spot"
    parts = symbol.split(":", 1)[1].split("-")
    return {1: "swap", 2: "future"}.get(len(parts), "option")


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """One cached series: exchange, symbol and timeframe, validated once."""

    exchange: str
    symbol: str
    timeframe: str

    def __post_init__(self) -> None:
        if not _EXCHANGE.fullmatch(self.exchange):
            raise ValueError(f"exchange {self.exchange!r} must be a lower-case ccxt id such as 'binance'")
        symbol_to_disk(self.symbol)
        timeframe_ms(self.timeframe)

    @property
    def timeframe_ms(self) -> int:
        return timeframe_ms(self.timeframe)

    @property
    def market_type(self) -> str:
        return market_type(self.symbol)

    def folder(self, root: Path) -> Path:
        return root / "ohlcv" / self.exchange / symbol_to_disk(self.symbol) / self.timeframe

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe}"
