"""The kill switch: a file beside the deployment's journal (`<data>/journal/NAME.kill`) that latches.

While it exists the runner cancels the deployment's open orders and refuses every new entry (a `RiskChecked`
naming `kill_switch`); the strategy's exits still go, because reducing risk is always allowed. It is written by
`gauntlet stop NAME` or by the runner itself when the portfolio's drawdown halt trips, survives restarts, and
only `gauntlet resume NAME` removes it. A file rather than a journal row, so it can be set while the runner
holds the journal, by hand if need be (`touch` works: a file with no reason still latches).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from engine.ohlcv.files import FileOps

__all__ = ["KillSwitch"]


@dataclass(frozen=True, slots=True)
class KillSwitch:
    path: Path

    @classmethod
    def of(cls, name: str, data_dir: Path) -> KillSwitch:
        return cls(Path(data_dir) / "journal" / f"{name}.kill")

    def latch(self, reason: str) -> None:
        """Latch with `reason` (a latched switch keeps its first reason)."""
        if self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"reason": reason, "latched_ms": int(time.time() * 1000)})
        FileOps().write_atomic(self.path, body.encode())

    def reason(self) -> str | None:
        """Why it is latched, or None when it is not."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"unreadable kill file {self.path} ({exc.strerror})"
        try:
            return str(json.loads(text)["reason"])
        except (ValueError, KeyError, TypeError):
            return text.strip() or f"latched by {self.path}"

    def reset(self) -> bool:
        """Unlatch; returns whether it was latched."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
