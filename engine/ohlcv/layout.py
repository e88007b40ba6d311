"""Where a series lives on disk, and the one symbol converter (`BTC/USDT` in memory, `BTC-USDT` on disk).

data/ohlcv/<exchange>/<BASE-QUOTE>/<timeframe>/manifest.json
data/ohlcv/<exchange>/<BASE-QUOTE>/<timeframe>/<YYYY-MM>.<digest>.parquet

Partition file names carry a content digest so a rewrite never overwrites a file a reader may be using:
the manifest names the current file of each month and is the single commit point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from engine.ohlcv.timeframe import timeframe_ms

_SYMBOL = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")
_DISK_SYMBOL = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+$")
_EXCHANGE = re.compile(r"^[a-z0-9_]+$")
# The cache folder of the invented sample market (`engine.ohlcv.sample`), so it is never mistaken for real data.
SYNTHETIC_EXCHANGE = "synthetic"


def symbol_to_disk(symbol: str) -> str:
    """`BTC/USDT` -> `BTC-USDT`."""
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError(f"symbol {symbol!r} is not of the form BASE/QUOTE in capitals, e.g. BTC/USDT")
    return symbol.replace("/", "-")


def symbol_from_disk(name: str) -> str:
    """`BTC-USDT` -> `BTC/USDT`."""
    if not _DISK_SYMBOL.fullmatch(name):
        raise ValueError(f"folder {name!r} is not a symbol of the form BASE-QUOTE")
    return name.replace("-", "/")


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

    def folder(self, root: Path) -> Path:
        return root / "ohlcv" / self.exchange / symbol_to_disk(self.symbol) / self.timeframe

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe}"
