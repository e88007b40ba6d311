"""The simulated venue (the fill model replay and paper trading fill orders with), the valuation of the books
at every bar, and the metric kernels the sweep and replay share."""

from engine.sim.fills import INSUFFICIENT_BALANCE, NO_MARGIN, NOTHING_TO_REDUCE, REFUSALS, FillModel

__all__ = ["FillModel", "INSUFFICIENT_BALANCE", "NOTHING_TO_REDUCE", "NO_MARGIN", "REFUSALS"]
