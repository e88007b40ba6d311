"""The account's balances as Binance shows them: per asset, `free` to use and `locked` by open orders.

Every order locks what it may spend when it is placed (a buy its quote at the limit price, or for a market
order at an estimate; a sell its base), its fills consume the lock, and what is left is released when it
ends. A placement that cannot lock is refused with -2010, before it exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from engine.venues.binance_wire import BinanceError

ZERO = Decimal(0)


class Balances:
    def __init__(self, free: Mapping[str, Decimal], locked: Mapping[str, Decimal] | None = None,
                 assets: Iterable[str] = ()) -> None:
        self._free = {asset: ZERO for asset in assets} | {a: Decimal(v) for a, v in free.items()}
        self._locked = {asset: ZERO for asset in self._free} | {a: Decimal(v) for a, v in (locked or {}).items()}

    def free(self, asset: str) -> Decimal:
        return self._free.get(asset, ZERO)

    def locked(self, asset: str) -> Decimal:
        return self._locked.get(asset, ZERO)

    def lock(self, asset: str, amount: Decimal) -> None:
        if amount > self.free(asset):
            raise BinanceError("insufficient_balance")
        self._free[asset] = self.free(asset) - amount
        self._locked[asset] = self.locked(asset) + amount

    def consume(self, asset: str, amount: Decimal) -> None:
        """A fill spends what its order had locked."""
        self._locked[asset] = self.locked(asset) - amount

    def release(self, asset: str, amount: Decimal) -> None:
        self._locked[asset] = self.locked(asset) - amount
        self._free[asset] = self.free(asset) + amount

    def credit(self, asset: str, amount: Decimal) -> None:
        self._free[asset] = self.free(asset) + amount
        self._locked.setdefault(asset, ZERO)

    def rows(self) -> list[tuple[str, Decimal, Decimal]]:
        """(asset, free, locked) for every asset the account has known, in name order."""
        return [(asset, self.free(asset), self.locked(asset)) for asset in sorted(self._free)]

    def snapshot(self) -> dict[str, dict[str, str]]:
        return {"free": {a: str(v) for a, v in self._free.items()},
                "locked": {a: str(v) for a, v in self._locked.items()}}

    @classmethod
    def restore(cls, snapshot: Mapping[str, Mapping[str, str]]) -> Balances:
        return cls({a: Decimal(v) for a, v in snapshot["free"].items()},
                   {a: Decimal(v) for a, v in snapshot["locked"].items()})
