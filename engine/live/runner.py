"""The runner: one asyncio process trading one or many deployments, one candle feed per (exchange, symbol,
timeframe) shared by the deployments that trade it.

Start-up, per deployment: the journal's latest snapshot, the cache filled from the exchange (warm-up and any
candle missed while the process was down), the candles journaled after the snapshot handled again and checked
(paper), and only then trading. Each candle the feed brings goes to every session of its market in turn, with
what the runner knows from outside the deployment: whether the candle came on time, the kill switch, the
portfolio's limits. SIGTERM (or SIGINT) lets the candle in hand finish, then every session journals a snapshot
and its state, and the process exits 0. A session that fails (its journal disagrees with a re-drive, the venue
with its books, a strategy raises) is halted with an alert-level log; the others trade on.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ccxt
import structlog

from engine.core.loop import LoopConfig
from engine.core.market_rules import MarketRules
from engine.live.cache import LiveCache
from engine.live.credentials import Keys, find_keys, key_names
from engine.live.deployment import Deployment, DeploymentError, deployment_versions, load_deployment
from engine.live.exchange import LiveVenue
from engine.live.feed import CandleFeed, ExchangeClock, ExchangeTime, FeedConfig, FeedStopped
from engine.live.history import journal_path
from engine.live.journal import Journal
from engine.live.killswitch import KillSwitch
from engine.live.paper import PaperVenue
from engine.live.portfolio import Holding, Portfolio, PortfolioLimits
from engine.live.recovery import RecoveryError
from engine.live.session import Session, SessionPlan, TickInputs
from engine.live.startup import first_needed_ms, reconcile_session, restore_session, resume_session
from engine.ohlcv.layout import SeriesKey
from engine.ohlcv.store import Store
from engine.ohlcv.timeframe import floor_ms
from engine.sim.venue import SimVenue
from engine.strategy.contract import load_strategy
from engine.venues.ccxt_client import make_exchange
from engine.venues.ccxt_venue import CcxtVenue, VenueConfig
from engine.venues.submission import ProofPolicy

__all__ = ["Runner", "RunnerConfig", "live_keys", "load_deployments", "paper_session", "session_plan"]

log = structlog.get_logger("gauntlet.runner")


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Where the runner reads and writes, which exchange URL it talks to (None: the exchange's own; the
    emulator's in rehearsals) and how fast that exchange's clock runs, when it stops (`candles` per feed, or
    before the candle opening at `until_ms`), how often it snapshots, how its feeds poll, the portfolio's
    limits and how often it shows life while it waits."""

    data_dir: Path
    deployments_dir: Path
    api_url: str | None = None
    speed: float = 1.0
    candles: int | None = None
    until_ms: int | None = None
    snapshot_every: int = 100
    feed: FeedConfig = FeedConfig()
    limits: PortfolioLimits = PortfolioLimits()
    heartbeat_s: float = 10.0
    env_file: Path | None = Path(".env")  # where a live account's keys may be, beside the environment
    proof: ProofPolicy | None = None  # how a live venue proves an order absent (None: the default at `speed`)


@dataclass
class Deployed:
    """One deployment as the runner holds it."""

    deployment: Deployment
    session: Session
    key: SeriesKey
    kill: KillSwitch
    halted: str | None = None


@dataclass
class Market:
    """One feed and the deployments it serves."""

    key: SeriesKey  # the cache's series (its exchange folder may be another name than ccxt's, e.g. `synthetic`)
    exchange: str  # the ccxt id its candles come from
    cache: LiveCache
    deployed: list[Deployed] = field(default_factory=list)
    feed: CandleFeed | None = None
    handled: int = 0
    finished: bool = False  # reached --candles or --until


def load_deployments(names: list[str], root: Path) -> list[Deployment]:
    """The newest version of each named deployment, validated, its strategy source unchanged since promotion."""
    found = deployment_versions(root)
    out = []
    for name in dict.fromkeys(names):
        if name not in found:
            known = ", ".join(found) or "none"
            raise DeploymentError(f"no deployment {name!r} in {root} (known: {known}); promote a run first")
        out.append(load_deployment(found[name][-1][1]))
    return out


def live_keys(deployments: list[Deployment], env_file: Path | None) -> dict[str, Keys]:
    """The keys of every live deployment's account (from the environment or `env_file`), before anything is
    opened or sent; a `DeploymentError` naming the variables to set when an account has none."""
    found, missing = {}, []
    for deployment in deployments:
        account = deployment.venue.account
        if deployment.venue.kind != "live" or account in found:
            continue
        keys = find_keys(account, env_file)
        if keys is None:
            missing.append(f"{deployment.label()} (account {account}: set {' and '.join(key_names(account))} in the "
                           f"environment or in {env_file or '.env'})")
        else:
            found[account] = keys
    if missing:
        raise DeploymentError(f"no API key for {'; '.join(missing)}: a live deployment trades with the account's "
                              "own keys, never anything else")
    return found


class Runner:
    """`await Runner(config).run(names)`; `clock` (the exchange's time) and `client` (a ccxt client factory:
    exchange id, async or not -> client) are seams for rehearsals that share an emulator's clock."""

    def __init__(self, config: RunnerConfig, clock: ExchangeTime | None = None,
                 client: Callable[[str, bool], Any] | None = None) -> None:
        self.config, self.clock = config, clock
        self.client = client or (lambda exchange, async_: make_exchange(  # a loopback emulator has no rate limit
            exchange, api_url=config.api_url, rate_limit=config.api_url is None, async_=async_))
        self.store = Store(config.data_dir)
        self.portfolio = Portfolio(config.limits)
        self.stop = asyncio.Event()
        self.journals: list[Journal] = []
        self.markets: dict[SeriesKey, Market] = {}
        self.clients: dict[str, Any] = {}
        self.owned: list[Any] = []  # the live deployments' signed clients
        self.keys: dict[str, Keys] = {}
        self.halted = 0

    async def run(self, names: list[str]) -> int:
        """Trade until stopped; 0 on a clean stop, 1 when a deployment was halted."""
        deployments = load_deployments(names, self.config.deployments_dir)
        self.keys = live_keys(deployments, self.config.env_file)
        self._signals()
        try:
            await self._open(deployments)
            await asyncio.gather(*(self._prepare(m) for m in self.markets.values()))
            for market in self.markets.values():  # the portfolio knows every deployment before the first entry
                for deployed in market.deployed:
                    self.portfolio.update(deployed.session.name, _holding(deployed.session, market.key))
            self._beat_all()
            beating = asyncio.create_task(self._heartbeats())
            try:
                await asyncio.gather(*(self._trade(m) for m in self.markets.values()))
            finally:
                beating.cancel()
        finally:
            await self._close()
        return 1 if self.halted else 0

    def _signals(self) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, self._asked_to_stop, number)

    def _asked_to_stop(self, number: int) -> None:
        log.info("runner.stopping", signal=signal.Signals(number).name, detail="the candle in hand finishes first")
        self.stop.set()

    # -- start-up -----------------------------------------------------------------------------------------------

    async def _open(self, deployments: list[Deployment]) -> None:
        """Clients, markets (the exchange's rules), journals and sessions, grouped by market."""
        for deployment in deployments:
            venue, market = deployment.venue, deployment.spec.market
            key = SeriesKey(market.exchange, market.symbol, market.timeframe)  # the cache's name; the client: ccxt's
            if venue.exchange not in self.clients:
                self.clients[venue.exchange] = self.client(venue.exchange, True)
                if self.clock is None:
                    self.clock = await _calibrated(self.clients[venue.exchange], self.config.speed)
            described = await _market(self.clients[venue.exchange], market.symbol)
            if key not in self.markets:
                source = {"exchange": venue.exchange, "api_url": self.config.api_url, "market": described}
                self.markets[key] = Market(key, venue.exchange, LiveCache(self.store, key, source=source))
            self.markets[key].deployed.append(await self._deployed(deployment, key, MarketRules.from_ccxt(
                {**described, "symbol": market.symbol})))

    async def _deployed(self, deployment: Deployment, key: SeriesKey, rules: MarketRules) -> Deployed:
        journal = Journal.open(journal_path(deployment.name, self.config.data_dir))
        self.journals.append(journal)
        plan = session_plan(deployment, key, rules, self.config.snapshot_every)
        if deployment.venue.kind == "live":
            session = Session(plan, await self._live_venue(deployment, journal), journal)
        else:
            session = paper_session(plan, journal)
        session.log.info("runner.deployment", version=deployment.version, venue=deployment.venue.kind,
                         market=str(key), params=str(session.plan.params))
        return Deployed(deployment, session, key, KillSwitch.of(deployment.name, self.config.data_dir))

    async def _live_venue(self, deployment: Deployment, journal: Journal) -> LiveVenue:
        """The deployment's own signed client (its account's keys, requests signed on the exchange's clock), its
        intents journaled first, the key checked (one that can withdraw is refused) before anything is sent."""
        venue = deployment.venue
        client = make_exchange(venue.exchange, api_url=self.config.api_url, rate_limit=self.config.api_url is None,
                               async_=True, credentials=self.keys[venue.account].ccxt_config(), clock=self.clock)
        self.owned.append(client)
        proof = self.config.proof or ProofPolicy(speed=self.config.speed)
        ccxt_venue = CcxtVenue(client, VenueConfig(deployment.name, (deployment.spec.market.symbol,), proof,
                                                   live=True), journal)
        await ccxt_venue.start()
        return LiveVenue(ccxt_venue)

    async def _prepare(self, market: Market) -> None:
        """Snapshots, the cache filled from the first candle anyone needs, re-drives, then the feed's start."""
        bar_ms, now = market.key.timeframe_ms, self.clock.now_ms()
        needs = []
        for deployed in market.deployed:
            session = deployed.session
            seq = restore_session(session)
            first = first_needed_ms(session, seq)
            last = session.last_ms if first is None else first - bar_ms
            needs.append((deployed, seq, last))
        warmup = max(d.session.plan.warmup for d in market.deployed)
        since = min([floor_ms(now, market.key.timeframe)] + [last for _, _, last in needs if last is not None])
        sync = self.client(market.exchange, False)
        fetched = await asyncio.to_thread(market.cache.fill, sync, since - 3 * warmup * bar_ms)
        log.info("runner.cache", series=str(market.key), fetched=fetched)
        for deployed, seq, _ in needs:
            try:
                await resume_session(deployed.session, market.cache, seq)
            except RecoveryError as exc:  # this deployment's books cannot be trusted; the others trade on
                self._halt(deployed, str(exc))
        start = self._start_ms(market)
        for deployed, _, _ in needs:
            if deployed.session.last_ms is None:
                deployed.session.window.fill(market.cache.bars(start - 3 * warmup * bar_ms, start))
            if not deployed.session.venue.holds_books and deployed.halted is None:
                try:  # the exchange's truth before the first order: repaired, or halted on what cannot be explained
                    await reconcile_session(deployed.session, self.clock.now_ms())
                except RecoveryError as exc:
                    self._halt(deployed, str(exc))
        market.feed = CandleFeed(market.key, self.clients[market.exchange], self.clock, start, self.config.feed)
        log.info("runner.ready", series=str(market.key), from_ms=start, deployments=[d.session.name for d in
                                                                                   market.deployed])

    def _start_ms(self, market: Market) -> int:
        """The first candle the feed asks for: after the last one any session handled, else after the cache."""
        bar_ms = market.key.timeframe_ms
        handled = [d.session.last_ms for d in market.deployed if d.session.last_ms is not None]
        if handled:
            return min(handled) + bar_ms
        cached = market.cache.store.manifest(market.key)
        if cached is not None and cached.last_ms is not None:
            return int(cached.last_ms) + bar_ms
        return floor_ms(self.clock.now_ms(), market.key.timeframe)

    # -- trading ------------------------------------------------------------------------------------------------

    async def _trade(self, market: Market) -> None:
        feed = market.feed
        assert feed is not None
        while not self._done(market) and any(d.halted is None for d in market.deployed):
            try:
                arrival = await feed.next(self.stop)
            except FeedStopped:
                return
            except ccxt.BaseError as exc:
                log.error("feed.error", series=str(market.key), error=f"{type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(1.0)
                continue
            market.cache.add(arrival.candles, arrival.gaps[0][0] if arrival.gaps else arrival.candles[0].ts_ms)
            for candle, late in zip(arrival.candles, arrival.late_ms, strict=True):
                if self.config.until_ms is not None and candle.ts_ms >= self.config.until_ms:
                    market.finished = True
                if self.stop.is_set() or self._done(market):
                    break
                await self._candle(market, candle, feed.fresh(late))
            market.cache.flush(self.clock.now_ms())

    def _done(self, market: Market) -> bool:
        if self.config.candles is not None and market.handled >= self.config.candles:
            market.finished = True
        return market.finished

    async def _candle(self, market: Market, candle: Any, fresh: bool) -> None:
        """One closed candle to every session of its market, each with the runner's inputs."""
        gate = self.portfolio if self.config.limits.any else None
        for deployed in market.deployed:
            if deployed.halted is not None:
                continue
            session = deployed.session
            latch = deployed.kill.read()  # once: a `stop --flatten` between two reads would split its two halves
            inputs = TickInputs(fresh, latch.reason if latch else None, gate, bool(latch and latch.flatten))
            try:
                await session.on_candle(candle, inputs)
            except Exception as exc:  # noqa: BLE001 - one deployment's failure halts it, never the others
                self._halt(deployed, f"{type(exc).__name__}: {exc}")
                continue
            tripped = self.portfolio.update(session.name, _holding(session, market.key))
            if tripped is not None:
                self._latch_all(tripped)
        market.handled += 1

    def _halt(self, deployed: Deployed, why: str) -> None:
        deployed.halted, self.halted = why, self.halted + 1
        session = deployed.session
        session.log.critical("runner.halted", reason=why, action="this deployment stopped trading; fix the cause "
                             "and start it again")
        try:
            session.journal.beat(session.name, session.heartbeat("halted", why))
        except Exception as exc:  # noqa: BLE001 - the journal may be what failed
            session.log.error("runner.heartbeat_failed", error=str(exc))

    def _latch_all(self, reason: str) -> None:
        log.critical("portfolio.halted", reason=reason, action="every deployment's kill switch latched")
        for market in self.markets.values():
            for deployed in market.deployed:
                deployed.kill.latch(reason)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_s)
            self._beat_all()

    def _beat_all(self) -> None:
        """Every trading deployment's heartbeat: running, now (also while its feed waits for a candle)."""
        for market in self.markets.values():
            for deployed in market.deployed:
                if deployed.halted is None:
                    deployed.session.journal.beat(deployed.session.name, deployed.session.heartbeat("running"))

    # -- shutdown -----------------------------------------------------------------------------------------------

    async def _close(self) -> None:
        """Every session journals its snapshot and state; the cache gets what the feeds brought."""
        for market in self.markets.values():
            market.cache.flush(self.clock.now_ms() if self.clock else int(time.time() * 1000), force=True)
            for deployed in market.deployed:
                if deployed.halted is None:
                    try:
                        await deployed.session.stop()
                    except Exception as exc:  # noqa: BLE001 - the others still stop cleanly
                        self._halt(deployed, f"while stopping: {type(exc).__name__}: {exc}")
        for client in [*self.clients.values(), *self.owned]:
            await client.close()
        for journal in self.journals:
            journal.close()


def session_plan(deployment: Deployment, key: SeriesKey, rules: MarketRules, snapshot_every: int = 100) -> SessionPlan:
    """What a deployment's session trades: its strategy (loaded as promoted), parameters, and the loop's
    configuration with the exchange's rules, the deployment's name as the scope of its client ids."""
    spec = deployment.spec
    ref = spec.strategy.ref
    strategy = load_strategy(spec.strategy.path if ref.endswith(".py") and spec.strategy.path else ref)
    config = LoopConfig(spec.costs.to_costs(), spec.realism.to_realism(), rules,
                        strategy.risk_rules(spec.risk.to_config()), deployment.name, key.timeframe_ms)
    record = {"label": deployment.label(), "exchange": key.exchange,
              "spec": spec.model_dump(mode="json", exclude_none=True)}
    return SessionPlan(deployment.name, strategy, strategy.params(spec.params), config, snapshot_every, record)


def paper_session(plan: SessionPlan, journal: Journal) -> Session:
    """A session trading on the simulated venue (paper), journaling to `journal`."""
    config = plan.config
    return Session(plan, PaperVenue(SimVenue(config.costs, config.realism, config.rules, config.bar_ms)), journal)


def _holding(session: Session, key: SeriesKey) -> Holding:
    """A session's books for the portfolio: its equity and its position's value at the last close."""
    loop, asset = session.loop, key.symbol.split("/")[0]
    if session.last_ms is None:
        return Holding(asset, loop.ledger.cash, 0.0)
    equity = session.marks.value(loop, session.t - 1, session.last_close)
    return Holding(asset, equity, abs(loop.ledger.qty) * session.last_close)


async def _calibrated(client: Any, speed: float) -> ExchangeClock:
    """The exchange's clock, read once through its server time."""
    clock = ExchangeClock(speed)
    started = time.monotonic()
    server_ms = await client.fetch_time()
    clock.calibrate(int(server_ms), time.monotonic() - started)
    return clock


async def _market(client: Any, symbol: str) -> dict[str, Any]:
    """The exchange's description of `symbol` as the cache's manifest keeps it (precision, limits, margin)."""
    markets = await client.load_markets()
    if symbol not in markets:
        raise DeploymentError(f"{client.id} has no market {symbol}")
    market = markets[symbol]
    return {"symbol": symbol, "type": market.get("type") or "spot", "precision": market.get("precision"),
            "limits": market.get("limits"), "margin": market.get("margin")}
