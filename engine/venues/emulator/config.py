"""What the emulated account starts with and charges: its API keys, opening balances, commission rates and the
fill model's slippage and participation cap, and where its state is kept across restarts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from engine.core import Costs, Realism
from engine.venues.emulator.auth import ApiKey

_COSTS, _REALISM = Costs(), Realism()  # the engine's defaults: paper and the emulator charge alike


@dataclass(frozen=True, slots=True)
class TradingConfig:
    """The emulated account. Commission is Binance's (charged in the asset received, maker or taker); the
    slippage and the participation cap (None: no cap) are the engine's fill model's, so the emulator fills as
    paper trading does."""

    keys: tuple[ApiKey, ...] = ()
    balances: Mapping[str, Decimal] = field(default_factory=dict)
    state_path: Path | None = None
    taker_rate: Decimal = Decimal(str(_COSTS.fee_rate))
    maker_rate: Decimal = Decimal(str(_COSTS.maker_rate))
    slippage_rate: float = _COSTS.slippage_rate
    participation_cap: float | None = _REALISM.participation_cap


def parse_balances(text: str) -> dict[str, Decimal]:
    """`USDT=10000,BTC=0` -> {"USDT": Decimal("10000"), "BTC": Decimal("0")}."""
    balances: dict[str, Decimal] = {}
    for part in (p.strip() for p in text.split(",")):
        asset, sep, amount = part.partition("=")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            value = Decimal(-1)
        if not sep or not asset.strip().isalnum() or not value.is_finite() or value < 0:
            raise ValueError(f"balance {part!r}: expected ASSET=AMOUNT with a non-negative amount, e.g. USDT=10000")
        balances[asset.strip().upper()] = value
    return balances
