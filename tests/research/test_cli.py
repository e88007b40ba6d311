"""`gauntlet data ...`, `gauntlet emulator serve` and `gauntlet demo`, end to end on a temporary cache."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from engine.core.events import BarClosed
from engine.ohlcv import SeriesKey, Store, load
from engine.ohlcv.schema import to_table
from engine.venues.ccxt_client import make_exchange
from research.cli import app
from tests.conftest import SHARED_DATA, make_candles, shared_candles

runner = CliRunner()


def gauntlet(*args: str):
    return runner.invoke(app, list(args))


def fetch_args(emulator, *extra: str) -> list[str]:
    return ["data", "fetch", "binance", "BTC/USDT", "5m", "--since", "2021-04-24T20:00", "--until", "2021-04-25T20:00",
            "--api-url", emulator.base_url, "--no-rate-limit", *extra]


def test_fetch_list_and_verify_through_the_emulator(emulator_5m, data_dir):
    fetched = gauntlet(*fetch_args(emulator_5m))
    assert fetched.exit_code == 0, fetched.output
    assert "232 new candles" in fetched.output
    again = gauntlet(*fetch_args(emulator_5m))
    assert "0 new candles" in again.output and "holds 232 rows" in again.output
    listed = gauntlet("data", "list")
    assert listed.exit_code == 0 and "binance BTC/USDT 5m" in listed.output and "232" in listed.output
    verified = gauntlet("data", "verify")
    assert verified.exit_code == 0, verified.output
    assert "2021-04-25 04:05 UTC" in verified.output and "2021-04-25 08:40 UTC" in verified.output  # the outage
    assert "1 series checked, 0 with errors" in verified.output


def test_fetch_into_another_folder_name(emulator_5m, data_dir):
    assert gauntlet(*fetch_args(emulator_5m, "--store-as", "binance_replay")).exit_code == 0
    assert len(load("binance_replay", "BTC/USDT", "5m")) == 232


def test_unfixable_requests_print_one_clear_line_and_exit_1(emulator_5m, data_dir):
    result = gauntlet("data", "fetch", "binance", "DOGE/USDT", "5m", "--since", "2021-04-24", "--api-url",
                      emulator_5m.base_url, "--no-rate-limit")
    assert result.exit_code == 1
    assert "error: binance has no market DOGE/USDT" in result.output and "Traceback" not in result.output
    result = gauntlet("data", "fetch", "binance", "BTC/USDT", "5m", "--since", "not-a-date")
    assert result.exit_code == 1 and "cannot read 'not-a-date' as a time" in result.output
    assert not (data_dir / "ohlcv").exists()


def test_verify_exits_1_and_names_the_damaged_file(data_dir):
    key = SeriesKey("binance", "BTC/USDT", "1h")
    manifest = Store().write(key, make_candles(30), source={"kind": "test"}, obtained_ms=4_102_444_800_000)
    damaged = make_candles(30)
    damaged.iloc[3, damaged.columns.get_loc("high")] = 1.0
    pq.write_table(to_table(damaged), key.folder(data_dir) / manifest.partitions["2024-01"].file)
    result = gauntlet("data", "verify", "binance")
    assert result.exit_code == 1 and "truncated or rewritten" in " ".join(result.output.split()) and "1 with errors" in result.output
    assert "gauntlet data repair binance BTC/USDT 1h" in result.output


def test_import_a_binance_dump_and_refuse_a_broken_csv(data_dir, tmp_path):
    day = shared_candles("binance_BTC-USDT_1m.parquet").iloc[:1440]
    ts = day.index.as_unit("ms").asi8
    lines = [f"{t},{o},{h},{lo},{c},{v},{t + 59_999},0,0,0,0,0" for t, (o, h, lo, c, v) in zip(ts, day.to_numpy())]
    dump = tmp_path / "BTCUSDT-1m-2025-05-20.csv"
    dump.write_text("\n".join(lines) + "\n")
    result = gauntlet("data", "import", str(dump))
    assert result.exit_code == 0, result.output
    assert "binance BTC/USDT 1m: 1,440 rows" in result.output
    assert load("binance", "BTC/USDT", "1m").equals(day)
    broken = tmp_path / "broken.csv"
    broken.write_text("timestamp,open,high,low,close,volume\n1700000000000,1,2,0.5,1.5,10\n1700000060000,1,x,0.5,1.5,10\n")
    result = gauntlet("data", "import", str(broken), "--exchange", "kraken", "--symbol", "BTC/USD", "--timeframe", "1m")
    assert result.exit_code == 1 and "broken.csv" in result.output and "line 3" in result.output
    assert SeriesKey("kraken", "BTC/USD", "1m") not in Store().series()


def test_list_on_an_empty_cache_says_how_to_fill_it(data_dir):
    result = gauntlet("data", "list")
    assert result.exit_code == 0 and "empty" in result.output and "make demo" in result.output


@pytest.mark.parametrize("source", ["file", "cache"])
def test_emulator_serve_answers_the_real_ccxt_client(tmp_path, source):
    daily = shared_candles("binance_BTC-USDT_1d.parquet")
    if source == "file":
        args = ["--candles", str(SHARED_DATA / "binance_BTC-USDT_1d.parquet")]
    else:
        Store(tmp_path).write(SeriesKey("binance", "BTC/USDT", "1d"), daily, source={"kind": "test"},
                              obtained_ms=4_102_444_800_000)
        args = ["--from-cache", "binance"]
    gauntlet_bin = Path(sys.executable).parent / "gauntlet"
    server = subprocess.Popen([str(gauntlet_bin), "emulator", "serve", *args, "--symbol", "BTC/USDT", "--timeframe", "1d"],
                              stdout=subprocess.PIPE, text=True,
                              env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "GAUNTLET_DATA_DIR": str(tmp_path)})
    try:
        banner = server.stdout.readline()
        url = banner.split(" on ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        rows = make_exchange("binance", api_url=url, rate_limit=False).fetch_ohlcv("BTC/USDT", "1d", since=0, limit=5)
        assert [r[4] for r in rows] == daily["close"].iloc[:5].tolist()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=10)
        server.stdout.close()
    assert server.returncode == 0


def test_emulator_serve_needs_exactly_one_source(data_dir):
    result = gauntlet("emulator", "serve", "--sample", "--from-cache", "binance")
    assert result.exit_code == 1 and "give one source of candles" in result.output


def test_demo_runs_offline_end_to_end(data_dir, monkeypatch):
    """The whole gauntlet offline; run over an earlier demo's leftovers (a deployment version, its journal, a latched
    kill switch), as a second `make demo` finds them."""
    from engine.live.drift import measure_drift
    from engine.live.history import journal_path
    from engine.live.journal import Journal
    from engine.live.killswitch import KillSwitch
    from engine.live.deployment import deployment_versions, read_deployment
    from engine.settings import settings
    from research.demo_paper import CANDLES, DEMO_DEPLOYMENT
    from tests.engine.live.rehearsal import paper_deployment

    deployments = data_dir.parent / "deployments"
    monkeypatch.setenv("GAUNTLET_DEPLOYMENTS_DIR", str(deployments))
    settings.cache_clear()
    paper_deployment(deployments, DEMO_DEPLOYMENT)  # an earlier demo's version 1, its journal and latch
    with Journal.open(journal_path(DEMO_DEPLOYMENT, data_dir)) as journal:
        journal.append(DEMO_DEPLOYMENT, [BarClosed(0)])
    KillSwitch.of(DEMO_DEPLOYMENT, data_dir).latch("left over")
    result = gauntlet("demo")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "SYNTHETIC" in result.output and "1 new candle(s)" in result.output
    for symbol in ("BTC/USDT", "ETH/USDT"):
        frame = load("synthetic", symbol, "1h")
        assert len(frame) > 16_700  # 700 days to the cut (2024-12-01), a few outages; BTC also what the runner cached
    runs = sorted(p.name for p in (data_dir.parent / "reports").iterdir() if p.is_dir())
    assert len(runs) == 3 and all("-sma_cross-" in r for r in runs) and "promote" in result.output
    assert "parity ok" in result.output
    printed = "".join(result.output.split())  # the path the demo names exists (rich may wrap it)
    assert any(str(p) in printed for p in (data_dir.parent / "reports").glob("*/quantstats.html"))
    # promoted to paper: the next version, --force recorded when the synthetic candidate fails a gate (and said)
    assert [v for v, _ in deployment_versions(deployments)[DEMO_DEPLOYMENT]] == [1, 2]
    paper = read_deployment(deployment_versions(deployments)[DEMO_DEPLOYMENT][-1][1])
    waived = [g.name for g in paper.gates if g.waived_by == "--force"]
    assert paper.venue.kind == "paper" and paper.overrides.force == bool(waived)
    assert (f"the candidate fails {len(waived)} of {len(paper.gates)} gates" in text) == bool(waived)
    # the runner traded CANDLES candles in a fresh journal; status shows it stopped; drift: identical to replay
    with Journal.open(journal_path(DEMO_DEPLOYMENT, data_dir)) as journal:
        closed = journal.events_of(DEMO_DEPLOYMENT, ["bar_closed"])
        fills = journal.count_fills(DEMO_DEPLOYMENT)
        drift = measure_drift(journal, DEMO_DEPLOYMENT, Store(data_dir))
    assert len(closed) == CANDLES and closed[0].event.ts_ms >= 1_733_011_200_000  # after the cut, 2024-12-01
    assert KillSwitch.of(DEMO_DEPLOYMENT, data_dir).reason() is None
    assert f"runner exit code 0: {CANDLES} candles handled" in text and f"{DEMO_DEPLOYMENT}: stopped" in text
    assert (drift.candles, drift.fills, drift.replay_fills, drift.differences, drift.effect) == (CANDLES, fills, fills,
                                                                                                 (), 0.0)
    assert f"identical: {fills} of {fills} fills" in text and "exit code 0: identical to replay" in text
    # --to live refused with every reason, nothing written
    assert "x paper days run 12.46 < 14" in text and "x confirmed no" in text and "x API keys from" in text
    assert "gates failed; nothing was written" in text and len(deployment_versions(deployments)[DEMO_DEPLOYMENT]) == 2


def test_check_causality_passes_builtins_and_fails_a_peeking_file(data_dir, tmp_path):
    ok = gauntlet("check", "causality", "sma_cross", "--params", "fast=5,slow=20", "--cuts", "10")
    assert ok.exit_code == 0 and "causal and warm-up sufficient" in ok.output
    peeking = tmp_path / "peeking.py"
    peeking.write_text("from dataclasses import dataclass\nimport numpy as np\nfrom engine.strategy.signals import Signals\n\n"
                       "@dataclass(frozen=True)\nclass Params:\n    warmup: int = 3\n\nGRID = {}\n\n"
                       "def signals(bars, p):\n    nxt = np.r_[bars.close[1:], bars.close[-1]]\n"
                       "    return Signals(entries=nxt > bars.close, exits=nxt < bars.close)\n")
    failed = gauntlet("check", "causality", str(peeking), "--cuts", "10")
    assert failed.exit_code == 1 and "FAIL" in failed.output and "look-ahead at bar" in failed.output


def test_sweep_and_walkforward_commands_on_the_cache(data_dir):
    Store().write(SeriesKey("binance", "BTC/USDT", "1h"), shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet"),
                  source={"kind": "test"}, obtained_ms=4_102_444_800_000)
    grid = ["--param", "fast=5:15:5", "--param", "slow=30:60:30"]
    swept = gauntlet("sweep", "sma_cross", "--symbol", "BTC/USDT", *grid, "--top", "3")
    assert swept.exit_code == 0, swept.output
    assert "run " in swept.output and "DSR" in swept.output and "PBO" in swept.output
    walked = gauntlet("walkforward", "sma_cross", "--symbol", "BTC/USDT", *grid, "--folds", "3", "--is-size", "60D",
                      "--oos-size", "30D", "--purge", "24")
    assert walked.exit_code == 0, walked.output
    assert "split plan" in walked.output and "promote" in walked.output and "WFE" in walked.output
    assert len([p for p in (data_dir.parent / "reports").iterdir() if p.is_dir()]) == 2
    bad = gauntlet("sweep", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=x")
    assert bad.exit_code == 1 and "error: parameter fast of sma_cross is int; got 'x'" in bad.output
    assert len([p for p in (data_dir.parent / "reports").iterdir() if p.is_dir()]) == 2


def test_check_causality_takes_param_like_every_command_and_the_old_params_with_a_hint(data_dir):
    new = gauntlet("check", "causality", "sma_cross", "--param", "fast=5", "--param", "slow=20", "--cuts", "5")
    assert new.exit_code == 0, new.output
    assert "Params(fast=5, slow=20)" in new.output and "hint" not in new.output
    old = gauntlet("check", "causality", "sma_cross", "--params", "fast=5,slow=20", "--cuts", "5")
    assert old.exit_code == 0 and "Params(fast=5, slow=20)" in old.output
    assert "hint: --params fast=5,slow=20 is spelled --param fast=5 --param slow=20 now" in old.output
    grid = gauntlet("check", "causality", "sma_cross", "--param", "fast=5:20:5", "--cuts", "5")
    assert grid.exit_code == 1 and "error: --param fast=5:20:5 is a grid" in grid.output


def test_walkforward_errors_name_the_flags(data_dir):
    Store().write(SeriesKey("binance", "BTC/USDT", "1h"), shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet"),
                  source={"kind": "test"}, obtained_ms=4_102_444_800_000)
    base = ["walkforward", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=5,10", "--param", "slow=30"]
    cases = {(): "error: give --folds, --oos-size or both",
             ("--folds", "3"): "error: rolling mode needs --is-size (bars or a duration such as '90D'); or use --mode "
                               "anchored",
             ("--folds", "3", "--is-size", "60D", "--purge", "-3"): "error: --purge must be zero or more, got '-3'"}
    for extra, words in cases.items():
        result = gauntlet(*base, *extra)
        assert result.exit_code == 1 and words in result.output, result.output
        assert [w for w in ("n_folds", "is_size", "oos_size", "mode='") if w in result.output] == []


def test_replay_takes_param_pairs_like_sweep_and_the_old_params_alike(data_dir):
    import json

    Store().write(SeriesKey("binance", "BTC/USDT", "1h"), shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet"),
                  source={"kind": "test"}, obtained_ms=4_102_444_800_000)
    market = ["--exchange", "binance", "--symbol", "BTC/USDT", "--end", "2024-04-01"]
    new = gauntlet("replay", "sma_cross", "--param", "fast=10", "--param", "slow=30", *market)
    old = gauntlet("replay", "sma_cross", "--params", "fast=10,slow=30", *market)
    assert new.exit_code == 0 and old.exit_code == 0, new.output + old.output
    assert "hint: --params fast=10,slow=30 is spelled --param fast=10 --param slow=30" in old.output
    metrics = [json.loads(p.read_text()) for p in sorted((data_dir.parent / "reports").glob("*/metrics.json"))]
    assert len(metrics) == 2 and metrics[0]["final_equity"] == metrics[1]["final_equity"]
    assert metrics[0]["round_trips"] > 10
    grid = gauntlet("replay", "sma_cross", "--param", "fast=5:20:5", *market)
    assert grid.exit_code == 1 and "error: --param fast=5:20:5 is a grid" in grid.output
    bad = gauntlet("replay", "sma_cross", "--param", "fast=10", "--fee-rate", "2", *market)
    assert bad.exit_code == 1 and "--fee-rate" in bad.output and "fee_rate" not in bad.output


def test_replay_bar_by_bar_gives_the_same_books(data_dir):
    import json

    Store().write(SeriesKey("binance", "BTC/USDT", "1h"), shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet"),
                  source={"kind": "test"}, obtained_ms=4_102_444_800_000)
    market = ["--exchange", "binance", "--symbol", "BTC/USDT", "--param", "window=50", "--param", "atr_mult=2"]
    assert gauntlet("replay", "atr_trend", *market).exit_code == 0
    stepped = gauntlet("replay", "atr_trend", *market, "--bar-by-bar")
    assert stepped.exit_code == 0, stepped.output
    runs = sorted((data_dir.parent / "reports").glob("*/run.json"))
    drivers = sorted(json.loads(p.read_text())["config"]["driver"] for p in runs)
    metrics = [json.loads((p.parent / "metrics.json").read_text()) for p in runs]
    assert drivers == ["bar_by_bar", "replay"] and metrics[0] == metrics[1] and metrics[0]["round_trips"] > 10
