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
    """Days x combos returns from days x combos values, the first day measured from the initial value.
    After a wipe-out the value stays at zero; those 0/0 days count as flat."""
    values = np.vstack([np.full((1, daily_values.shape[1]), init_value), daily_values])
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = values[1:] / values[:-1] - 1.0
    return np.where(np.isfinite(returns), returns, 0.0)


def trial_sr_variance(returns: np.ndarray) -> float:
    """Variance across trials of the per-period (daily) Sharpe ratio, the V of the DSR."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
    finite = sharpes[np.isfinite(sharpes)]
    return float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0


def dsr_evidence(returns: np.ndarray, n_trials: int, sr_variance: float, of: str = "the candidate's daily returns") -> dict:
    """DSR of one daily returns series found among `n_trials` trials whose Sharpe ratios vary by `sr_variance`;
    `of` says which series it is, for the label."""
    where = {"dsr_of": of, "dsr_days": int(len(returns))}
    try:
        moments = sharpe_moments(returns)
    except ValueError as exc:
        return {"dsr": None, "dsr_note": str(exc), **where}
    if n_trials < 2 or sr_variance <= 0:
        return {"sharpe_daily": moments.sr, "dsr": None, "dsr_note": "needs two or more trials that differ", **where}
    dsr = deflated_sharpe_ratio(moments.sr, moments.n_obs, moments.skew, moments.kurtosis, n_trials, sr_variance)
    return {"sharpe_daily": moments.sr, "dsr": dsr, "sr_variance": sr_variance, **where}


def pbo_evidence(returns: np.ndarray) -> dict:
    """PBO (CSCV) of picking the best column of a days x trials matrix, with as many blocks as fit (up to 16,
    at least two days each). The days that do not fill a whole block are left out at the START, so the
    blocks end on the last day: the most recent data always counts."""
    n_days, n_trials = returns.shape
    splits = min(MAX_SPLITS, 2 * (n_days // 4))  # at least two days per block
    if n_trials < 2 or splits < 4:
        return {"pbo": None, "pbo_note": f"needs >= 2 combinations and >= 8 days; have {n_trials} and {n_days}"}
    left_out = n_days % splits
    result = probability_of_backtest_overfitting(returns[left_out:], n_splits=splits)
    return {"pbo": result.pbo, "pbo_splits": splits, "pbo_combinations": result.n_combinations,
            "pbo_days": n_days, "pbo_block_days": result.rows_used // splits, "pbo_days_left_out": left_out,
            "logit_median": float(np.median(result.logits)) if len(result.logits) else math.nan}


def evidence_text(found: dict) -> str:
    """DSR and PBO labelled with exactly what each was computed on."""
    if found.get("dsr") is not None:
        dsr = (f"DSR {found['dsr']:.3f} of {found.get('dsr_of', 'the daily returns')} ({found.get('dsr_days', '?')} "
               f"days) among {found['trials']} trials")
    else:
        dsr = f"DSR n/a ({found.get('dsr_note', 'one trial')})"
    if found.get("pbo") is None:
        return f"{dsr}; PBO n/a ({found.get('pbo_note', '')})"
    left = found.get("pbo_days_left_out", 0)
    rest = f", the first {left} day(s) left out" if left else ""
    return (f"{dsr}; PBO {found['pbo']:.2f} (CSCV of all {found['trials']} trials over {found['pbo_days']} days: "
            f"{found['pbo_splits']} blocks of {found['pbo_block_days']} days{rest})")


def evidence(daily_values: np.ndarray, init_value: float, chosen: int) -> dict:
    """DSR of column `chosen` among all columns, and PBO of picking the best in-sample."""
    returns = daily_returns(daily_values, init_value)
    out: dict = {"days": int(returns.shape[0]), "trials": int(returns.shape[1])}
    out.update(dsr_evidence(returns[:, chosen], returns.shape[1], trial_sr_variance(returns)))
    out.update(pbo_evidence(returns))
    return out
