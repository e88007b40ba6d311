"""What the runner tests share: a paper deployment of a built-in strategy written as `gauntlet promote` would,
an emulator serving real candles on an accelerated clock, the replay of what a runner's journal says it
traded (bar by bar, over the candles of its cache, with the same spec), the books a journal holds, and
sessions fed real candles directly (no feed, no emulator)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.core.market_rules import DEFAULT_SPOT, MarketRules, rules_from_sources
from engine.core.matching import Candle
from engine.live import DataDigest, Deployment, GateResult, GateThresholds, Journal, Venue, save_deployment
from engine.live.cache import LiveCache
from engine.live.history import journal_path
from engine.live.paper import PaperVenue
from engine.live.runner import paper_session, session_plan
from engine.live.session import Session, TickInputs
from engine.ohlcv import SeriesKey, Store
from engine.replay import ReplayResult, replay
from engine.spec import MarketSpec, RunSpec, StrategySpec
from engine.strategy import Bars, load_strategy
from engine.venues.emulator import Feed
from tests.conftest import btc_1h_store, shared_candles

HOUR = 3_600_000
BTC_1H = "binance_BTC-USDT_1h_2024-01_2024-09.parquet"


def btc_feed(symbol: str = "BTC/USDT") -> Feed:
    """The real BTC/USDT 1h candles of 2024-01 -> 2024-09 (no gaps), served as `symbol`."""
    return Feed.from_frame(symbol, "1h", shared_candles(BTC_1H))


def paper_deployment(root: Path, name: str, strategy: str = "sma_cross", params: dict | None = None,
                     symbol: str = "BTC/USDT", timeframe: str = "1h", **spec: object) -> Deployment:
    """A paper deployment of a built-in strategy, saved under `root` as `gauntlet promote` writes one."""
    module = load_strategy(strategy).module
    source = Path(module.__file__)
    strategy_spec = StrategySpec(name=strategy, ref=strategy, path=str(source),
                                 sha256=hashlib.sha256(source.read_bytes()).hexdigest())
    run = RunSpec(strategy=strategy_spec, params=params or {"fast": 5, "slow": 20},
                  market=MarketSpec(exchange="binance", symbol=symbol, timeframe=timeframe), **spec)
    draft = Deployment(name=name, version=1, created="2026-01-02T03:04:05+00:00",
                       venue=Venue(kind="paper", exchange="binance"), spec=run, thresholds=GateThresholds(),
                       gates=[GateResult.compare("DSR", 0.97, ">=", 0.95)], runs=["20260101T000000Z-x-abcdef0"],
                       data=DataDigest(series=f"binance {symbol} {timeframe}", rows=1, sha256="a" * 64))
    return save_deployment(root, draft)[0]


@dataclass(frozen=True)
class Books:
    """What a journal says a deployment did: every event, orders, fills, equity marks."""

    events: list
    orders: list[tuple]
    fills: list[tuple]
    marks: list[tuple]
    closed_ms: list[int]  # the open time of every candle handled


def journal_books(data_dir: Path, name: str) -> Books:
    with Journal.open(journal_path(name, data_dir)) as journal:
        events = [entry.event for entry in journal.events_after(name)]
        orders = [(o.client_id, o.side, o.type.value, o.qty, o.quote_qty, o.status.value, o.filled_qty)
                  for o in journal.orders(name)]
        fills = [(f.client_id, f.ts_ms, f.qty, f.px, f.fee) for f in journal.fills_since(name)]
        marks = [(m.ts_ms, m.equity, m.cash, m.position) for m in journal.equity(name)]
    closed = [e.ts_ms for e in events if e.kind == "bar_closed"]
    return Books(events, orders, fills, marks, closed)


def replay_of(data_dir: Path, deployment: Deployment, first_ms: int, last_ms: int) -> ReplayResult:
    """Replay bar by bar, with the deployment's spec and the exchange's rules the cache recorded, over the cached
    candles [first_ms, last_ms], the strategy deciding on the whole cached history before them."""
    spec = deployment.spec
    key = SeriesKey("binance", spec.market.symbol, spec.market.timeframe)
    store = Store(data_dir)
    everything = Bars.from_frame(store.load(key))
    lo, hi = (int(np.searchsorted(everything.ts_ms, x, side=s)) for x, s in ((first_ms, "left"), (last_ms, "right")))
    strategy = load_strategy(spec.strategy.ref)
    signals = strategy.signals(everything[:hi], strategy.params(spec.params))
    window = type(signals)(**{k: v[lo:hi] for k, v in signals.columns.items()})
    rules, _ = rules_from_sources(key.symbol, store.require(key).sources)
    return replay(everything[lo:hi], window, spec.costs.to_costs(), spec.realism.to_realism(), rules,
                  strategy.risk_rules(spec.risk.to_config()), scope=deployment.name, bar_by_bar=True)


def replay_books(result: ReplayResult) -> Books:
    orders = sorted(((o.client_id, o.side, o.type.value, o.qty, o.quote_qty, o.status.value, o.filled_qty)
                     for o in result.orders), key=lambda row: row[0])
    fills = [(f.order_id, f.ts_ms, f.qty, f.px, f.fee) for f in result.fills]
    marks = [(int(ts), float(eq)) for ts, eq in zip(result.bars.ts_ms, result.equity, strict=True)]
    return Books(list(result.events), orders, fills, marks, [int(ts) for ts in result.bars.ts_ms])


# -- sessions fed real candles directly (no feed, no emulator) ----------------------------------------------

KEY = SeriesKey("binance", "BTC/USDT", "1h")
RULES = MarketRules.from_ccxt({**DEFAULT_SPOT, "symbol": "BTC/USDT"})
BARS = Bars.from_frame(shared_candles(BTC_1H))
FIRST = 400  # the first candle traded; the 400 before it are history


def candle(i: int) -> Candle:
    b = BARS
    return Candle(int(b.ts_ms[i]), float(b.open[i]), float(b.high[i]), float(b.low[i]), float(b.close[i]),
                  float(b.volume[i]))


def a_session(tmp_path: Path, name: str, strategy: str = "sma_cross", params: dict | None = None,
              journal: Journal | None = None, venue_type: type = PaperVenue, **spec: object) -> Session:
    deployment = paper_deployment(tmp_path / "deployments", name, strategy, params or {"fast": 5, "slow": 20}, **spec)
    plan = session_plan(deployment, KEY, RULES, snapshot_every=25)
    session = paper_session(plan, journal or Journal.open(tmp_path / f"{name}.sqlite"))
    session.venue = venue_type(session.venue.sim)
    session.window.fill(BARS[:FIRST])
    return session


def drive(session: Session, lo: int, hi: int, inputs: dict[int, TickInputs] | None = None) -> None:
    async def go() -> None:
        for i in range(lo, hi):
            await session.on_candle(candle(i), (inputs or {}).get(i, TickInputs()))
    asyncio.run(go())


def decided(column: str, lo: int, hi: int, params: dict) -> list[int]:
    """The bars in [lo, hi) whose close sma_cross decides a `column` (entries, exits) at."""
    strategy = load_strategy("sma_cross")
    full = strategy.signals(BARS[:hi], strategy.params(params))
    return [int(i) for i in np.flatnonzero(getattr(full, column)[lo:hi]) + lo]


class CrashingJournal(Journal):
    """A journal whose process 'dies' while writing candle `at`'s transaction: its intents are on disk (and the
    orders at the venue), its events are not."""

    at: int = -1

    def record_tick(self, deployment, batch, mark, beat, snapshot=None):  # noqa: ANN001, ANN201
        if mark.ts_ms == self.at:
            raise SystemExit("killed")
        return super().record_tick(deployment, batch, mark, beat, snapshot)


def traded(root: Path, name: str, hi: int = FIRST + 300, inputs: dict[int, TickInputs] | None = None,
           params: dict | None = None) -> Deployment:
    """A paper deployment `name` trading candles FIRST..hi fed directly, as a runner that started once and was
    stopped would leave it: its journal at `root`/data/journal/NAME.sqlite (first heartbeat before any candle, a
    snapshot and the stopped state at the end), the candles cached in `root`/data, the deployment in
    `root`/deployments."""
    deployment = paper_deployment(root / "deployments", name, params=params or {"fast": 5, "slow": 20})
    if Store(root / "data").manifest(KEY) is None:
        btc_1h_store(root / "data")
    with Journal.open(journal_path(name, root / "data")) as journal:
        session = paper_session(session_plan(deployment, KEY, RULES, snapshot_every=25), journal)
        session.window.fill(BARS[:FIRST])
        journal.beat(name, session.heartbeat("running"))  # the runner's first word, before its first candle
        drive(session, FIRST, hi, inputs)
        session.save_snapshot(session.last_ms)
        journal.beat(name, session.heartbeat("stopped", "asked to stop"))
    return deployment


def cached_candles(root: Path) -> LiveCache:
    """A real cache at `root` holding the BTC/USDT 1h candles, where recovery reads windows and re-driven candles."""
    return LiveCache(btc_1h_store(root), KEY)
