"""gauntlet's stable core: the OHLCV cache, strategies, the event loop and venues. Never imports `research`."""
