"""Venues: the ccxt client factory, the clocks a driver waits on, and the loopback Binance emulator."""

from engine.venues.clock import AcceleratedClock, Clock, HistoricalClock, WallClock

__all__ = ["AcceleratedClock", "Clock", "HistoricalClock", "WallClock"]

# The ccxt venue and its parts, imported when first named (replay reaches `engine.venues.clock` without ccxt).
_LAZY = {"CcxtVenue": "ccxt_venue", "VenueConfig": "ccxt_venue", "ProofPolicy": "submission", "Phase": "submission",
         "IntentLog": "submission", "JournaledOrder": "submission", "BookedFill": "submission",
         "intent_of": "submission", "RetryPolicy": "calls", "VenueError": "ccxt_errors", "KeyRefused": "ccxt_errors",
         "VenueFill": "reports", "FilterRefused": "precision"}
__all__ += sorted(_LAZY)


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"engine.venues.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'engine.venues' has no attribute {name!r}")
