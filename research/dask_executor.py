"""Sweeps and walk-forward on a Dask cluster: an existing one (`--address tcp://host:port`) or a
`distributed.LocalCluster` of this machine's cores.

Each request (a symbol's grid over a window) is cut into tasks of a few combinations. A task carries no
candles: it names the cache root (a folder on shared storage, or an fsspec URL such as `http://host/data` or
`s3://bucket/data`: `--cache`), the series and the range, and the worker reads the Parquet files itself, so
nothing large travels through the scheduler. Before scoring, the worker proves it has what the client
had: the same bytes (the data fingerprint, `Store.load_checked`), the same strategy source and the same
gauntlet code; a difference stops the run with one message naming the file or series, since figures
computed from other data or code would merge silently into the table. A worker keeps the bars it verified
for the last few series, so the many chunks of one series read its files once per worker.

Results stream back as tasks finish (`as_completed`) and are put in place by position, so the table is
the local executor's, bit for bit. A task that raises is retried by Dask (`retries`); a task that still
fails is split into one task per combination, and a combination that fails on its own every time is named
in the answer. A worker that dies mid-run costs only its tasks, which the scheduler runs elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import numpy as np
from distributed import Client, Future, LocalCluster, as_completed, get_worker
from distributed.comm.addressing import parse_address, parse_host_port

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.ohlcv import SeriesKey, Store
from engine.ohlcv.remote import RemotePath
from engine.spec import source_sha256
from engine.strategy import Strategy, load_strategy
from research.executors import Progress, RequestScores, ScoreJob, ScoreRequest, assemble, describe_error
from research.parallel import main_hidden, resolve_workers
from research.sweep import Scores, score_combos, strategy_ref

__all__ = ["DaskExecutor", "WorkerSetupError", "score_chunk"]

RETRIES = 2  # tries after the first, per task: a worker's transient trouble (a file swapped mid-read) passes
# A task repeats its chunk's set-up (each window's moving average: ~0.1 s a task on a year of 1m bars), so few
# tasks; two per worker thread still let a free worker take a busy one's second task, and a dead one lose half.
TASKS_PER_THREAD = 2
CONNECT_TIMEOUT_S = 10
WORKERS_TIMEOUT_S = 30
DASHBOARD_TIMEOUT_S = 3
BARS_KEPT = 4  # series windows a worker keeps verified bars of (a year of 1m bars: ~25 MB each)
_PACKAGES = ("engine", "research")  # the code a task runs, fingerprinted on both sides


class WorkerSetupError(RuntimeError):
    """A worker lacks what the client had (the same candles, strategy source or gauntlet code): the run
    stops, since its figures would not be the client's."""


@dataclass(frozen=True, slots=True)
class TaskShared:
    """What every task of one study carries: how to load the strategy and check it is the client's, the
    costs and conventions, the cache root and the range the client read, and the client's code."""

    strategy: str  # what `load_strategy` takes
    strategy_sha256: str | None  # of the strategy's source file, as the client loaded it
    code_sha256: str  # of gauntlet's own code (`code_fingerprint`)
    costs: Costs
    timeframe: str
    engine: str
    root: str  # a folder, or a URL with whatever credentials it carries (the worker opens it itself)
    start_ms: int | None
    end_ms: int | None


@dataclass(frozen=True, slots=True)
class Chunk:
    """Some combinations of one request: their parameters, the series' fingerprint as the client read it,
    the window and the warm-up of the whole request."""

    fingerprint: dict[str, Any]
    params: tuple[dict[str, Any], ...]
    window: tuple[int, int] | None
    every_bar: bool
    warmup: int


def score_chunk(shared: TaskShared, chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """Runs on a worker: (metrics, samples) of the chunk's combinations, on one core (the worker's
    threads are the cluster's unit of parallelism)."""
    strategy, bars = _setup(shared, chunk)
    combos = [strategy.params(p) for p in chunk.params]
    scores = score_combos(strategy, bars, combos, shared.costs, shared.timeframe, shared.engine, window=chunk.window,
                          every_bar=chunk.every_bar, workers=1, warmup=chunk.warmup)
    return scores.metrics, scores.daily_values


def _setup(shared: TaskShared, chunk: Chunk) -> tuple[Strategy, Bars]:
    try:
        if (mine := code_fingerprint()) != shared.code_sha256:
            raise WorkerSetupError(f"gauntlet's code differs from the client's (sha256 {mine[:12]}... here, "
                                   f"{shared.code_sha256[:12]}... there); install the same gauntlet on every worker "
                                   f"and restart them")
        return _strategy(shared.strategy, shared.strategy_sha256), _bars(shared, chunk.fingerprint)
    except Exception as exc:  # noqa: BLE001 - whatever stops the setup stops the run, with where it happened
        text = str(exc) if isinstance(exc, WorkerSetupError) else describe_error(exc)
        raise WorkerSetupError(f"worker {_where()}: {text}") from None


def _where() -> str:
    try:
        return get_worker().address
    except ValueError:  # not inside a worker (a direct call)
        return socket.gethostname()


@lru_cache(maxsize=16)
def _strategy(ref: str, sha256: str | None) -> Strategy:
    """The strategy, loaded once per worker process and source; refused when its source is not the
    client's."""
    strategy = load_strategy(ref)
    path = getattr(strategy.module, "__file__", None)
    mine = source_sha256(path) if path else None
    if mine != sha256:
        raise WorkerSetupError(f"the source of strategy {strategy.name} ({path}) differs from the client's "
                               f"(sha256 {str(mine)[:12]}... here, {str(sha256)[:12]}... there)")
    return strategy


def _bars(shared: TaskShared, expected: dict[str, Any]) -> Bars:
    return _verified_bars(shared.root, shared.start_ms, shared.end_ms, json.dumps(expected, sort_keys=True))


@lru_cache(maxsize=BARS_KEPT)
def _verified_bars(root: str, start_ms: int | None, end_ms: int | None, expected_json: str) -> Bars:
    """A request's bars read from the cache on this worker, refused unless they are the bytes the client
    read. Kept per worker by the client's fingerprint: bars that once matched it are the client's bytes
    whatever happens to the files later, so the chunks of one series read its files once per worker."""
    expected = json.loads(expected_json)
    key = SeriesKey(expected["exchange"], expected["symbol"], expected["timeframe"])
    store = Store(root)
    loaded = store.load_checked(key, start_ms, end_ms)
    found = loaded.fingerprint
    if (found["sha256"], found["rows"]) != (expected["sha256"], expected["rows"]):
        raise WorkerSetupError(f"{key} in {key.folder(store.root)} is not what the client read: "
                               f"{_difference(found, expected)}; every worker must read the client's cache "
                               f"(GAUNTLET_DATA_DIR on shared storage at the same path, or --cache URL)")
    return Bars.from_frame(loaded.frame)


def _difference(here: dict[str, Any], there: dict[str, Any]) -> str:
    """Rows, sha256 and the partition files only one side read (their names carry their content's hash)."""
    text = (f"{here['rows']:,} rows (sha256 {here['sha256'][:12]}...) here, {there['rows']:,} rows "
            f"(sha256 {there['sha256'][:12]}...) there")
    mine, theirs = [f for f in here["files"] if f not in there["files"]], [f for f in there["files"] if f not in here["files"]]
    if mine or theirs:
        text += f"; files only here: {', '.join(mine) or 'none'}, only there: {', '.join(theirs) or 'none'}"
    return text


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the path and bytes of every module of `engine` and `research`: the same number on two
    machines means they run the same gauntlet code (a version number would miss a local edit)."""
    digest = hashlib.sha256()
    for package in _PACKAGES:
        base = Path(__import__(package).__file__).parent
        for path in sorted(base.rglob("*.py")):
            digest.update(path.relative_to(base.parent).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class DaskExecutor:
    """Requests cut into tasks on a Dask cluster; see the module's docstring. Nothing is started or
    connected until the first request (or `dashboard`), so a run that fails validation never starts a
    cluster; `open` closes what was started."""

    unit = "tasks"

    def __init__(self, address: str | None, workers: int | None = None, chunk_combos: int | None = None,
                 retries: int = RETRIES) -> None:
        if address is not None and workers is not None:
            raise ValueError(f"--workers sizes a local Dask cluster; the cluster at --address {address} has the "
                             f"workers started there (`dask worker {address}` adds more)")
        self.address, self.workers, self.chunk_combos, self.retries = address, workers, chunk_combos, retries
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._record: dict[str, Any] = {}
        self.threads = 0  # of the cluster's workers when it connected

    @classmethod
    @contextmanager
    def open(cls, address: str | None, workers: int | None = None, chunk_combos: int | None = None,
             retries: int = RETRIES) -> Iterator[DaskExecutor]:
        """An executor of the scheduler at `address`, or of a LocalCluster of `workers` processes of one
        thread each (default: one per core) on 127.0.0.1; what it started stops with the block."""
        executor = cls(address, workers, chunk_combos, retries)
        try:
            yield executor
        finally:
            executor.close()

    @property
    def client(self) -> Client:
        if self._client is None:
            self._start()
        assert self._client is not None
        return self._client

    @property
    def dashboard(self) -> str | None:
        """The link to the cluster's dashboard, when it answers: a scheduler started with --no-dashboard
        still names a link (its HTTP server's, for metrics), which leads nowhere."""
        try:
            link = self.client.dashboard_link
        except (KeyError, AttributeError):
            return None
        try:
            with urlopen(link, timeout=DASHBOARD_TIMEOUT_S) as page:
                return link if page.status == 200 else None
        except (OSError, ValueError):  # 404 without the dashboard, or no route to it from here
            return None

    def _start(self) -> None:
        if self.address is None:
            self._cluster = _local_cluster(self.workers)
        self._client = _connect(self.address) if self.address is not None else Client(self._cluster,
                                                                                      set_as_default=False)
        workers = self._client.scheduler_info(n_workers=-1)["workers"].values()
        self.threads = sum(int(w["nthreads"]) for w in workers)
        self._record = {"name": "dask", "address": public_address(self.address), "cluster": "existing" if self.address
                        else "LocalCluster", "workers": len(workers), "threads": self.threads,
                        "retries": self.retries, "chunk_combos": self.chunk_combos}

    def close(self) -> None:
        """Disconnect, and stop the LocalCluster if this executor started one."""
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def record(self) -> dict[str, Any]:
        """How the run was executed, for run.json: the scheduler's address (never credentials; None for a
        LocalCluster), the workers and threads when it connected, and the task settings."""
        _ = self.client  # connected, so the record says what it ran on
        return dict(self._record)

    def score(self, job: ScoreJob, requests: Sequence[ScoreRequest],
              progress: Progress | None = None) -> list[RequestScores]:
        shared, client = _shared(job), self.client
        run = _Run(client, self.address, self.retries, shared, requests)
        size = self.chunk_combos or max(1, -(-sum(len(r.combos) for r in requests) // (TASKS_PER_THREAD * self.threads)))
        for i, request in enumerate(requests):
            for part in _slices(len(request.combos), size):
                run.submit(i, part)
        return run.collect(progress)


class _Run:
    """One `score` call's tasks: submitted, streamed back as they finish and put in place."""

    def __init__(self, client: Client, address: str | None, retries: int, shared: TaskShared,
                 requests: Sequence[ScoreRequest]) -> None:
        self.client, self.address, self.retries, self.shared, self.requests = client, address, retries, shared, requests
        self.pending: dict[Future, tuple[int, slice]] = {}
        self.parts: list[dict[tuple[int, int], Scores]] = [{} for _ in requests]
        self.failed: list[dict[int, str]] = [{} for _ in requests]
        self.stream = as_completed(loop=client.loop)

    def submit(self, i: int, part: slice) -> None:
        r = self.requests[i]
        chunk = Chunk(r.market.fingerprint, tuple(asdict(p) for p in r.combos[part]), r.window, r.every_bar,
                      r.longest_warmup())
        future = self.client.submit(score_chunk, self.shared, chunk, retries=self.retries, pure=False)
        self.pending[future] = (i, part)
        self.stream.add(future)

    def collect(self, progress: Progress | None) -> list[RequestScores]:
        done = 0
        try:
            for future in self.stream:
                i, part = self.pending.pop(future)
                if self._take(future, i, part):
                    done += 1
                    if progress:
                        progress(done, done + len(self.pending))
        finally:
            self.client.cancel(list(self.pending))  # a run that stops leaves nothing running
        return [RequestScores(assemble(len(r.combos), self.parts[i]), self.failed[i]) for i, r in enumerate(self.requests)]

    def _take(self, future: Future, i: int, part: slice) -> bool:
        """Put a finished task's figures in place, or deal with its failure; False when it is not done after
        all (its result was lost with a worker that died before the client fetched it: the scheduler
        computes it again, and the stream waits for it again)."""
        if future.status in ("lost", "pending"):
            self.pending[future] = (i, part)
            self.stream.add(future)
            return False
        if future.status == "finished":
            metrics, samples = future.result()
            self.parts[i][part.start, part.stop] = Scores(metrics, samples)
            return True
        if future.status != "error":
            raise RuntimeError(f"lost the Dask scheduler at {self.address or 'the local cluster'} while tasks were "
                               f"running (a task was {future.status}); run again once it is back")
        exc = future.exception()
        if isinstance(exc, WorkerSetupError):
            raise WorkerSetupError(str(exc)) from None
        if part.stop - part.start == 1:  # one combination that failed on every try: name it
            self.failed[i][part.start] = describe_error(exc)
        else:
            for k in range(part.start, part.stop):  # find which of the chunk's combinations fail
                self.submit(i, slice(k, k + 1))
        return True


def _shared(job: ScoreJob) -> TaskShared:
    path = getattr(job.strategy.module, "__file__", None)
    return TaskShared(strategy_ref(job.strategy), source_sha256(path) if path else None, code_fingerprint(), job.costs,
                      job.timeframe, job.engine, _root_text(job.source.root), job.source.start_ms, job.source.end_ms)


def _root_text(root: Path | RemotePath) -> str:
    """What a worker opens the cache with: the path, or the whole URL (its `str` hides credentials)."""
    return root.url if isinstance(root, RemotePath) else str(root)


def _slices(n: int, size: int) -> list[slice]:
    return [slice(lo, min(lo + size, n)) for lo in range(0, n, size)]


def public_address(address: str | None) -> str | None:
    """The address without anything secret a URL may carry (user:password@, a query)."""
    if address is None:
        return None
    return re.sub(r"//[^/@]*@", "//", address).split("?", 1)[0]


def _local_cluster(workers: int | None) -> LocalCluster:
    """Worker processes of one thread each on 127.0.0.1 (a numba kernel per thread, no oversubscription),
    with the dashboard on a free port."""
    with main_hidden():  # nannies spawn their workers; they need nothing from the user's script
        return LocalCluster(n_workers=resolve_workers(workers), threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL)


def _connect(address: str) -> Client:
    """A client of the scheduler at `address` that has at least one worker, or one line saying what to do."""
    _reachable(address)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except OSError as exc:
        raise ConnectionError(_unreachable(address, str(exc))) from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
    except TimeoutError:
        client.close()
        raise RuntimeError(f"the Dask scheduler at {address} has no workers after {WORKERS_TIMEOUT_S} s; start them "
                           f"on machines that see the cache: `dask worker {address}`") from None
    return client


def _reachable(address: str) -> None:
    """Fail fast, and clearly, when nothing listens at a tcp address (a Client would retry for seconds)."""
    try:
        scheme, location = parse_address(address, strict=False)
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise ValueError(f"--address {address!r} is not a scheduler address ({exc}); give it as tcp://HOST:PORT, "
                         f"as `dask scheduler` prints it") from None
    if scheme not in ("tcp", "tls"):
        return
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConnectionError(_unreachable(address, exc.strerror or str(exc))) from None


def _unreachable(address: str, reason: str) -> str:
    return (f"cannot reach the Dask scheduler at {address} ({reason}); check that `dask scheduler` runs there and "
            f"that this machine may connect to its port, or leave out --address to run on a local Dask cluster")
