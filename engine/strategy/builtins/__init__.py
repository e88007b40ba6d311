"""Built-in strategies; each module meets the contract of `engine.strategy.contract` (Params, GRID, signals).

A module may also declare `SCREEN`, the name of a fast sweep kernel in `research` that computes the
same orders as its signals (see `research.screen`); strategies without one sweep through vectorbt. `DECLARES_STOP = True` makes a stop-loss on every
entry mandatory in replay, paper and live (the risk rules refuse an entry without one).
"""
