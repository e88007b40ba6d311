"""The simulated venue (the fill model replay and paper trading fill orders with), the valuation of the books
at every bar, and the metric kernels the sweep and replay share."""

from engine.sim.fills import FillModel

__all__ = ["FillModel"]
