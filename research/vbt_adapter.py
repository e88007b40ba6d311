"""The edge between gauntlet and vectorbt: Signals in, `Portfolio` and per-column metrics out.

Every sweep column goes through `Portfolio.from_signals` with the execution conventions of
`engine.core.costs` (signals shifted by `at_next_open`, filled at the open with slippage, fees on
notional) and is scored by the same accumulators as the fused kernel (`engine.sim.metrics_nb`).

Every comparison with vectorbt names its engine instead of taking vectorbt 1.2's default ("auto": Rust
where `vectorbt-rust` is installed, else numba), so a result never depends on what an install picked:
- `PORTFOLIO_ENGINE = "rust"` for `Portfolio.from_signals` and what it derives (value, assets, trades): the
  precompiled simulation, which the parity and sweep tests hold equal to our replay and fused kernel to
  1e-9 (its numba twin compiles for about 10 s in every fresh process);
- `INDICATOR_ENGINE = "numba"` for vectorbt's indicators (`vbt.MA`, `vbt.RSI`, `vbt.ATR`, rolling extremes):
  our kernels (`engine.strategy.indicators_nb`) equal its numba ones bit for bit, while its Rust `vbt.MA` differs by
  up to ~1e-7 on real closes, enough to flip a crossing on flat candles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import vectorbt as vbt

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.strategy.signals import at_next_open
from engine.strategy.signals import Signals
from engine.sim.metrics_nb import METRICS, metrics_from_values_nb

PORTFOLIO_ENGINE = "rust"  # Portfolio.from_signals (see above)
INDICATOR_ENGINE = "numba"  # vectorbt's indicators, when compared with ours (see above)


def _stack(columns: Sequence[np.ndarray | None], fill: float | bool) -> np.ndarray | None:
    """Columns side by side, missing ones filled; None when no column has any."""
    n = next((len(c) for c in columns if c is not None), None)
    return None if n is None else np.column_stack([c if c is not None else np.full(n, fill) for c in columns])


def portfolio(bars: Bars, signal_list: Sequence[Signals], costs: Costs, freq: str) -> vbt.Portfolio:
    """One column per Signals, all over the same bars."""
    shifted = [at_next_open(s) for s in signal_list]
    column = {name: getattr(bars, name)[:, None] for name in ("open", "high", "low", "close")}  # broadcast over columns
    kwargs: dict = dict(close=column["close"], entries=_stack([s.entries for s in shifted], False),
                        exits=_stack([s.exits for s in shifted], False), price=column["open"], fees=costs.fee_rate,
                        slippage=costs.slippage_rate, init_cash=costs.init_cash, freq=freq, engine=PORTFOLIO_ENGINE)
    if any(s.has_shorts for s in shifted):
        kwargs.update(short_entries=_stack([s.short_entries for s in shifted], False),
                      short_exits=_stack([s.short_exits for s in shifted], False))
    if any(s.size is not None for s in shifted):
        kwargs.update(size=_stack([s.size for s in shifted], 1.0), size_type="percent")
    if any(s.has_stops for s in shifted):
        kwargs.update(open=column["open"], high=column["high"], low=column["low"], stop_entry_price="fillprice")
        for name in ("sl_stop", "tp_stop"):
            if (stops := _stack([getattr(s, name) for s in shifted], np.nan)) is not None:
                kwargs[name] = stops
    return vbt.Portfolio.from_signals(**kwargs)


@dataclass(frozen=True, slots=True)
class Scored:
    metrics: np.ndarray  # columns x len(METRICS)
    samples: np.ndarray  # len(sample_idx) x columns: value at the sampled bars


def score(pf: vbt.Portfolio, costs: Costs, years: float, sample_idx: np.ndarray) -> Scored:
    """METRICS of every column; `years` is the calendar span of the portfolio's bars (`window_years`)."""
    value = np.asarray(pf.value().to_numpy(), dtype=np.float64).reshape(len(pf.wrapper.index), -1)
    position = np.asarray(pf.assets().to_numpy(), dtype=np.float64).reshape(value.shape)
    trades = pf.trades.records_arr
    metrics = np.empty((value.shape[1], len(METRICS)))
    for col in range(value.shape[1]):
        mine = trades[trades["col"] == col]
        metrics[col] = metrics_from_values_nb(np.ascontiguousarray(value[:, col]), np.ascontiguousarray(position[:, col]),
                                              costs.init_cash, years, mine["status"] == 1,
                                              mine["pnl"].astype(np.float64))
    return Scored(metrics, value[sample_idx])
