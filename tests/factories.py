"""Factories shared by several test modules."""

from __future__ import annotations

import textwrap
from pathlib import Path

_FAILING = '''
"""Long while the close is above its moving average; some windows fail, as a buggy strategy would."""
from dataclasses import dataclass
from pathlib import Path

from engine.strategy.indicators_nb import ma_nb
from engine.strategy.signals import Signals

ALWAYS, ONCE = {always}, {once}
MARKER = Path(__file__).with_suffix(".failed-once")  # there once the transient failure has happened


@dataclass(frozen=True, slots=True)
class Params:
    window: int = 20

    @property
    def warmup(self) -> int:
        return self.window + 1


GRID = {{"window": [5, 8, 13, 17, 21, 30]}}


def signals(bars, p):
    if p.window == ALWAYS:
        raise ValueError(f"window {{p.window}} always fails")
    if p.window == ONCE and not MARKER.exists():
        MARKER.touch()
        raise RuntimeError(f"window {{p.window}} fails the first time only")
    above = bars.close > ma_nb(bars.close, p.window, False)
    return Signals.from_target(above)
'''


def failing_strategy(folder: Path, always: int = 13, once: int | None = None) -> Path:
    """A strategy file whose `signals` raises for `window == always` on every call, and for
    `window == once` on the first call only (a marker file beside it remembers, across processes)."""
    path = folder / "failing.py"
    path.write_text(textwrap.dedent(_FAILING.format(always=always, once=once)))
    return path
