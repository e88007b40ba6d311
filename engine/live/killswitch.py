"""The kill switch: a file beside the deployment's journal (`<data>/journal/NAME.kill`) that latches.

While it exists the runner cancels the deployment's open orders and refuses every new entry (a `RiskChecked`
naming `kill_switch`); the strategy's exits still go, because reducing risk is always allowed. Latched with
`flatten` (`gauntlet stop NAME --flatten`), the runner also closes the position at the next candle, with one
reduce-only market order after the cancels (`Loop.flatten`, journaled as `FlattenOrdered` before it is sent),
and sends nothing more once flat. It is written by `gauntlet stop NAME` or by the runner itself when the
portfolio's drawdown halt trips, survives restarts, and only `gauntlet resume NAME` removes it. A file rather
than a journal row, so it can be set while the runner holds the journal, by hand if need be (`touch` works: a
file with no reason still latches, without flattening).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from engine.ohlcv.files import FileOps

__all__ = ["KillSwitch", "Latch"]


@dataclass(frozen=True, slots=True)
class Latch:
    """A latched switch: why, and whether it closes the position too."""

    reason: str
    flatten: bool = False


@dataclass(frozen=True, slots=True)
class KillSwitch:
    path: Path

    @classmethod
    def of(cls, name: str, data_dir: Path) -> KillSwitch:
        return cls(Path(data_dir) / "journal" / f"{name}.kill")

    def latch(self, reason: str, flatten: bool = False) -> None:
        """Latch with `reason` (a latched switch keeps its first reason); `flatten` also closes the position,
        and turns a latched switch that did not into one that does (never back: `resume`, then latch again)."""
        held = self.read()
        if held is not None and (held.flatten or not flatten):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"reason": reason if held is None else held.reason, "flatten": flatten,
                "latched_ms": int(time.time() * 1000)}
        FileOps().write_atomic(self.path, json.dumps(body).encode())

    def read(self) -> Latch | None:
        """The latch, or None when the switch is not latched."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            return Latch(f"unreadable kill file {self.path} ({exc.strerror})")
        try:
            body = json.loads(text)
            return Latch(str(body["reason"]), body.get("flatten") is True)
        except (ValueError, KeyError, TypeError, AttributeError):
            return Latch(text.strip() or f"latched by {self.path}")

    def reason(self) -> str | None:
        """Why it is latched, or None when it is not."""
        latch = self.read()
        return None if latch is None else latch.reason

    def reset(self) -> bool:
        """Unlatch; returns whether it was latched."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
