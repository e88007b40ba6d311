"""Venues: the ccxt client factory, the clocks a driver waits on, and the loopback Binance emulator."""

from engine.venues.clock import AcceleratedClock, Clock, HistoricalClock, WallClock

__all__ = ["AcceleratedClock", "Clock", "HistoricalClock", "WallClock"]
