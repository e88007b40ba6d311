"""Fill arithmetic as scalar kernels: the same formulas the sweep uses (vectorbt's `from_signals`), so an
ideal replay equals the sweep fill for fill."""

from __future__ import annotations

import numpy as np
from numba import njit

REL_TOL, ABS_TOL = 1e-9, 1e-12  # vectorbt's float tolerances


@njit(cache=True, nogil=True)
def add_nb(a: float, b: float) -> float:
    """a + b, snapped to exactly zero when the two cancel within tolerance (vectorbt's `add_nb`), so an
    all-in buy leaves exactly no cash rather than -1e-13."""
    if np.sign(a) != np.sign(b):
        x, y = abs(a), abs(b)
        if x == y or abs(x - y) <= max(REL_TOL * max(x, y), ABS_TOL):
            return 0.0
    elif abs(a + b) <= ABS_TOL:
        return 0.0
    return a + b


@njit(cache=True, nogil=True)
def fill_px_nb(ref_px: float, side: int, slippage_rate: float) -> float:
    """Always adverse: a buy pays more, a sell receives less."""
    return ref_px * (1.0 + side * slippage_rate)


@njit(cache=True, nogil=True)
def spend_all_nb(cash: float, px: float, fee_rate: float) -> tuple[float, float]:
    """(qty, fee) of a buy that spends exactly `cash`, fee included."""
    spend = cash / (1.0 + fee_rate)
    return spend / px, cash - spend
