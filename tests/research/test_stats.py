"""research.stats: PSR, DSR, MinTRL and PBO pinned to published values or to computations written here.

Sources: Bailey & López de Prado (2012) "The Sharpe Ratio Efficient Frontier" (PSR, MinTRL);
Bailey & López de Prado (2014) "The Deflated Sharpe Ratio" (DSR, SR_0); Bailey, Borwein, López de Prado
& Zhu (2017) "The Probability of Backtest Overfitting" (CSCV, PBO).
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from research.stats import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_moments,
)


# --- expected maximum Sharpe ratio (the "False Strategy" benchmark SR_0) ---------------------------------

def exact_expected_max(n: int) -> float:
    """E[max of n iid N(0,1)] = integral of x * n * phi(x) * Phi(x)^(n-1) dx, by quadrature (no approximation)."""
    value, _ = integrate.quad(lambda x: x * n * stats.norm.pdf(x) * stats.norm.cdf(x) ** (n - 1), -12, 12,
                              points=[0, 2, 3, 4], limit=200)
    return value


def test_expected_max_sharpe_closed_form_values():
    g = 0.5772156649015329  # Euler-Mascheroni, typed in rather than taken from numpy
    by_hand = (1 - g) * stats.norm.ppf(1 - 1 / 1000) + g * stats.norm.ppf(1 - 1 / (1000 * math.e))
    assert expected_max_sharpe(1000) == pytest.approx(by_hand, rel=1e-12)
    # The often quoted "3.2552" is this value rounded up; the formula gives 3.25512.
    assert expected_max_sharpe(1000) == pytest.approx(3.25512, abs=1e-5)
    assert expected_max_sharpe(1000, 4.0) == pytest.approx(2 * by_hand, rel=1e-12)  # scales with sqrt(V)
    # DSR paper (2014), numerical example: N = 100 trials, V = 1/2 annualized -> 0.5/250 per day: SR_0 ~ 0.1132.
    assert expected_max_sharpe(100, 0.5 / 250) == pytest.approx(0.1132, abs=5e-5)


@pytest.mark.parametrize(("n", "rel_tol"), [(10, 0.03), (100, 0.01), (1000, 0.005)])
def test_expected_max_sharpe_approximates_the_exact_expectation(n, rel_tol):
    # The formula is asymptotic: 2.3% high at N=10, 0.9% at N=100, 0.4% at N=1000 (so a flat 1% would fail at 10).
    exact = exact_expected_max(n)
    assert exact < expected_max_sharpe(n) < exact * (1 + rel_tol)


@pytest.mark.parametrize(("n", "draws"), [(10, 200_000), (100, 20_000), (1000, 2_000)])
def test_exact_expected_max_reference_matches_monte_carlo(n, draws):
    # Cross-checks the quadrature reference above: mean of the max of n iid standard normals.
    maxima = np.random.default_rng(n).standard_normal((draws, n)).max(axis=1)
    assert abs(maxima.mean() - exact_expected_max(n)) < 4 * maxima.std() / math.sqrt(draws)


@pytest.mark.parametrize("n", [1, 0, -3])
def test_expected_max_sharpe_needs_two_trials(n):
    with pytest.raises(ValueError, match="n_trials must be >= 2"):
        expected_max_sharpe(n)


# --- PSR, DSR, MinTRL ------------------------------------------------------------------------------------

def test_dsr_published_numerical_example():
    # Bailey & López de Prado (2014), "A numerical example": 100 trials, V[SR] = 1/2 annualized, best SR 2.5
    # annualized over 5 years of daily returns (T = 1250, 250 days/year), skew -3, kurtosis 10 -> DSR ~ 0.9004.
    dsr = deflated_sharpe_ratio(2.5 / math.sqrt(250), 1250, -3.0, 10.0, n_trials=100, sr_variance=0.5 / 250)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


@settings(max_examples=50, deadline=None)
@given(sr=st.floats(-1, 1), n_obs=st.integers(2, 10_000), skew=st.floats(-2, 2), extra=st.floats(0.5, 20))
def test_psr_is_one_half_at_the_benchmark(sr, n_obs, skew, extra):
    assert probabilistic_sharpe_ratio(sr, n_obs, skew, 1 + skew**2 + extra, sr_benchmark=sr) == 0.5


def simulated_sharpes(draw, n_obs: int, sr: float, paths: int = 20_000) -> np.ndarray:
    """Sampling distribution of SR_hat for unit-variance returns with true per-period Sharpe `sr`."""
    r = draw((paths, n_obs)) + sr
    return r.mean(axis=1) / r.std(axis=1, ddof=1)


def test_psr_matches_the_sampling_distribution_of_normal_returns():
    # Independent check by Monte Carlo: with the true SR in the `sr` slot, PSR(sr_benchmark=x) is the
    # asymptotic P(SR_hat > x). Normal returns: skew 0, kurtosis 3.
    sr, n = 0.1, 250
    sharpes = simulated_sharpes(np.random.default_rng(1).standard_normal, n, sr)
    se = math.sqrt((1 + sr**2 / 2) / (n - 1))
    for k in (-2, -1, 0, 1, 2):
        x = sr + k * se
        assert (sharpes > x).mean() == pytest.approx(probabilistic_sharpe_ratio(sr, n, 0.0, 3.0, x), abs=0.01)


def test_psr_skew_and_kurtosis_terms_match_monte_carlo():
    # Returns -(chi2_4 - 4)/sqrt(8): skew -sqrt(2), Pearson kurtosis 3 + 12/4 = 6. The central mass of
    # SR_hat within +-1 and +-2 standard errors must match PSR with those moments, and visibly not the
    # normal-returns PSR (0.747 instead of 0.683 at +-1).
    rng = np.random.default_rng(2)
    sr, n, skew, kurt = 0.2, 500, -math.sqrt(2), 6.0
    sharpes = simulated_sharpes(lambda size: -(rng.chisquare(4, size) - 4) / math.sqrt(8), n, sr)
    se = math.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr**2) / (n - 1))
    for k in (1, 2):
        empirical = ((sharpes > sr - k * se) & (sharpes <= sr + k * se)).mean()
        psr = [probabilistic_sharpe_ratio(sr, n, s, c, sr + d * k * se)
               for s, c in ((skew, kurt), (0.0, 3.0)) for d in (-1, 1)]
        assert empirical == pytest.approx(psr[0] - psr[1], abs=0.01)
        assert abs(empirical - (psr[2] - psr[3])) > 0.02


def test_psr_false_positive_rate_at_the_null():
    # With true SR equal to the benchmark, PSR(observed) >= 0.95 should happen ~5% of the time.
    sr, n = 0.1, 250
    sharpes = simulated_sharpes(np.random.default_rng(3).standard_normal, n, sr, paths=4_000)
    psr = np.array([probabilistic_sharpe_ratio(s, n, 0.0, 3.0, sr) for s in sharpes])
    assert (psr >= 0.95).mean() == pytest.approx(0.05, abs=0.015)


def test_psr_rejects_misuse():
    with pytest.raises(ValueError, match="excess"):
        probabilistic_sharpe_ratio(0.1, 100, 0.0, 0.0)  # Fisher kurtosis 0 passed for a normal
    with pytest.raises(ValueError, match="n_obs"):
        probabilistic_sharpe_ratio(0.1, 1, 0.0, 3.0)


def test_min_track_record_length_edges():
    assert min_track_record_length(0.1, 0.0, 3.0, prob=0.5) == 1.0
    assert min_track_record_length(0.1, 0.0, 3.0, sr_benchmark=0.1) == math.inf
    assert min_track_record_length(-0.2, 0.0, 3.0) == math.inf
    # by hand: 1 + (1 + 0.1**2 / 2) * (1.6448536 / 0.1)**2 = 273.9...
    assert min_track_record_length(0.1, 0.0, 3.0) == pytest.approx(1 + 1.005 * (stats.norm.ppf(0.95) / 0.1) ** 2)
    with pytest.raises(ValueError, match="prob"):
        min_track_record_length(0.1, 0.0, 3.0, prob=0.3)


@settings(max_examples=200, deadline=None)
@given(sr=st.floats(0.02, 1.0), gap=st.floats(0.01, 1.0), skew=st.floats(-3, 3), extra=st.floats(0.5, 30),
       prob=st.floats(0.5, 0.999))
def test_min_track_record_length_inverts_psr(sr, gap, skew, extra, prob):
    kurt, bench = 1 + skew**2 + extra, sr - gap
    mintrl = min_track_record_length(sr, skew, kurt, bench, prob)
    enough = max(math.ceil(mintrl), 2)  # MinTRL is 1 at prob = 0.5, but a Sharpe ratio needs 2 observations
    assert probabilistic_sharpe_ratio(sr, enough, skew, kurt, bench) >= prob - 1e-12
    if math.floor(mintrl) - 1 >= 2:
        assert probabilistic_sharpe_ratio(sr, math.floor(mintrl) - 1, skew, kurt, bench) < prob


@settings(max_examples=200, deadline=None)
@given(sr=st.floats(-0.5, 0.5), n_obs=st.integers(10, 10_000), skew=st.floats(-2, 2), extra=st.floats(0.5, 20),
       n_trials=st.integers(2, 1000), more=st.integers(1, 1000), sr_variance=st.floats(1e-5, 1.0))
def test_dsr_decreases_with_more_trials(sr, n_obs, skew, extra, n_trials, more, sr_variance):
    kurt = 1 + skew**2 + extra
    fewer = deflated_sharpe_ratio(sr, n_obs, skew, kurt, n_trials, sr_variance)
    many = deflated_sharpe_ratio(sr, n_obs, skew, kurt, n_trials + more, sr_variance)
    assert many <= fewer
    if 1e-6 < fewer < 1 - 1e-6:
        assert many < fewer


def test_sharpe_moments_match_moment_formulas_and_feed_psr():
    r = np.random.default_rng(4).standard_t(5, 2_000) * 0.01 + 0.001
    m = sharpe_moments(r)
    d = r - r.mean()
    m2, m3, m4 = (d**2).mean(), (d**3).mean(), (d**4).mean()  # biased central moments, written out
    assert m.sr == pytest.approx(r.mean() / math.sqrt((d**2).sum() / (r.size - 1)), rel=1e-12)
    assert (m.n_obs, m.skew, m.kurtosis) == (2_000, pytest.approx(m3 / m2**1.5), pytest.approx(m4 / m2**2))
    assert probabilistic_sharpe_ratio(m.sr, m.n_obs, m.skew, m.kurtosis) == pytest.approx(
        stats.norm.cdf(m.sr * math.sqrt(1999) / math.sqrt(1 - m3 / m2**1.5 * m.sr + (m4 / m2**2 - 1) / 4 * m.sr**2)))
    with pytest.raises(ValueError, match="constant"):
        sharpe_moments(np.zeros(10))


# --- PBO by CSCV -----------------------------------------------------------------------------------------

def brute_force_metric(frame: pd.DataFrame, metric: str) -> np.ndarray:
    if metric == "mean":
        return frame.mean().to_numpy()
    if metric == "total_return":
        return ((1 + frame).prod() - 1).to_numpy()
    flat = (frame.max() == frame.min()).to_numpy()  # zero std, decided exactly (pandas' std of 0.37s is 6e-17)
    sd, mu = frame.std(ddof=1).to_numpy(), frame.mean().to_numpy()
    return np.where(flat, np.nan, mu / np.where(flat, 1.0, sd))


def brute_force_pbo(x: np.ndarray, n_splits: int, metric: str = "sharpe"):
    """Reference CSCV written straight from the paper: loops, row concatenation, scipy ranks."""
    n_trials, block = x.shape[1], x.shape[0] // n_splits
    blocks = [x[b * block:(b + 1) * block] for b in range(n_splits)]
    best, ranks, logits = [], [], []
    for chosen in itertools.combinations(range(n_splits), n_splits // 2):
        is_frame = pd.DataFrame(np.vstack([blocks[b] for b in chosen]))
        oos_frame = pd.DataFrame(np.vstack([blocks[b] for b in range(n_splits) if b not in chosen]))
        is_metric, oos_metric = brute_force_metric(is_frame, metric), brute_force_metric(oos_frame, metric)
        n_star = int(np.argmax(np.where(np.isnan(is_metric), -np.inf, is_metric)))
        rank = stats.rankdata(np.where(np.isnan(oos_metric), -np.inf, oos_metric))[n_star]
        omega = rank / (n_trials + 1)
        best.append(n_star), ranks.append(rank), logits.append(math.log(omega / (1 - omega)))
    logits = np.array(logits)
    return float((logits <= 0).mean()), logits, np.array(best), np.array(ranks)


def assert_matches_brute_force(x: np.ndarray, n_splits: int, metric: str) -> None:
    got = probability_of_backtest_overfitting(x, n_splits, metric)
    pbo, logits, best, ranks = brute_force_pbo(x, n_splits, metric)
    assert got.pbo == pbo
    np.testing.assert_allclose(got.logits, logits, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got.is_best, best)
    np.testing.assert_array_equal(got.oos_rank, ranks)
    assert got.n_combinations == math.comb(n_splits, n_splits // 2)


@pytest.mark.parametrize("metric", ["sharpe", "mean", "total_return"])
def test_pbo_equals_brute_force_on_a_small_matrix(metric):
    x = np.random.default_rng(5).normal(0.0005, 0.01, (163, 7))  # 163 = 8 * 20 + 3 rows dropped at the end
    assert_matches_brute_force(x, 8, metric)
    assert probability_of_backtest_overfitting(x, 8, metric).rows_used == 160


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), half=st.integers(1, 3), block=st.integers(2, 6), extra=st.integers(0, 5),
       n_trials=st.integers(2, 6), metric=st.sampled_from(["sharpe", "mean", "total_return"]),
       edits=st.sets(st.sampled_from(["twin", "flat"])))
def test_pbo_equals_brute_force_with_ties_and_flat_columns(seed, half, block, extra, n_trials, metric, edits):
    rng, n_splits = np.random.default_rng(seed), 2 * half
    x = rng.normal(0, 0.01, (n_splits * block + extra, n_trials))
    if "twin" in edits:
        x[:, -1] = x[:, 0]  # an exact duplicate: ties in- and out-of-sample
    if "flat" in edits:
        x[: x.shape[0] // 2, 1 % n_trials] = 0.37  # zero std on some block unions
    assert_matches_brute_force(x, n_splits, metric)


def test_pbo_relative_rank_is_rank_over_n_plus_one():
    # Hand-built: S = 2 blocks of 2 rows, N = 3, metric "mean". Block means: (3, 2, 1) then (1, 3, 2).
    # Combination 0 (IS = block 0): best col 0, OOS rank 1 -> omega = 1/4, logit ln(1/3).
    # Combination 1 (IS = block 1): best col 1, OOS rank 2 -> omega = 2/4, logit 0 -> counted (<=): PBO = 1.
    x = np.array([[3.0, 2, 1], [3, 2, 1], [1, 3, 2], [1, 3, 2]])
    res = probability_of_backtest_overfitting(x, n_splits=2, metric="mean")
    np.testing.assert_array_equal(res.is_best, [0, 1])
    np.testing.assert_array_equal(res.oos_rank, [1.0, 2.0])
    np.testing.assert_allclose(res.logits, [math.log(1 / 3), 0.0], rtol=0, atol=1e-15)
    assert res.pbo == 1.0


def test_pbo_flat_column_ranks_lowest_not_infinitely_good():
    rng = np.random.default_rng(6)
    x = np.column_stack([np.full(320, 0.01), rng.normal(0, 0.01, (320, 4))])  # mean > 0, std 0: naive SR = +inf
    res = probability_of_backtest_overfitting(x, n_splits=8)
    assert not (res.is_best == 0).any()
    assert res.oos_rank.min() >= 2  # the flat column holds rank 1 out-of-sample


def test_pbo_of_pure_noise_is_near_one_half():
    # Per dataset the noise PBO is very dispersed (0.07 .. 0.91 over seeds 0..29 at T=1600, N=50, S=16),
    # so the fixed seed is a smoke test and the mean over seeds is the real check.
    noise = np.random.default_rng(0).standard_normal((1600, 50))
    assert 0.3 < probability_of_backtest_overfitting(noise, 16).pbo < 0.7
    pbos = [probability_of_backtest_overfitting(np.random.default_rng(s).standard_normal((800, 30)), 8).pbo
            for s in range(100, 160)]
    assert np.mean(pbos) == pytest.approx(0.5, abs=0.07)


def test_pbo_of_a_true_edge_is_near_zero():
    x = np.random.default_rng(7).standard_normal((1600, 50))
    x[:, 13] += 0.5  # mean of half a standard deviation per period
    res = probability_of_backtest_overfitting(x, 16)
    assert res.pbo < 0.05
    assert (res.is_best == 13).all()


@pytest.mark.parametrize(("returns", "kwargs", "match"), [
    (np.zeros(100), {}, "2-D"),
    (np.zeros((100, 1)), {}, "N >= 2"),
    (np.zeros((100, 3)), {"n_splits": 5}, "even integer"),
    (np.zeros((100, 3)), {"n_splits": 0}, "even integer"),
    (np.zeros((100, 3)), {"n_splits": 26}, "combinations"),
    (np.zeros((31, 3)), {"n_splits": 16}, "lower n_splits or pass more rows"),
    (np.zeros((100, 3)), {"metric": "sortino"}, "metric must be one of"),
    (np.full((100, 3), np.nan), {}, "NaN"),
    (np.full((100, 3), -1.5), {"metric": "total_return"}, ">= -1"),
])
def test_pbo_rejects_bad_input(returns, kwargs, match):
    with pytest.raises(ValueError, match=match):
        probability_of_backtest_overfitting(returns, **kwargs)


def test_pbo_is_fast_on_a_year_of_hourly_bars_and_400_trials():
    x = np.random.default_rng(8).normal(0, 0.01, (8760, 400))
    start = time.perf_counter()
    res = probability_of_backtest_overfitting(x, 16)
    elapsed = time.perf_counter() - start
    assert res.n_combinations == 12_870 and res.rows_used == 8752
    assert elapsed < 10.0  # ~0.6 s here; catches a per-row loop sneaking back, not machine speed
