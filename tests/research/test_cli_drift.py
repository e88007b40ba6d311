"""`gauntlet drift NAME`: a paper deployment's journal (real BTC/USDT 1h candles) replayed and matched order by
order. Identical: exit 0 and 'identical: 25 of 25 fills'; a kill switch latched mid-run: 21 differences explained
as rejections, exit 1 beyond the deployment's drift bound and 0 within --max-drift-rate; an unexplained
difference: exit 1 whatever the bound; a mistake: one line, exit 2, no traceback."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing

import pytest
from typer.testing import CliRunner

from engine.live.history import journal_path
from engine.live.session import TickInputs
from engine.ohlcv import Store
from engine.settings import settings
from research.cli import app
from tests.conftest import shared_candles
from tests.engine.live.rehearsal import BTC_1H, FIRST, KEY, candle, paper_deployment, traded


def _drift(root, *args: str):
    return CliRunner().invoke(app, ["drift", *args, "--data", str(root / "data"), "--deployments",
                                    str(root / "deployments")])


def test_an_identical_paper_run_exits_0_with_its_figures(tmp_path, monkeypatch):
    traded(tmp_path, "clean")
    shown = _drift(tmp_path, "clean")
    assert shown.exit_code == 0, shown.output
    assert "clean v1: 300 candles 2024-01-17 16:00 -> 2024-01-30 03:00 UTC" in shown.output
    assert "identical: 25 of 25 fills" in shown.output and "within bounds" in shown.output
    assert "equity: journal 9,885.79, replay 9,885.79, difference +0.00 USDT" in " ".join(shown.output.split())
    for name in ("data", "deployments"):  # the same through the environment, as JSON
        monkeypatch.setenv(f"GAUNTLET_{name.upper()}_DIR", str(tmp_path / name))
    settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["drift", "clean", "--json"])
    finally:
        settings.cache_clear()
    assert done.exit_code == 0, done.output
    body = json.loads(done.output)
    assert (body["deployment"], body["candles"], body["fills"], body["replay_fills"], body["identical_fills"]) == \
        ("clean v1", 300, 25, 25, 25)
    assert (body["differences"], body["effect"], body["drift_rate"], body["breaches"]) == ([], 0.0, 0.0, [])
    assert body["live_equity"] == body["replay_equity"] == pytest.approx(9885.791145905801, abs=1e-9)


def test_a_kill_switch_latched_mid_run_is_explained_and_bounded(tmp_path):
    traded(tmp_path, "kill", inputs={i: TickInputs(kill="exchange incident") for i in range(FIRST + 30, FIRST + 80)})
    over = _drift(tmp_path, "kill")  # the deployment's max_drift_rate gate: 0.01
    assert over.exit_code == 1, over.output
    text = " ".join(over.output.split())
    assert "identical: 4 of 19 fills; differences: rejection 21 (+258.60 USDT)" in text
    assert "unexplained differences 0" in text and "beyond the bound of 1.00%" in text
    assert text.count("gfpnjwt-18d2129bd00-e0") == 2  # the first refused entry, and its exit that follows from it
    within = _drift(tmp_path, "kill", "--max-drift-rate", "0.05", "--json")
    assert within.exit_code == 0, within.output
    body = json.loads(within.output)
    assert body["by_kind"] == {"rejection": {"differences": 21, "effect": pytest.approx(258.598804805, abs=1e-6)}}
    assert body["unexplained"] == 0 and body["max_drift_rate"] == 0.05 and body["breaches"] == []
    roots = [d for d in body["differences"] if d["follows"] is None]
    assert [d["live"]["rule"] for d in roots] == ["kill_switch"] * 3 and all(d["replay"]["status"] == "filled"
                                                                              for d in roots)
    assert {d["detail"] for d in roots} == {"refused by the runner: kill switch latched: exchange incident"}


def test_an_unexplained_difference_exits_1_whatever_the_bound(tmp_path):
    traded(tmp_path, "odd")
    with closing(sqlite3.connect(journal_path("odd", tmp_path / "data"))) as connection, connection:
        first_exit = connection.execute("SELECT json_extract(fields, '$.client_id') FROM events WHERE type = "
                                        "'order_filled' ORDER BY seq LIMIT 1 OFFSET 1").fetchone()[0]
        connection.execute("DELETE FROM events WHERE json_extract(fields, '$.client_id') = ?", (first_exit,))
    done = _drift(tmp_path, "odd", "--max-drift-rate", "1")
    assert done.exit_code == 1 and "out of bounds: 1 unexplained difference(s)" in " ".join(done.output.split())


def _unknown(tmp_path):
    traded(tmp_path, "known", hi=FIRST + 40)
    return ("ghost",), "no deployment 'ghost' in"


def _never_run(tmp_path):
    paper_deployment(tmp_path / "deployments", "idle")
    return ("idle",), "deployment idle has no journal at"


def _cache_short(tmp_path):
    traded(tmp_path, "short", hi=FIRST + 50)
    shutil.rmtree(tmp_path / "data" / "ohlcv")
    Store(tmp_path / "data").write(KEY, shared_candles(BTC_1H).iloc[:FIRST + 40], source={"kind": "test"},
                                   obtained_ms=4_102_444_800_000)
    return ("short",), f"lacks 10 of the 50 candles the journal handled (first: {candle(FIRST + 40).ts_ms})"


@pytest.mark.parametrize("mistake", [_unknown, _never_run, _cache_short])
def test_a_mistake_is_one_line_and_exit_2(tmp_path, mistake):
    args, words = mistake(tmp_path)
    done = _drift(tmp_path, *args)
    assert done.exit_code == 2 and words in " ".join(done.output.split()), done.output
    assert "Traceback" not in done.output and done.output.count("error:") == 1
