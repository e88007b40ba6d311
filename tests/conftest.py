"""Shared test factories: real candles from ../shared/data, synthetic candle frames, a running emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from engine.ohlcv.schema import frame_from_arrays
from engine.ohlcv.timeframe import timeframe_ms
from engine.venues.emulator import BinanceEmulator, Feed

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_candles(name: str) -> pd.DataFrame:
    """A real candle file from ../shared/data as a cache frame (read in place, never copied)."""
    table = pq.read_table(SHARED_DATA / name)
    return frame_from_arrays(table.column("timestamp").to_numpy(), {c: table.column(c).to_numpy()
                                                                   for c in ("open", "high", "low", "close", "volume")})


def make_candles(n: int, *, seed: int = 0, timeframe: str = "1h", start: str = "2024-01-01") -> pd.DataFrame:
    """A consistent random-walk candle frame with n rows and no gaps."""
    rng = np.random.default_rng(seed)
    step = timeframe_ms(timeframe)
    ts = int(pd.Timestamp(start, tz="UTC").value // 1_000_000) + step * np.arange(n, dtype=np.int64)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    open_ = np.round(np.r_[100.0, close[:-1]], 2)
    high = np.maximum(open_, close) + np.round(rng.uniform(0, 0.5, n), 2)
    low = np.minimum(open_, close) - np.round(rng.uniform(0, 0.5, n), 2)
    volume = np.round(rng.uniform(1, 100, n), 5)
    return frame_from_arrays(ts, {"open": open_, "high": high, "low": low, "close": close, "volume": volume})


def btc_1h_store(root: Path):
    """A cache at `root` holding the real BTC/USDT 1h candles of 2024-01 -> 2024-09 as binance."""
    from engine.ohlcv import SeriesKey, Store

    store = Store(root)
    store.write(SeriesKey("binance", "BTC/USDT", "1h"), shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet"),
                source={"kind": "test"}, obtained_ms=4_102_444_800_000)
    return store


@pytest.fixture
def emulator_5m() -> Iterator[BinanceEmulator]:
    """The emulator serving the real BTC/USDT 5m candles of 2020-12 → 2021-07 (six real outages)."""
    feed = Feed.from_frame("BTC/USDT", "5m", shared_candles("binance_BTC-USDT_5m.parquet"))
    with BinanceEmulator([feed]) as emulator:
        yield emulator


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty GAUNTLET_DATA_DIR (and GAUNTLET_REPORTS_DIR beside it) in tmp_path, for CLI runs."""
    from engine.settings import settings

    monkeypatch.setenv("GAUNTLET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GAUNTLET_REPORTS_DIR", str(tmp_path / "reports"))
    settings.cache_clear()
    yield tmp_path / "data"
    settings.cache_clear()


@pytest.fixture
def env_cache(tmp_path, monkeypatch):
    """GAUNTLET_DATA_DIR and GAUNTLET_REPORTS_DIR in tmp_path (seen by CLI runs and notebook kernels alike),
    with the real BTC/USDT 1h candles of 2024-01 -> 2024-09 cached as binance."""
    from engine.settings import settings

    monkeypatch.setenv("GAUNTLET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GAUNTLET_REPORTS_DIR", str(tmp_path / "reports"))
    settings.cache_clear()
    btc_1h_store(tmp_path / "data")
    yield tmp_path
    settings.cache_clear()
