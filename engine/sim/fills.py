"""Replay's shortcut over the shared matching (`engine.core.matching`): the fill model indexed by bar, and the
scan that finds the first bar a resting order can trade on, so the default driver need not visit the bars
in between. Paper and live see one candle at a time and never use the scan.
"""

from __future__ import annotations

from engine.core.costs import Costs
from engine.core.market_rules import MarketRules
from engine.core.matching import Candle, Matcher
from engine.core.orders import Order, OrderType
from engine.core.realism import Realism
from engine.strategy.bars import Bars


_CHUNK = 1024  # bars converted to candles at a time


class FillModel(Matcher):
    """The matching of one market over a known history: candles by bar index."""

    def __init__(self, bars: Bars, costs: Costs, realism: Realism, rules: MarketRules) -> None:
        super().__init__(costs, realism, rules)
        self.bars = bars
        self._chunk: list[Candle] = []
        self._chunk_from = self._asked = -2  # the first bar of the chunk; the last bar asked for outside it

    def candle(self, t: int) -> Candle:
        """Bar t as the candle a venue learns when it closes. A driver walking bar after bar gets its candles
        made a chunk at a time (NumPy's `tolist` converts a stretch at once, and the whole history never sits
        in Python objects); one that jumps between bars gets just the bar it asks for."""
        k = t - self._chunk_from
        if 0 <= k < len(self._chunk):
            return self._chunk[k]
        b = self.bars
        if t != self._asked + 1:  # a jump: convert one bar
            self._asked = t
            return Candle(int(b.ts_ms[t]), float(b.open[t]), float(b.high[t]), float(b.low[t]), float(b.close[t]),
                          float(b.volume[t]))
        lo, hi = t, t + _CHUNK
        self._chunk = list(map(Candle._make, zip(b.ts_ms[lo:hi].tolist(), b.open[lo:hi].tolist(),
                                                 b.high[lo:hi].tolist(), b.low[lo:hi].tolist(),
                                                 b.close[lo:hi].tolist(), b.volume[lo:hi].tolist())))
        self._chunk_from = self._asked = t
        return self._chunk[0]

    def first_trigger(self, order: Order, start: int) -> int:
        """The first bar from `start` on where a resting order can trade (len(bars) if none), scanning in
        growing chunks so a near trigger costs little."""
        n, chunk = len(self.bars), 256
        lo = start
        while lo < n:
            hi = min(n, lo + chunk)
            if order.type is OrderType.LIMIT:
                if order.side > 0:
                    low = self.bars.low[lo:hi]
                    hit = (low <= order.limit_px) if self._touch else (low < order.limit_px)
                else:
                    high = self.bars.high[lo:hi]
                    hit = (high >= order.limit_px) if self._touch else (high > order.limit_px)
            elif order.type is OrderType.STOP:
                stop = order.stop_px
                hit = self.bars.high[lo:hi] >= stop if order.side > 0 else self.bars.low[lo:hi] <= stop
            else:
                return lo
            if hit.any():
                return lo + int(hit.argmax())
            lo, chunk = hi, chunk * 4
        return n
