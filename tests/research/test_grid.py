"""One grammar for parameters on every command: `--param NAME=VALUES`, a point or a grid."""

from __future__ import annotations

import pytest

from engine.strategy.contract import load_strategy
from research.flags import in_flags
from research.grid import legacy_hint, parse_grid, parse_params, point_text, split_specs

SMA = load_strategy("sma_cross")


def test_a_point_and_a_grid_share_one_grammar():
    assert parse_grid(SMA, ["fast=10", "slow=30"]) == {"fast": [10], "slow": [30]}
    assert parse_grid(SMA, ["fast=5:15:5", "slow=20,40"]) == {"fast": [5, 10, 15], "slow": [20, 40]}
    assert parse_params(SMA, ["fast=10", "slow=30"]) == SMA.params({"fast": 10, "slow": 30})
    assert parse_params(SMA, "fast=10,slow=30") == parse_params(SMA, ["fast=10", "slow=30"])  # the old text
    assert parse_params(SMA, []) == SMA.params()


def test_several_pairs_in_one_flag_read_as_several_flags():
    assert split_specs(["fast=5,10,slow=30", "slow=40"]) == ["fast=5,10", "slow=30", "slow=40"]
    assert parse_grid(SMA, ["fast=5,10,slow=30"]) == {"fast": [5, 10], "slow": [30]}
    assert point_text(["fast=10,slow=30"]) == point_text(["fast=10", "slow=30"]) == "fast=10,slow=30"


@pytest.mark.parametrize("spec, words", [
    ("fast=5:50:5", "--param fast=5:50:5 is a grid; this command takes one value per parameter, e.g. --param fast=5"),
    ("fast=5,10", "--param fast=5,10 is a grid"),
    ("fast", "--param 'fast': expected NAME=VALUES"),
    ("=3", "--param '=3': expected NAME=VALUES"),
])
def test_a_point_refuses_a_grid_and_malformed_pairs_naming_the_flag(spec, words):
    with pytest.raises(ValueError, match="^" + words.replace("(", r"\(").replace("+", r"\+")):
        point_text([spec])


def test_the_old_spelling_gets_a_hint_in_the_new_one():
    assert legacy_hint("fast=10,slow=30") == ("hint: --params fast=10,slow=30 is spelled --param fast=10 --param slow=30 "
                                              "now (the same --param as sweep and walkforward)")


def test_errors_name_flags_not_python_names():
    flags = {"folds": "--folds", "is_size": "--is-size", "oos_size": "--oos-size", "purge": "--purge",
             "mode": "--mode", "fee_rate": "--fee-rate", "sizing": "--sizing"}
    assert in_flags("give n_folds, oos_size or both", flags) == "give --folds, --oos-size or both"
    assert in_flags("rolling mode needs is_size; or use mode='anchored'", flags) == \
        "rolling mode needs --is-size; or use --mode anchored"
    assert in_flags("purge must be zero or more, got -3", flags) == "--purge must be zero or more, got -3"
    assert in_flags("override: costs.fee_rate: Input should be less than 1; risk.sizing.method: Input should be "
                    "'all'", flags) == "override: --fee-rate: Input should be less than 1; --sizing: Input should be 'all'"
    assert in_flags("sma_cross.py: min_is_bars=3, see run.json", flags) == "sma_cross.py: min_is_bars=3, see run.json"
    assert in_flags("give n_folds", {}) == "give n_folds"  # no command: the library's own words
