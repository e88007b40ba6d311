"""The emulator in its own process for the benchmarks (`gauntlet emulator serve`), as an exchange would run,
so its JSON encoding does not share the measured client's interpreter lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def serving(candles: Path, *flags: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve `candles` (1m BTC/USDT) with `flags`; yields the base URL; stops the server however the body ends."""
    gauntlet = Path(sys.executable).parent / "gauntlet"
    server = subprocess.Popen([str(gauntlet), "emulator", "serve", "--candles", str(candles), "--symbol", "BTC/USDT",
                               "--timeframe", "1m", *flags], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "COLUMNS": "300", **(env or {})})
    try:
        yield server.stdout.readline().split(" on ")[1].split()[0]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
