"""The one spec model: TOML round trip, errors that name the field, and the engine objects it builds."""

from __future__ import annotations

import dataclasses

import pytest

from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.core.risk import RiskLimits, Sizing
from engine.spec import LimitsSpec, MarketSpec, RealismSpec, RiskSpec, RunSpec, SizingSpec, SpecError, StrategySpec


def a_spec(**changes) -> RunSpec:
    spec = RunSpec(strategy=StrategySpec(name="sma_cross", ref="sma_cross"), params={"fast": 10, "slow": 30,
                                                                                       "short": True, "mult": 2.5},
                   market=MarketSpec(symbol="BTC/USDT", start="2024-03-01", end="2024-06-01T12:00"))
    return spec.replace(changes) if changes else spec


def test_a_spec_survives_toml_exactly(tmp_path):
    spec = a_spec(**{"costs.fee_rate": 0.002, "costs.init_cash": 1e-05 + 12_345.0, "risk.limits.loss_streak": 3,
                     "realism.borrow_rate": 0.1 + 0.2, "strategy.name": 'odd "name" é'})
    again = RunSpec.read(spec.write(tmp_path / "spec.toml"))
    assert again == spec and again.params == {"fast": 10, "slow": 30, "short": True, "mult": 2.5}
    assert type(again.params["fast"]) is int and type(again.params["short"]) is bool
    assert again.costs.maker_fee_rate is None  # omitted on disk, None again


@pytest.mark.parametrize("changes, named", [
    ({"costs.fee_rate": 1.5}, "costs.fee_rate"),
    ({"risk.sizing.method": "martingale"}, "risk.sizing.method"),
    ({"market.start": "2024-13-45"}, "market.start"),
    ({"market.end": "2024-01-01"}, "empty window"),
    ({"realism.latency_bars": -1}, "realism.latency_bars"),
])
def test_invalid_values_are_refused_naming_the_field(changes, named):
    with pytest.raises(SpecError, match=named):
        a_spec(**changes)


def test_unknown_keys_and_broken_toml_name_the_file(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(a_spec().to_toml().replace("fee_rate", "fee_pct"))
    with pytest.raises(SpecError, match=rf"{path}: invalid spec: costs.fee_pct: Extra inputs"):
        RunSpec.read(path)
    path.write_text("[costs\nfee_rate = ")
    with pytest.raises(SpecError, match=rf"{path}: cannot read the spec"):
        RunSpec.read(path)


def test_the_spec_builds_the_engine_objects_field_for_field():
    spec = a_spec(**{"costs.maker_fee_rate": 0.0002, "risk.limits.max_drawdown_rate": 0.2, "risk.sizing.method": "atr",
                     "risk.sizing.atr_mult": 3.0, "realism.latency_bars": 2})
    assert spec.costs.to_costs() == Costs(0.001, 0.0005, 10_000.0, 0.0002)
    assert spec.realism.to_realism() == dataclasses.replace(Realism(), latency_bars=2)
    risk = spec.risk.to_config()
    assert risk.limits == RiskLimits(max_drawdown_rate=0.2) and risk.sizing == Sizing("atr", atr_mult=3.0)
    assert RiskSpec(enabled=False).to_config() is None
    assert RealismSpec.ideal().to_realism() == Realism.ideal()
    # every engine knob is reachable from the spec
    assert set(RealismSpec.model_fields) == {f.name for f in dataclasses.fields(Realism)}
    assert len(LimitsSpec.model_fields) == len(dataclasses.fields(RiskLimits))  # the same rules, *_rate names
    assert set(SizingSpec.model_fields) == {f.name for f in dataclasses.fields(Sizing)}


def test_toml_holds_lists_and_arrays_of_tables():
    import tomllib

    from engine.spec import dump_toml

    tree = {"runs": ["a", "b"], "empty": [], "venue": {"kind": "paper"},
            "gates": [{"name": "DSR", "figure": 0.97, "sub": {"n": 1}}, {"name": "PBO", "figure": "n/a"}]}
    assert tomllib.loads(dump_toml(tree)) == tree
