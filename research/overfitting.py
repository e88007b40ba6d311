"""The overfitting evidence a sweep or walk-forward reports: the Deflated Sharpe Ratio of the chosen
combination (trials = every combination tried) and the Probability of Backtest Overfitting of the search.

Both are computed on daily returns (the value at each UTC day's last bar), whatever the bar size: the
same clock for every timeframe, and a T x N matrix that stays small for minute bars.
"""

from __future__ import annotations

import math

import numpy as np

from research.stats import deflated_sharpe_ratio, probability_of_backtest_overfitting, sharpe_moments

MAX_SPLITS = 16


def daily_returns(daily_values: np.ndarray, init_value: float) -> np.ndarray:
    """Days x combos returns from days x combos values, the first day measured from the initial value."""
    values = np.vstack([np.full((1, daily_values.shape[1]), init_value), daily_values])
    with np.errstate(divide="ignore", invalid="ignore"):
        return values[1:] / values[:-1] - 1.0


def _per_period_sharpes(returns: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return returns.mean(axis=0) / returns.std(axis=0, ddof=1)


def evidence(daily_values: np.ndarray, init_value: float, chosen: int) -> dict:
    """DSR of column `chosen` among all columns, and PBO of picking the best in-sample; each is reported
    with what it was computed from, or with the reason it could not be."""
    returns = daily_returns(daily_values, init_value)
    n_days, n_trials = returns.shape
    out: dict = {"days": int(n_days), "trials": int(n_trials)}
    sharpes = _per_period_sharpes(returns)
    finite = np.isfinite(sharpes)
    try:
        moments = sharpe_moments(returns[:, chosen])
        sr_variance = float(np.var(sharpes[finite], ddof=1)) if finite.sum() > 1 else 0.0
        out["sharpe_daily"] = moments.sr
        out["dsr"] = (deflated_sharpe_ratio(moments.sr, moments.n_obs, moments.skew, moments.kurtosis, n_trials,
                                            sr_variance) if n_trials > 1 and sr_variance > 0 else None)
        out["sr_variance"] = sr_variance
    except ValueError as exc:
        out["dsr"], out["dsr_note"] = None, str(exc)
    splits = min(MAX_SPLITS, 2 * (n_days // 4))  # at least two days per block
    if n_trials < 2 or splits < 4:
        out["pbo"], out["pbo_note"] = None, f"needs >= 2 combinations and >= 8 days; have {n_trials} and {n_days}"
        return out
    # after a wipe-out the value stays at zero and 0/0 returns are NaN: the account earns nothing
    flat = np.where(np.isfinite(returns), returns, 0.0)
    result = probability_of_backtest_overfitting(flat, n_splits=splits)
    out.update(pbo=result.pbo, pbo_splits=splits, pbo_combinations=result.n_combinations,
               logit_median=float(np.median(result.logits)) if len(result.logits) else math.nan)
    return out
