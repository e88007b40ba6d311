"""Strategies and what they see: the contract (`Params`, `GRID`, `signals`), bars, signals and the one
close -> next-open shift, indicators, the causality check, and the built-in strategies (`builtins`)."""

from engine.strategy.bars import Bars
from engine.strategy.causality import Violation, check_causality
from engine.strategy.contract import BUILTINS, Strategy, StrategyError, check_contract, load_strategy
from engine.strategy.signals import Signals, at_next_open
from engine.strategy.trailing import SIZING_ATR_BARS, SIZING_ATR_HISTORY, sizing_atr

__all__ = ["BUILTINS", "Bars", "SIZING_ATR_BARS", "SIZING_ATR_HISTORY", "Signals", "Strategy", "StrategyError", "Violation", "at_next_open", "check_causality",
           "check_contract", "load_strategy", "sizing_atr"]
