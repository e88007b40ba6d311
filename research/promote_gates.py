"""The research gates of a promotion, measured on the study's own candles: the data and the strategy are
the run's, the strategy is causal with a sufficient warm-up, the ideal replay equals the sweep, the
out-of-sample figures hold (Sharpe, drawdown, round trips, efficiency), the search was not overfit (DSR,
PBO), and the window's candles are complete enough (gaps). Each gate has its figure and threshold
(`engine.live.gates`); a sweep has no out-of-sample figures, so those gates fail and say what to run.
"""

from __future__ import annotations

import shlex

from engine.live.gates import GateResult, GateThresholds
from engine.spec import source_sha256
from engine.strategy.causality import check_causality
from research.gaps import gap_summary
from research.promote_study import Study

__all__ = ["study_gates", "walkforward_command"]

_CLI_COSTS = {"fee_rate": 0.001, "slippage_rate": 0.0005, "init_cash": 10_000.0}  # gauntlet walkforward's defaults


def study_gates(study: Study, thresholds: GateThresholds) -> list[GateResult]:
    """Every research gate, in the order a reader checks them."""
    return [_data_unchanged(study), _source_unchanged(study), _causality(study, thresholds), _parity(study, thresholds),
            *_out_of_sample(study, thresholds), *_overfitting(study, thresholds), *_gaps(study, thresholds)]


def _data_unchanged(study: Study) -> GateResult:
    then, now = study.fingerprint_then["sha256"], study.fingerprint_now["sha256"]
    detail = ("the candles the run read, byte for byte" if then == now else
              f"{study.fingerprint_now['series']} changed since run {study.run_id} (rows {study.fingerprint_then['rows']}"
              f" then, {study.fingerprint_now['rows']} now); run the study again on the data as it is")
    return GateResult(name="data unchanged since the run", passed=then == now, figure=now[:16], threshold=then[:16],
                      rule="==", detail=detail)


def _source_unchanged(study: Study) -> GateResult:
    spec = study.candidate.strategy
    if spec.path is None or spec.sha256 is None:
        return GateResult(name="strategy source unchanged since the run", passed=False,
                          detail="the run recorded no strategy source; run the study again")
    try:
        now = source_sha256(spec.path)
    except OSError:
        now = "missing"
    detail = "the source the run used" if now == spec.sha256 else (
        f"{spec.path} changed since run {study.run_id}; run the study again with the source as it is")
    return GateResult(name="strategy source unchanged since the run", passed=now == spec.sha256, figure=now[:16],
                      threshold=spec.sha256[:16], rule="==", detail=detail)


def _causality(study: Study, thresholds: GateThresholds) -> GateResult:
    params = study.strategy.params(study.candidate.params)
    found = check_causality(study.strategy, study.bars, params, cuts=thresholds.causality_cuts)
    detail = (f"first: {found[0].describe()}" if found else
              f"causal and warm-up sufficient ({params.warmup} bars) at {thresholds.causality_cuts} cut points of "
              f"{len(study.bars):,} bars")
    return GateResult.compare("causality and warm-up violations", len(found), "<=", 0, detail)


def _parity(study: Study, thresholds: GateThresholds) -> GateResult:
    """The candidate's ideal replay (`Realism.ideal()`) against vectorbt's portfolio, order for order."""
    from research.parity import check_parity
    from research.sweep import vbt_freq

    spec = study.candidate
    signals = study.strategy.signals(study.bars, study.strategy.params(spec.params))
    report, _ = check_parity(study.bars, signals, spec.costs.to_costs(), vbt_freq(spec.market.timeframe))
    rate = abs(report.final_equity_replay - report.final_equity_sweep) / abs(report.final_equity_sweep)
    gate = GateResult.compare("replay-sweep parity (final equity, relative)", rate, "<=", thresholds.max_parity_rate,
                              report.describe())
    return gate if report.first_difference is None else gate.model_copy(update={"passed": False})


def _out_of_sample(study: Study, t: GateThresholds) -> list[GateResult]:
    names = ("out-of-sample Sharpe", "out-of-sample max drawdown rate", "out-of-sample round trips", "WFE")
    if study.kind != "walkforward":
        why = (f"a sweep has no out-of-sample figures; run `{walkforward_command(study)}` and promote its run "
               f"(`gauntlet promote <its run id> --to paper`)")
        limits = (t.min_oos_sharpe, t.max_oos_drawdown_rate, t.min_oos_round_trips, t.min_wfe)
        rules = (">=", "<=", ">=", ">=")
        return [GateResult(name=n, passed=False, threshold=x, rule=r, detail=why) for n, x, r in zip(names, limits, rules)]
    oos, eff = study.results.get("stitched_oos", {}), study.results.get("efficiency", {})
    drawdown = oos.get("max_drawdown")
    return [GateResult.compare(names[0], oos.get("sharpe"), ">=", t.min_oos_sharpe, "stitched out-of-sample, annualized"),
            GateResult.compare(names[1], None if drawdown is None else -drawdown, "<=", t.max_oos_drawdown_rate,
                               "deepest fall from a peak of the stitched out-of-sample equity"),
            GateResult.compare(names[2], _int(oos.get("trades")), ">=", t.min_oos_round_trips,
                               "round trips of the folds' picks, out of sample"),
            GateResult.compare(names[3], eff.get("wfe_return"), ">=", t.min_wfe,
                               eff.get("wfe_note") or "out-of-sample over in-sample annual log return")]


def _overfitting(study: Study, t: GateThresholds) -> list[GateResult]:
    found = study.results.get("evidence", study.results)  # a walk-forward nests it; a sweep's evidence is flat
    trials = found.get("trials", study.record.get("config", {}).get("combinations"))
    sample = " (in sample: a sweep)" if study.kind == "sweep" else ""
    of = f"{found.get('dsr_of', 'the candidate daily returns')}{sample}, {trials} trials"
    return [GateResult.compare("DSR", found.get("dsr"), ">=", t.min_dsr, found.get("dsr_note") or of),
            GateResult.compare("PBO", found.get("pbo"), "<=", t.max_pbo,
                               found.get("pbo_note") or f"CSCV of all {trials} trials over {found.get('pbo_days')} days")]


def _gaps(study: Study, t: GateThresholds) -> list[GateResult]:
    timeframe = study.candidate.market.timeframe
    gaps = gap_summary(study.bars, timeframe)
    record = gaps.record()
    longest = GateResult(name="longest gap", passed=gaps.longest_ms <= t.max_gap_ms, figure=record["longest_gap"],
                         threshold=t.max_gap, rule="<=", detail=gaps.describe())
    rate = gaps.missing_bars / (len(study.bars) + gaps.missing_bars)
    missing = GateResult.compare("missing candles rate", rate, "<=", t.max_missing_rate,
                                 f"{gaps.missing_bars:,} of {len(study.bars) + gaps.missing_bars:,} {timeframe} candles")
    return [longest, missing]


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def walkforward_command(study: Study) -> str:
    """The `gauntlet walkforward` that validates a sweep's grid on the sweep's data and costs."""
    config, spec = study.record.get("config", {}), study.candidate
    words = ["gauntlet", "walkforward", spec.strategy.ref, "--symbol", study.symbol, "--exchange",
             spec.market.exchange, "--timeframe", spec.market.timeframe]
    words += [w for flag, value in (("--start", spec.market.start), ("--end", spec.market.end)) if value
              for w in (flag, value)]
    for name, values in config.get("grid", {}).items():
        words += ["--param", f"{name}=" + ",".join(_word(v) for v in values)]
    costs = spec.costs.model_dump()
    for field, default in _CLI_COSTS.items():
        if costs[field] != default:
            words += [f"--{field.replace('_', '-')}", _word(costs[field])]
    return shlex.join([*words, "--folds", "4", "--mode", "anchored"])


def _word(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
