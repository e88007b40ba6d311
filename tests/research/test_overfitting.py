"""The overfitting evidence says exactly what it was computed on: PBO over the whole search (its days, its
blocks, the days left out), DSR of which returns."""

from __future__ import annotations

import numpy as np
import pytest

from research.overfitting import evidence_text, pbo_evidence
from research.stats import probability_of_backtest_overfitting


def test_pbo_uses_whole_blocks_ending_on_the_last_day_and_says_so():
    returns = np.random.default_rng(3).normal(0, 0.01, (524, 6))
    found = pbo_evidence(returns)
    assert (found["pbo_days"], found["pbo_splits"], found["pbo_block_days"], found["pbo_days_left_out"]) == (524, 16, 32, 12)
    assert found["pbo"] == probability_of_backtest_overfitting(returns[12:], n_splits=16).pbo  # the latest 512 days
    text = evidence_text({**found, "dsr": 0.02, "dsr_of": "the stitched out-of-sample daily returns", "dsr_days": 301,
                          "trials": 6})
    assert text == (f"DSR 0.020 of the stitched out-of-sample daily returns (301 days) among 6 trials; PBO {found['pbo']:.2f} "
                    "(CSCV of all 6 trials over 524 days: 16 blocks of 32 days, the first 12 day(s) left out)")


def test_pbo_without_leftover_days_says_nothing_is_left_out():
    found = pbo_evidence(np.random.default_rng(4).normal(0, 0.01, (64, 3)))
    assert found["pbo_days_left_out"] == 0 and "left out" not in evidence_text({**found, "dsr": None, "trials": 3})
    assert pbo_evidence(np.zeros((6, 3)))["pbo"] is None
    with pytest.raises(KeyError):
        pbo_evidence(np.zeros((6, 3)))["pbo_days"]
