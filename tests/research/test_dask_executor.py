"""`--executor dask` against a real cluster on loopback: a `dask scheduler` and `dask worker` processes
(one thread each), started here and torn down whatever happens. The same sweep and the same walk-forward
give the local executor's tables bit for bit, also when a worker is SIGKILLed mid-run, and when the workers
read the cache at an HTTP URL (`--cache`) instead of a path; a parameter set that always fails is named; a
worker that reads other candles stops the run naming the series."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client

from engine.core.costs import Costs
from engine.ohlcv import SeriesKey, Store
from research.dask_executor import DaskExecutor, WorkerSetupError
from research.executors import LocalExecutor, ScoreJob, ScoreRequest, data_source
from research.runs import to_json
from research.splits import SplitSpec
from research.sweep import SweepSpec, grid_of, load_markets
from research.sweep_run import run_sweep
from research.walkforward import WalkForwardSpec, fold_table, run_walkforward
from tests.conftest import btc_1h_store, shared_candles
from tests.factories import failing_strategy
from tests.fakes import FolderServer

ROOT = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).parent / "dask"
COSTS = Costs(0.001, 0.0005, 10_000.0)
GRID = ("fast=5:50:5", "slow=20:200:20")  # 90 combinations


@dataclass
class Cluster:
    address: str
    workers: list[subprocess.Popen]
    folder: Path


def _start(args: list[str], folder: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the workers import this checkout's gauntlet, as the client does
    with (folder / f"{name}.log").open("w") as log:  # the process keeps its own handle
        return subprocess.Popen([str(DASK), *args], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_worker(address: str, folder: Path, name: str) -> subprocess.Popen:
    """A worker of one thread, without a nanny: SIGKILL then kills the worker itself."""
    return _start(["worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", name,
                   "--local-directory", str(folder / name)], folder, name)


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(address: str, n_workers: int) -> None:
    with Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(n_workers, timeout=90)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """A scheduler on a free loopback port and two workers, for the whole module."""
    folder = tmp_path_factory.mktemp("dask")
    file = folder / "scheduler.json"
    processes = [_start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                         str(file)], folder, "scheduler")]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            assert processes[0].poll() is None and time.monotonic() < deadline, (folder / "scheduler.log").read_text()
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        processes += [start_worker(address, folder, f"worker-{i}") for i in range(2)]
        _wait_for(address, 2)
        yield Cluster(address, processes[1:], folder)
    finally:
        _stop(processes[::-1])


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Store:
    """Real BTC/USDT and ETH/USDT 1h candles of 2024-01 -> 2024-09, in a cache every worker reads."""
    store = btc_1h_store(tmp_path_factory.mktemp("cache") / "data")
    store.write(SeriesKey("binance", "ETH/USDT", "1h"), shared_candles("binance_ETH-USDT_1h_2024-01_2024-09.parquet"),
                source={"kind": "test"}, obtained_ms=4_102_444_800_000)
    return store


def sweep_spec(strategy: str = "sma_cross", params: tuple[str, ...] = GRID, engine: str = "auto") -> SweepSpec:
    return SweepSpec(strategy, "binance", ("BTC/USDT", "ETH/USDT"), "1h", params=params, costs=COSTS, engine=engine)


def assert_same_sweep(local, remote) -> None:
    pd.testing.assert_frame_equal(local.results, remote.results, check_exact=True)
    assert to_json(local.evidence) == to_json(remote.evidence)
    assert to_json(local.confirmed) == to_json(remote.confirmed)
    assert local.failed == remote.failed


@pytest.mark.slow
@pytest.mark.parametrize("strategy, params, engine", [("sma_cross", GRID, "auto"),
                                                      ("rsi_reversion", ("window=8,14,30", "lower=25,30"), "vectorbt")])
def test_a_sweep_on_the_cluster_is_the_local_sweep_bit_for_bit(cluster, cache, strategy, params, engine):
    spec = sweep_spec(strategy, params, engine)
    local = run_sweep(spec, store=cache, executor=LocalExecutor())
    with DaskExecutor.open(cluster.address, chunk_combos=7) as executor:  # parts of 7: no part is a whole symbol
        remote = run_sweep(spec, store=cache, executor=executor)
    assert_same_sweep(local, remote)
    assert len(remote.results) == 2 * len(grid_of(spec)[2]) and remote.results["trades"].dtype == np.int64
    assert remote.executor == {"name": "dask", "address": cluster.address, "cluster": "existing", "workers": 2,
                               "threads": 2, "retries": 2, "chunk_combos": 7}


@pytest.mark.slow
def test_a_walkforward_on_the_cluster_is_the_local_walkforward_bit_for_bit(cluster, cache):
    sweep = SweepSpec("ema_cross", "binance", ("BTC/USDT", "ETH/USDT"), "1h", params=("fast=2:20:2", "slow=10:80:10"),
                      costs=COSTS)  # an average with a long memory: its warm-up (20 slow spans) must travel
    spec = WalkForwardSpec(sweep, SplitSpec(n_folds=4, is_size="90D", oos_size="30D", purge=12), min_trades=3)
    local = run_walkforward(spec, store=cache, executor=LocalExecutor())
    with DaskExecutor.open(cluster.address, chunk_combos=16) as executor:
        remote = run_walkforward(spec, store=cache, executor=executor)
    names = ["fast", "slow"]
    pd.testing.assert_frame_equal(fold_table(local.folds, names), fold_table(remote.folds, names), check_exact=True)
    for symbol in ("BTC/USDT", "ETH/USDT"):
        pd.testing.assert_series_equal(local.stitched[symbol], remote.stitched[symbol], check_exact=True)
    assert to_json(local.summary) == to_json(remote.summary)
    assert len(remote.folds) == 8 and sum(f.pick is not None for f in remote.folds) >= 6


@pytest.mark.slow
def test_a_worker_killed_mid_run_costs_only_time(cluster, cache):
    victim = start_worker(cluster.address, cluster.folder, "victim")
    try:
        _wait_for(cluster.address, 3)
        spec = sweep_spec()
        local = run_sweep(spec, store=cache, executor=LocalExecutor())
        with DaskExecutor.open(cluster.address, chunk_combos=2) as executor:  # 90 small tasks
            address = next(a for a, w in executor.client.scheduler_info()["workers"].items() if w["name"] == "victim")
            killed: list[int] = []

            def kill_when_busy(done: int, total: int) -> None:
                if not killed and executor.client.processing(workers=[address]).get(address):
                    victim.send_signal(signal.SIGKILL)  # in the middle of a task of this run
                    killed.append(done)

            remote = run_sweep(spec, store=cache, progress=lambda _: kill_when_busy, executor=executor)
            assert killed and killed[0] < 90 and victim.wait(timeout=10) == -signal.SIGKILL
            assert address not in executor.client.scheduler_info()["workers"]
        assert_same_sweep(local, remote)
        assert remote.executor["workers"] == 3
    finally:
        _stop([victim])


@pytest.mark.slow
def test_a_parameter_set_that_always_fails_is_named_and_a_transient_failure_is_retried(cluster, cache, tmp_path):
    path = failing_strategy(tmp_path, always=13, once=17)
    spec = sweep_spec(str(path), params=(), engine="vectorbt")
    with DaskExecutor.open(cluster.address, chunk_combos=2) as executor:  # [5, 8] [13, 17] [21, 30]
        remote = run_sweep(spec, store=cache, executor=executor)
    assert path.with_suffix(".failed-once").exists()  # window 17 did fail once, and its row is there
    local = run_sweep(spec, store=cache, executor=LocalExecutor(1))
    assert_same_sweep(local, remote)
    assert [(f["symbol"], f["params"], f["in"]) for f in remote.failed] == [
        ("BTC/USDT", {"window": 13}, ["sweep"]), ("ETH/USDT", {"window": 13}, ["sweep"])]
    assert "ValueError: window 13 always fails" in remote.failed[0]["error"]
    assert sorted(remote.results["window"].unique()) == [5, 8, 17, 21, 30] and len(remote.results) == 10


@pytest.mark.slow
def test_a_worker_that_reads_other_candles_stops_the_run_naming_the_series(cluster, cache, tmp_path):
    spec = SweepSpec("sma_cross", "binance", ("BTC/USDT",), "1h", params=GRID, costs=COSTS)
    strategy, _, combos = grid_of(spec)
    markets = load_markets(spec, cache, min_bars=400)
    other = Store(tmp_path / "other")  # what a worker would see with the cache on another disk than the client's
    other.write(SeriesKey("binance", "BTC/USDT", "1h"), cache.load(SeriesKey("binance", "BTC/USDT", "1h"))[:-24],
                source={"kind": "test"}, obtained_ms=4_102_444_800_000)
    job = ScoreJob(strategy, COSTS, "1h", "auto", data_source(spec, other))
    with DaskExecutor.open(cluster.address, retries=0) as executor:
        with pytest.raises(WorkerSetupError) as raised:
            executor.score(job, [ScoreRequest(markets[0], tuple(combos))])
    text = str(raised.value)
    assert f"binance BTC/USDT 1h in {tmp_path / 'other'}" in text and "is not what the client read" in text
    assert text.startswith("worker tcp://127.0.0.1:")
    client, worker = (store.load_checked(SeriesKey("binance", "BTC/USDT", "1h")).fingerprint for store in (cache, other))
    assert (f"{worker['rows']:,} rows (sha256 {worker['sha256'][:12]}...) here, {client['rows']:,} rows (sha256 "
            f"{client['sha256'][:12]}...) there; files only here: {worker['files'][-1]}, only there: "
            f"{client['files'][-1]}") in text
    assert worker["rows"] == client["rows"] - 24


def test_an_unreachable_address_is_one_line_that_says_what_to_do(env_cache):
    import socket

    from typer.testing import CliRunner

    from research.cli import app

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = CliRunner().invoke(app, ["sweep", "sma_cross", "--symbol", "BTC/USDT", "--executor", "dask", "--address",
                                    f"tcp://127.0.0.1:{port}"])
    assert done.exit_code == 1 and "Traceback" not in done.output
    assert (f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port} (Connection refused); check that "
            "`dask scheduler` runs there" in " ".join(done.output.split()))


def _run(*args: str) -> tuple[Path, str]:
    """`gauntlet ARGS` in this process: the run folder it wrote and what it printed."""
    from typer.testing import CliRunner

    from engine.settings import settings
    from research.cli import app

    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return settings().reports_dir / done.output.split("run ", 1)[1].split()[0], done.output


@pytest.mark.slow
def test_the_commands_on_the_cluster_write_the_local_runs_tables_and_record_where_they_ran(cluster, env_cache):
    market = ["--symbol", "BTC/USDT", "--param", "fast=5:30:5", "--param", "slow=40:120:20"]
    commands = {"sweep": (["sweep", "sma_cross", *market], "results.parquet"),
                "walkforward": (["walkforward", "sma_cross", *market, "--folds", "3", "--mode", "anchored"],
                                "folds.parquet")}
    for args, table in commands.values():
        local, _ = _run(*args)
        remote, printed = _run(*args, "--executor", "dask", "--address", cluster.address)
        pd.testing.assert_frame_equal(pd.read_parquet(local / table), pd.read_parquet(remote / table), check_exact=True)
        records = [json.loads((folder / "run.json").read_text()) for folder in (local, remote)]
        assert records[0]["executor"] == {"name": "local", "workers": 2} and records[0]["failed"] == []
        assert records[1]["executor"] == {"name": "dask", "address": cluster.address, "cluster": "existing",
                                          "workers": 2, "threads": 2, "retries": 2, "chunk_combos": None}
        assert records[0]["config"] == records[1]["config"] and "Dask dashboard" not in printed  # --no-dashboard


@pytest.mark.slow
def test_without_an_address_the_command_runs_on_a_local_cluster_and_prints_its_dashboard(env_cache):
    args = ["sweep", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=5:30:5", "--param", "slow=40:120:20"]
    local, _ = _run(*args)
    remote, printed = _run(*args, "--executor", "dask", "--workers", "2")
    pd.testing.assert_frame_equal(pd.read_parquet(local / "results.parquet"), pd.read_parquet(remote / "results.parquet"),
                                  check_exact=True)
    assert json.loads((remote / "run.json").read_text())["executor"] == {
        "name": "dask", "address": None, "cluster": "LocalCluster", "workers": 2, "threads": 2, "retries": 2,
        "chunk_combos": None}
    assert "Dask dashboard: http://127.0.0.1:" in printed and "/status" in printed


@pytest.mark.slow
def test_workers_that_read_the_cache_at_a_url_walk_forward_as_the_local_executor_reads_the_folder(cluster, cache):
    """The real `dask worker` processes open the cache over HTTP (a server that lists no folder) and check the
    client's fingerprint there; the table is the local executor's reading the folder."""
    sweep = SweepSpec("sma_cross", "binance", ("BTC/USDT", "ETH/USDT"), "1h", params=("fast=5:30:5", "slow=40:120:20"),
                      costs=COSTS)
    spec = WalkForwardSpec(sweep, SplitSpec(n_folds=3, is_size="90D", oos_size="30D"), min_trades=3)
    local = run_walkforward(spec, store=cache, executor=LocalExecutor())
    with FolderServer(cache.root.parent) as server:
        remote_store = Store(f"{server.url}/{cache.root.name}")
        with DaskExecutor.open(cluster.address, chunk_combos=6) as executor:
            remote = run_walkforward(spec, store=remote_store, executor=executor)
        asked = list(server.requests)
    names = ["fast", "slow"]
    pd.testing.assert_frame_equal(fold_table(local.folds, names), fold_table(remote.folds, names), check_exact=True)
    assert to_json(local.summary) == to_json(remote.summary)
    assert [m.fingerprint for m in remote.markets] == [m.fingerprint for m in local.markets]
    files = {p.file for key in (SeriesKey("binance", s, "1h") for s in ("BTC/USDT", "ETH/USDT"))
             for p in cache.require(key).partitions.values()}
    reads = {name: sum(r.endswith("/" + name) for r in asked) for name in files}
    assert len(files) == 18 and min(reads.values()) >= 2  # the client once, and the workers that scored it
    assert not [r for r in asked if not r.endswith((".parquet", "/manifest.json"))]  # nothing listed


@pytest.mark.slow
def test_cache_url_on_a_local_cluster_writes_the_local_runs_table_and_fingerprint(env_cache):
    """`--executor dask --cache URL`: the client and every worker of a LocalCluster read the candles over HTTP;
    results.parquet and the data fingerprint in run.json are those of the local executor reading the folder."""
    args = ["sweep", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=5:30:5", "--param", "slow=40:120:20"]
    local, _ = _run(*args)
    with FolderServer(env_cache) as server:
        remote, _ = _run(*args, "--executor", "dask", "--workers", "2", "--cache", f"{server.url}/data")
        asked = list(server.requests)
    pd.testing.assert_frame_equal(pd.read_parquet(local / "results.parquet"), pd.read_parquet(remote / "results.parquet"),
                                  check_exact=True)
    records = [json.loads((folder / "run.json").read_text()) for folder in (local, remote)]
    assert records[1]["data"] == records[0]["data"] and records[1]["config"] == records[0]["config"]
    assert records[1]["executor"]["cluster"] == "LocalCluster"
    months = [p.file for p in Store(env_cache / "data").require(SeriesKey("binance", "BTC/USDT", "1h")).partitions.values()]
    assert min(sum(r.endswith("/" + m) for r in asked) for m in months) >= 2  # the client's read, then a worker's


def test_a_cache_url_that_cannot_be_read_is_one_line_naming_it(env_cache):
    import socket

    from typer.testing import CliRunner

    from research.cli import app

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = ["sweep", "sma_cross", "--symbol", "BTC/USDT", "--executor", "dask"]
    refused = CliRunner().invoke(app, [*base, "--cache", f"http://127.0.0.1:{port}/data"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert " ".join(refused.output.split()) == (
        f"error: cannot read the cache at http://127.0.0.1:{port}/data/ohlcv/binance/BTC-USDT/1h/manifest.json: "
        f"cannot connect to 127.0.0.1:{port} (Connection refused)")
    unknown = CliRunner().invoke(app, [*base, "--cache", "nosuch://bucket/data"])
    assert unknown.exit_code == 1 and " ".join(unknown.output.split()).startswith(
        "error: cache URL 'nosuch://bucket/data': Protocol not known: nosuch")
