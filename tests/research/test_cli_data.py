"""`gauntlet data ...` never loses or silently changes cached candles, on real candles, as a user runs it; and
`gauntlet emulator serve` trades as a user starts it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from engine.ohlcv import SeriesKey, Store, load, to_ms
from engine.ohlcv.schema import VALUE_COLUMNS, ts_ms_of
from engine.venues.ccxt_client import make_exchange
from engine.venues.clock import HistoricalClock
from research.cli import app
from tests.conftest import shared_candles

runner = CliRunner()
BTC_1H = shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet")  # 5,980 rows, no gaps
KEY = SeriesKey("binance", "BTC/USDT", "1h")


def gauntlet(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def candle_file(frame: pd.DataFrame, path: Path) -> Path:
    """A Parquet file in the shared/data format (int64 ms `timestamp` + the five values)."""
    columns = {"timestamp": pa.array(ts_ms_of(frame))} | {c: pa.array(frame[c].to_numpy()) for c in VALUE_COLUMNS}
    pq.write_table(pa.table(columns), path)
    return path


def partitions(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*.parquet")}


def test_import_beside_a_lost_manifest_keeps_every_row_and_repair_brings_it_back(data_dir, tmp_path):
    old = candle_file(BTC_1H.iloc[:-200], tmp_path / "old.parquet")
    new = candle_file(BTC_1H.iloc[-200:], tmp_path / "new.parquet")
    assert gauntlet("data", "import", old, "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h").exit_code == 0
    folder = KEY.folder(data_dir)
    before = partitions(folder)
    (folder / "manifest.json").unlink()
    refused = gauntlet("data", "import", new, "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h")
    assert refused.exit_code == 1 and "manifest.json is missing beside 8 partition file(s)" in refused.output
    assert "gauntlet data repair binance BTC/USDT 1h" in refused.output and "Traceback" not in refused.output
    assert partitions(folder) == before  # 5,780 rows still on disk, byte for byte
    listed = gauntlet("data", "verify")
    assert listed.exit_code == 1 and "manifest.json is missing" in listed.output
    repaired = gauntlet("data", "repair", "binance", "BTC/USDT", "1h")
    assert repaired.exit_code == 0, repaired.output
    assert "rebuilt the manifest" in repaired.output
    assert load("binance", "BTC/USDT", "1h").equals(BTC_1H.iloc[:-200])
    assert gauntlet("data", "import", new, "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h").exit_code == 0
    assert load("binance", "BTC/USDT", "1h").equals(BTC_1H)
    again = gauntlet("data", "repair", "binance", "BTC/USDT", "1h")
    assert again.exit_code == 0 and "nothing to repair" in again.output  # a second repair changes nothing


@pytest.mark.parametrize("damage", ["close_1e12", "time_zone"])
def test_a_conflicting_reimport_is_refused_and_replace_says_what_it_replaced(data_dir, tmp_path, damage):
    args = ("--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h")
    assert gauntlet("data", "import", candle_file(BTC_1H, tmp_path / "good.parquet"), *args).exit_code == 0
    bad = BTC_1H.copy()
    if damage == "close_1e12":
        bad.iloc[100, bad.columns.get_loc("close")] = 1e12
        bad.iloc[100, bad.columns.get_loc("high")] = 1e12
        differing = 1
    else:
        bad.index = bad.index + pd.Timedelta(hours=2)  # the same file read in the wrong time zone
        differing = len(BTC_1H) - 2
    path = candle_file(bad, tmp_path / "bad.parquet")
    before = partitions(KEY.folder(data_dir))
    refused = gauntlet("data", "import", path, *args)
    assert refused.exit_code == 1 and f"{differing:,} cached candle(s) would change" in refused.output
    assert "old -> new" in refused.output and "--replace" in refused.output
    assert partitions(KEY.folder(data_dir)) == before and load("binance", "BTC/USDT", "1h").equals(BTC_1H)
    assert gauntlet("data", "verify").exit_code == 0
    replaced = gauntlet("data", "import", path, *args, "--replace")
    assert replaced.exit_code == 0 and f"replaced {differing:,} cached candle(s)" in replaced.output
    assert load("binance", "BTC/USDT", "1h").loc[bad.index].equals(bad)


def test_candles_imported_under_the_wrong_timeframe_are_refused(data_dir, tmp_path):
    hourly = candle_file(BTC_1H.iloc[:500], tmp_path / "hourly.parquet")
    result = gauntlet("data", "import", hourly, "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "5m")
    assert result.exit_code == 1
    assert "candles are 1h apart (499 of 499 intervals" in result.output and "--timeframe 1h" in result.output
    five = candle_file(shared_candles("binance_BTC-USDT_5m.parquet").iloc[:500], tmp_path / "five.parquet")
    result = gauntlet("data", "import", five, "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h")
    assert result.exit_code == 1 and "candles are 5m apart" in result.output
    assert Store().series() == []


def test_the_import_summary_and_list_count_every_zero_volume_candle(data_dir):
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "binance_SOL-USDT_5m.parquet"
    imported = gauntlet("data", "import", path)
    assert imported.exit_code == 0, imported.output
    assert "65,744 rows, 39 with zero volume (0.1%)" in imported.output
    listed = gauntlet("data", "list")
    assert "39 (0.1%)" in listed.output


def test_a_swap_symbol_is_cached_in_its_own_folder_with_its_market_type(data_dir, tmp_path):
    path = candle_file(BTC_1H.iloc[:48], tmp_path / "binanceusdm_BTC-USDT_USDT_1h.parquet")
    result = gauntlet("data", "import", path)
    assert result.exit_code == 0, result.output
    key = SeriesKey("binanceusdm", "BTC/USDT:USDT", "1h")
    assert key.folder(data_dir).name == "1h" and key.folder(data_dir).parent.name == "BTC-USDT_USDT"
    assert Store().manifest(key).market_type == "swap" and Store().series() == [key]
    assert load("binanceusdm", "BTC/USDT:USDT", "1h").equals(BTC_1H.iloc[:48])
    assert "swap" in gauntlet("data", "list").output


def test_repair_fetches_a_truncated_partition_again_from_where_it_came(emulator_5m, data_dir):
    fetched = gauntlet("data", "fetch", "binance", "BTC/USDT", "5m", "--since", "2021-03-30", "--until", "2021-04-03",
                       "--api-url", emulator_5m.base_url, "--no-rate-limit")
    assert fetched.exit_code == 0, fetched.output
    key = SeriesKey("binance", "BTC/USDT", "5m")
    truth = load("binance", "BTC/USDT", "5m")
    path = key.folder(data_dir) / Store().manifest(key).partitions["2021-03"].file
    path.write_bytes(path.read_bytes()[:-300])
    broken = gauntlet("sweep", "sma_cross", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "5m")
    assert broken.exit_code == 1 and str(path) in broken.output and "gauntlet data repair" in broken.output
    repaired = gauntlet("data", "repair", "binance", "BTC/USDT", "5m")
    assert repaired.exit_code == 0, repaired.output
    assert "truncated" in repaired.output and "fetched 576 candles again" in repaired.output
    assert load("binance", "BTC/USDT", "5m").equals(truth)
    assert len(list((key.folder(data_dir) / "quarantine").iterdir())) == 1  # the damaged file, kept aside


def test_repair_of_an_imported_series_names_the_file_to_import_again(data_dir, tmp_path):
    path = candle_file(BTC_1H.iloc[:1000], tmp_path / "mine.parquet")
    assert gauntlet("data", "import", path, "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h").exit_code == 0
    manifest = Store().manifest(KEY)
    (KEY.folder(data_dir) / manifest.partitions["2024-01"].file).unlink()
    result = gauntlet("data", "repair", "binance", "BTC/USDT", "1h")
    assert result.exit_code == 1 and "import again: mine.parquet" in result.output
    rows = load("binance", "BTC/USDT", "1h")
    assert rows.index[0] == pd.Timestamp("2024-02-01", tz="UTC") and len(rows) == 1000 - 744
    assert np.isin(ts_ms_of(rows), ts_ms_of(BTC_1H)).all()


def test_two_sweeps_over_different_bytes_never_share_a_data_fingerprint(data_dir, tmp_path):
    import json

    args = ("--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h")
    assert gauntlet("data", "import", candle_file(BTC_1H, tmp_path / "good.parquet"), *args).exit_code == 0
    sweep = ("sweep", "sma_cross", *args, "--param", "fast=10:20:10", "--param", "slow=50:60:10")
    reports = data_dir.parent / "reports"

    def fingerprints() -> list[str]:
        records = [json.loads(p.read_text()) for p in sorted(reports.glob("*/run.json"))]
        return [r["data"][0]["sha256"] for r in records]

    assert gauntlet(*sweep).exit_code == 0
    revised = BTC_1H.copy()
    revised.iloc[-1, revised.columns.get_loc("volume")] += 1.0  # one candle of September
    assert gauntlet("data", "import", candle_file(revised, tmp_path / "revised.parquet"), *args, "--replace").exit_code == 0
    assert gauntlet(*sweep).exit_code == 0
    first, second = fingerprints()
    assert first != second


def test_emulator_serve_trades_with_a_key_from_the_environment_and_keeps_its_state(tmp_path):
    """`gauntlet emulator serve` as a user starts it: the key from the environment (the secret never shown),
    opening balances, a state file that holds what was traded after the process is killed."""
    state, secret = tmp_path / "state.json", "do-not-print-me"
    env = os.environ | {"GAUNTLET_EMULATOR_API_KEY": "cli-key", "GAUNTLET_EMULATOR_API_SECRET": secret,
                        "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    command = [str(Path(sys.executable).parent / "gauntlet"), "emulator", "serve", "--sample", "--now", "2024-06-01",
               "--balance", "USDT=1000,BTC=0", "--state", str(state), "--key-can-withdraw"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        shown, deadline = "", time.monotonic() + 60
        while "balances:" not in shown and time.monotonic() < deadline and server.poll() is None:
            shown += server.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", shown).group(0)
        ex = make_exchange("binance", api_url=url, rate_limit=False, clock=HistoricalClock(to_ms("2024-06-01")),
                           credentials={"apiKey": "cli-key", "secret": secret})
        bought = ex.create_market_buy_order_with_cost("BTC/USDT", 100, {"clientOrderId": "from-cli"})
        restrictions = ex.sapi_get_account_apirestrictions()
    finally:
        server.terminate()
        shown += server.communicate(timeout=30)[0]
    assert "key cli-key (can withdraw, IP-restricted)" in shown and "USDT=1000" in shown
    assert bought["status"] == "closed" and bought["fee"]["currency"] == "BTC"
    assert restrictions["enableWithdrawals"] is True and restrictions["ipRestrict"] is True
    saved = json.loads(state.read_text())
    assert [o["client_id"] for o in saved["orders"]] == ["from-cli"]
    assert secret not in shown and secret not in state.read_text()
