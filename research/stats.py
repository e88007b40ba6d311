"""Overfitting statistics: PSR, DSR, MinTRL and the probability of backtest overfitting (PBO by CSCV).

Plain functions on plain numbers, in the conventions of
- Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", Journal of Risk 15(2): PSR, MinTRL;
- Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", Journal of Portfolio Management 40(5): DSR;
- Bailey, Borwein, López de Prado & Zhu (2017), "The Probability of Backtest Overfitting", Journal of
  Computational Finance 20(4): PBO by combinatorially symmetric cross-validation (CSCV).

Every Sharpe ratio here is per period (per bar), never annualized: the standard error
sqrt((1 - skew*SR + (kurtosis-1)/4 * SR^2) / (n_obs - 1)) is in per-period units, and an annualized SR
fed in would make PSR and DSR saturate at 1. Kurtosis is Pearson's (normal = 3), as in the papers.

Annualization (the one choice every annualized figure in gauntlet makes: sweep, walk-forward, replay and
the tearsheet; implemented in `engine.sim.metrics_nb`): a window's time is CALENDAR time, from its first
bar's open to its last bar's close (`window_years`), so missing candles count as time that passed.
CAGR compounds over that span. Annualized ratios (Sharpe, Sortino, Calmar) scale a per-bar figure by the
OBSERVED bars per year, rows / calendar years, not the nominal count of the timeframe: on data without
gaps the two are equal (8,760 for 1h); on sparse data (an exchange that prints no candle without a
trade) the nominal count would overstate them by sqrt(nominal / observed). The tearsheet, which works
on daily returns, uses the observed days per year the same way.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "PBOResult",
    "SharpeInputs",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "min_track_record_length",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "sharpe_moments",
]

_METRICS = ("sharpe", "total_return", "mean")
_MAX_COMBINATIONS = 3_000_000  # C(24, 12) = 2.7M; C(26, 13) = 10.4M would take minutes and gigabytes
_CHUNK = 1024  # combinations per vectorized step: bounds memory at ~chunk * S/2 * N floats


@dataclass(frozen=True, slots=True)
class SharpeInputs:
    """What PSR/DSR/MinTRL need from a returns series, computed one agreed way (see `sharpe_moments`)."""

    sr: float  # per-period Sharpe ratio: mean / std(ddof=1), no annualization, no risk-free rate
    n_obs: int
    skew: float  # biased sample skewness (scipy.stats.skew default)
    kurtosis: float  # biased Pearson kurtosis, normal = 3 (scipy.stats.kurtosis(fisher=False))


@dataclass(frozen=True, slots=True, eq=False)
class PBOResult:
    """CSCV outcome; arrays are per combination, in itertools.combinations(range(n_splits), n_splits // 2) order.

    `eq=False`: comparing array fields with `==` is ambiguous, compare the fields you care about.
    """

    pbo: float  # fraction of combinations with logit <= 0
    logits: np.ndarray  # lambda_c = ln(omega_c / (1 - omega_c)), omega_c = oos_rank / (n_trials + 1)
    n_combinations: int
    is_best: np.ndarray  # column index of the in-sample best trial
    oos_rank: np.ndarray  # its out-of-sample rank, 1 (worst) .. n_trials (best), ties averaged
    n_trials: int
    rows_used: int  # T rounded down to a multiple of n_splits (the remainder at the end is dropped)


def expected_max_sharpe(n_trials: int, sr_variance: float = 1.0) -> float:
    """Expected maximum of `n_trials` independent zero-mean Sharpe estimates (the "False Strategy" benchmark).

    Why it exists: with no skill at all, the best of N backtests still shows a positive Sharpe ratio;
    DSR asks whether the selected SR beats *this*, not zero. Bailey & López de Prado (2014), eq. for SR_0:
    sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e))), g the Euler-Mascheroni constant.

    It is a large-N approximation of E[max of N iid N(0, V)]: versus the exact expectation it is about
    8% low at N=2, then high by 2.3% at N=10, 0.9% at N=100, 0.4% at N=1000 (and shrinking).
    `sr_variance` is the variance of the per-period Sharpe ratios across the trials (not annualized).
    """
    if n_trials < 2:
        raise ValueError(
            f"n_trials must be >= 2, got {n_trials}: with one trial nothing was selected (no maximum to "
            "expect; Phi^-1(1 - 1/1) is infinite); use probabilistic_sharpe_ratio with sr_benchmark=0")
    if not sr_variance >= 0.0:
        raise ValueError(f"sr_variance is a variance of Sharpe ratios and must be >= 0, got {sr_variance}")
    g = float(np.euler_gamma)
    z = (1.0 - g) * stats.norm.ppf(1.0 - 1.0 / n_trials) + g * stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(sr_variance) * z)


def _sr_variance_term(sr: float, skew: float, kurtosis: float) -> float:
    """(n_obs - 1) * Var[SR_hat] = 1 - skew*SR + (kurtosis-1)/4 * SR^2, with the checks that catch misuse.

    Any distribution has kurtosis >= 1 + skew^2 (Pearson), which makes the term >= (1 - skew*SR/2)^2 >= 0.
    Excess (Fisher) kurtosis passed by mistake usually breaks that inequality, so it is rejected here
    rather than silently shrinking the standard error.
    """
    if not all(math.isfinite(v) for v in (sr, skew, kurtosis)):
        raise ValueError(f"sr, skew and kurtosis must be finite, got sr={sr} skew={skew} kurtosis={kurtosis}")
    if kurtosis < 1.0 + skew * skew - 1e-9:
        raise ValueError(
            f"kurtosis={kurtosis} is below 1 + skew**2 = {1.0 + skew * skew}, impossible for Pearson kurtosis "
            "(normal = 3); did you pass excess (Fisher) kurtosis? Add 3, or use scipy.stats.kurtosis(fisher=False)")
    term = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if term <= 0.0:
        raise ValueError(f"the Sharpe ratio's standard error is zero at sr={sr}, skew={skew}, kurtosis={kurtosis}")
    return term


def probabilistic_sharpe_ratio(
    sr: float, n_obs: int, skew: float, kurtosis: float, sr_benchmark: float = 0.0
) -> float:
    """PSR: the probability that the true Sharpe ratio exceeds `sr_benchmark`, given the observed `sr`.

    PSR = Phi((sr - sr_benchmark) * sqrt(n_obs - 1) / sqrt(1 - skew*sr + (kurtosis-1)/4 * sr^2)), with
    per-period (not annualized) Sharpe ratios and Pearson kurtosis (normal = 3).

    Convention: the variance term is evaluated at the OBSERVED `sr`, as in Bailey & López de Prado
    (2012, 2014). Other conventions exist and give different numbers: e.g. the 2025 variant by López de
    Prado et al. evaluates the variance at the benchmark (under the null hypothesis), and some texts
    use n_obs instead of n_obs - 1; the gap grows with |sr - sr_benchmark| and with skew/kurtosis.
    PSR is exactly 0.5 when sr == sr_benchmark.
    """
    if not n_obs > 1:
        raise ValueError(f"n_obs must be > 1 (the standard error divides by n_obs - 1), got {n_obs}")
    term = _sr_variance_term(sr, skew, kurtosis)
    z = (sr - sr_benchmark) * math.sqrt(n_obs - 1.0) / math.sqrt(term)
    return float(stats.norm.cdf(z))


def deflated_sharpe_ratio(
    sr: float, n_obs: int, skew: float, kurtosis: float, n_trials: int, sr_variance: float
) -> float:
    """DSR: PSR against the Sharpe ratio the best of `n_trials` no-skill trials would show anyway.

    DSR = PSR(sr_benchmark = expected_max_sharpe(n_trials, sr_variance)), Bailey & López de Prado (2014).
    `sr_variance` is the variance of the per-period Sharpe ratios across all trials and has no default
    on purpose: it sets the benchmark's scale, and a placeholder (such as 1.0, huge in per-period units)
    would silently make every strategy look overfit.
    """
    sr_benchmark = expected_max_sharpe(n_trials, sr_variance)
    return probabilistic_sharpe_ratio(sr, n_obs, skew, kurtosis, sr_benchmark)


def min_track_record_length(
    sr: float, skew: float, kurtosis: float, sr_benchmark: float = 0.0, prob: float = 0.95
) -> float:
    """MinTRL: observations needed before PSR(sr_benchmark) reaches `prob` (Bailey & López de Prado 2012).

    MinTRL = 1 + (1 - skew*sr + (kurtosis-1)/4 * sr^2) * (Phi^-1(prob) / (sr - sr_benchmark))^2, a count
    of per-period observations (a float: take ceil for a whole number). It inverts PSR exactly, with the
    variance at the observed `sr` (the same convention as `probabilistic_sharpe_ratio`).

    Returns math.inf when sr <= sr_benchmark: no track record, however long, makes an SR at or below the
    benchmark significantly above it. `prob` must be in [0.5, 1): at 0.5 the answer is 1 observation.
    """
    if not 0.5 <= prob < 1.0:
        raise ValueError(f"prob must be in [0.5, 1), got {prob}: below 0.5 any record qualifies, 1 needs infinity")
    term = _sr_variance_term(sr, skew, kurtosis)
    if sr <= sr_benchmark:
        return math.inf
    return 1.0 + term * (float(stats.norm.ppf(prob)) / (sr - sr_benchmark)) ** 2


def sharpe_moments(returns: np.ndarray) -> SharpeInputs:
    """Per-period SR, n_obs, skew and Pearson kurtosis of one returns series, to feed PSR/DSR/MinTRL.

    SR uses the sample std (ddof=1); skew and kurtosis are scipy's biased defaults. The mix is the common
    practice; the difference is O(1/n_obs) and far below the estimation error these statistics measure.
    """
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"returns must be a 1-D series of at least 2 periods, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("returns contain NaN or inf; drop or fill those periods first")
    sd = float(r.std(ddof=1))
    if sd == 0.0:
        raise ValueError("returns are constant: the Sharpe ratio (mean / std) is undefined")
    return SharpeInputs(sr=float(r.mean()) / sd, n_obs=int(r.size), skew=float(stats.skew(r)),
                        kurtosis=float(stats.kurtosis(r, fisher=False)))


@dataclass(frozen=True, slots=True)
class _Blocks:
    """Per-block, per-column sums: every in-/out-of-sample metric is then a sum over blocks, not over rows."""

    metric: str
    block_len: int
    level: np.ndarray  # (S, N) block sum of x (mean), of log1p(x) (total_return), or block mean (sharpe)
    m2: np.ndarray  # (S, N) sum of squared deviations from the block mean; sharpe only
    lo: np.ndarray  # (S, N) block minimum; sharpe only, detects zero std exactly
    hi: np.ndarray  # (S, N) block maximum


def _block_stats(x: np.ndarray, n_splits: int, metric: str) -> _Blocks:
    """Sum each of the `n_splits` contiguous blocks once, so combinations cost O(S/2 * N), not O(T * N)."""
    block_len = x.shape[0] // n_splits
    cube = x[: block_len * n_splits].reshape(n_splits, block_len, x.shape[1])
    empty = np.empty((0, 0))
    if metric == "total_return":
        with np.errstate(divide="ignore"):  # a -100% period is log1p(-1) = -inf: a total wipe-out, kept
            return _Blocks(metric, block_len, np.log1p(cube).sum(axis=1), empty, empty, empty)
    if metric == "mean":
        return _Blocks(metric, block_len, cube.sum(axis=1), empty, empty, empty)
    means = cube.mean(axis=1)
    m2 = ((cube - means[:, None, :]) ** 2).sum(axis=1)
    return _Blocks(metric, block_len, means, m2, cube.min(axis=1), cube.max(axis=1))


def _constant_on(blocks: _Blocks, idx: np.ndarray) -> np.ndarray:
    """(c, N) mask: the column takes a single value on the blocks of each row of `idx` (its std is zero).

    Tested on min/max rather than on the summed variance, which round-off can leave at +1e-35.
    """
    out = np.zeros((idx.shape[0], blocks.level.shape[1]), dtype=bool)
    cols = np.flatnonzero((blocks.lo == blocks.hi).any(axis=0))  # only these can be constant on a union
    if cols.size:
        out[:, cols] = blocks.hi[:, cols][idx].max(axis=1) == blocks.lo[:, cols][idx].min(axis=1)
    return out


def _set_metric(blocks: _Blocks, idx: np.ndarray) -> np.ndarray:
    """(c, N) metric of every column on the union of the blocks listed in each row of `idx` (c, S/2).

    The Sharpe variance pools per-block moments (Chan et al.'s parallel formula): stable, and a function
    of the chosen blocks' data only, so columns equal on those blocks tie exactly, as a direct computation would.
    """
    n = idx.shape[1] * blocks.block_len
    if blocks.metric == "mean":
        return blocks.level[idx].sum(axis=1) / n
    if blocks.metric == "total_return":
        return np.expm1(blocks.level[idx].sum(axis=1))
    means = blocks.level[idx]
    mean = means.mean(axis=1)  # blocks have equal length
    m2 = blocks.m2[idx].sum(axis=1) + blocks.block_len * ((means - mean[:, None, :]) ** 2).sum(axis=1)
    flat = (m2 <= 0.0) | _constant_on(blocks, idx)
    return np.where(flat, np.nan, mean / np.sqrt(np.where(flat, 1.0, m2 / (n - 1))))


def _rank_of(values: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Average rank (1 = lowest, as scipy.stats.rankdata) of values[i, col[i]] within row i; NaN lowest."""
    v = np.where(np.isnan(values), -np.inf, values)
    chosen = v[np.arange(v.shape[0]), col][:, None]
    return (v < chosen).sum(axis=1) + ((v == chosen).sum(axis=1) + 1) / 2.0


def _validated_returns(returns: np.ndarray, n_splits: int, metric: str) -> np.ndarray:
    """The returns as a float (T, N) array, or a ValueError that names what to change."""
    x = np.asarray(returns, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"returns must be 2-D, T periods (rows) x N trials (columns); got shape {x.shape}")
    if x.shape[1] < 2:
        raise ValueError(f"PBO ranks trials against each other: pass N >= 2 columns, got {x.shape[1]}")
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2 or n_splits % 2:
        raise ValueError(f"n_splits must be an even integer >= 2 (half the blocks in-sample), got {n_splits!r}")
    if math.comb(n_splits, n_splits // 2) > _MAX_COMBINATIONS:
        raise ValueError(f"n_splits={n_splits} gives {math.comb(n_splits, n_splits // 2):,} combinations; "
                         f"use n_splits <= 24 (16 is the usual choice)")
    if x.shape[0] < 2 * n_splits:
        raise ValueError(f"each block needs >= 2 rows: T={x.shape[0]} < 2 * n_splits = {2 * n_splits}; "
                         "lower n_splits or pass more rows")
    if not np.isfinite(x).all():
        raise ValueError("returns contain NaN or inf; fill or drop those periods before calling")
    if metric == "total_return" and (x < -1.0).any():
        raise ValueError("metric='total_return' needs simple returns >= -1 (a loss cannot exceed 100%)")
    return x


def _split_indices(n_splits: int) -> tuple[np.ndarray, np.ndarray]:
    """Block indices (C, S/2) in-sample and out-of-sample for every combination, itertools order."""
    is_idx = np.array(list(itertools.combinations(range(n_splits), n_splits // 2)), dtype=np.intp)
    in_sample = np.zeros((is_idx.shape[0], n_splits), dtype=bool)
    in_sample[np.arange(is_idx.shape[0])[:, None], is_idx] = True
    return is_idx, np.nonzero(~in_sample)[1].reshape(is_idx.shape)


def probability_of_backtest_overfitting(
    returns: np.ndarray, n_splits: int = 16, metric: str = "sharpe"
) -> PBOResult:
    """PBO by CSCV (Bailey, Borwein, López de Prado & Zhu 2017): how often the in-sample winner of a
    search ranks at or below the out-of-sample median.

    `returns` is T x N per-period returns, one column per trial (parameter set). The first
    T - T % n_splits rows are cut into `n_splits` contiguous equal blocks (the remainder at the END is
    dropped, so block edges stay aligned with the first row; trim the start yourself to keep the latest
    data). For each of the C(S, S/2) ways to pick half the blocks as in-sample (the rest, in time order,
    out-of-sample): n* = argmax of the in-sample metric (ties: lowest column index), omega = its
    out-of-sample rank / (N + 1) with ranks 1..N ascending and ties averaged (scipy.stats.rankdata), and
    lambda = ln(omega / (1 - omega)).

    PBO = fraction of combinations with lambda <= 0. "<=": the paper defines PBO as the integral of the
    logit density over (-inf, 0], and lambda = 0 means the chosen trial landed exactly on the
    out-of-sample median (possible for odd N): selection bought nothing, so it counts as overfit. With "<"
    the PBO of pure noise with odd N would read about 1/N lower.

    Metrics: "sharpe" (mean / std ddof=1, per period, no annualization), "mean", "total_return"
    (prod(1 + r) - 1). A column whose std is zero on a set of blocks (a single value there, tested
    exactly) has a NaN Sharpe, and NaN ranks lowest both in-sample (never picked unless every column is
    NaN) and out-of-sample (a flat trial is not "infinitely good"; NaNs tie among themselves).

    Ties are exact floating-point ties. Columns equal on a set of blocks tie exactly (duplicated trials
    are common in sweeps); values only mathematically equal, e.g. the same returns in another order,
    can differ in the last bit, and then that bit decides, as it would in any direct computation.

    Cost: O(T*N) once for per-block sums, then O(C * S/2 * N) for C combinations; T=8760, N=400,
    S=16 takes about half a second.
    """
    x = _validated_returns(returns, n_splits, metric)
    blocks = _block_stats(x, n_splits, metric)
    is_idx, oos_idx = _split_indices(n_splits)
    n_comb, n_trials = is_idx.shape[0], x.shape[1]
    is_best = np.empty(n_comb, dtype=np.intp)
    oos_rank = np.empty(n_comb)
    for start in range(0, n_comb, _CHUNK):
        part = slice(start, start + _CHUNK)
        in_sample = _set_metric(blocks, is_idx[part])
        is_best[part] = np.argmax(np.where(np.isnan(in_sample), -np.inf, in_sample), axis=1)
        oos_rank[part] = _rank_of(_set_metric(blocks, oos_idx[part]), is_best[part])
    omega = oos_rank / (n_trials + 1)
    logits = np.log(omega / (1.0 - omega))
    for arr in (logits, is_best, oos_rank):
        arr.setflags(write=False)
    return PBOResult(pbo=float(np.mean(logits <= 0.0)), logits=logits, n_combinations=n_comb, is_best=is_best,
                     oos_rank=oos_rank, n_trials=n_trials, rows_used=blocks.block_len * n_splits)
