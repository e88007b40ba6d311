"""A session's start-up, before it trades: its books back from the journal, then (for a venue whose books are
not ours) reconciled with the venue.

Paper: the latest snapshot restores the loop and the simulated venue; each candle journaled after it is handled
again from the cache and must give back exactly its journaled events (the engine is deterministic, so a
difference means the journal, the cache or the code changed: the session halts). Running this twice changes
nothing: nothing is written while re-driving.

Live: the snapshot goes in with every candle, so it is the books as of the last candle journaled. First the
venue follows every journaled order that has not ended (`recover`) and brings those the books hold to its
truth (events folded into the loop, journaled, then a snapshot). Then it is asked about every order the books
hold open, this deployment's open orders, its trades since the oldest of them, and balances;
`recovery.reconcile` turns the answers into repair events or mismatches, on which the session halts with an
alert-level log (orders whose fate is still unknown are left out of the verdict and followed at every candle).
An intent journaled with no answer and unknown to the books belongs to the candle the crash interrupted:
handling that candle again sends the same client id, which the session asks the venue about (`adopt`) instead
of sending it twice. Running this twice changes nothing: the second finds nothing left to repair.
"""

from __future__ import annotations

import asyncio

import structlog

from engine.live.cache import LiveCache
from engine.live.recovery import Books, Reconciliation, RecoveryError, VenueView, reconcile, ticks_after
from engine.live.session import Session

__all__ = ["reconcile_session", "restore_session", "resume_session"]

log = structlog.get_logger("gauntlet.startup")
LAG_RECHECKS, LAG_RECHECK_S = 5, 1.0  # the exchange's database lag (Binance: well under a second), waited out


def restore_session(session: Session) -> int:
    """Load the latest snapshot into `session`; returns the seq it stands at (0: none, a fresh start)."""
    snapshot = session.journal.latest_snapshot(session.name)
    if snapshot is None:
        return 0
    session.restore(snapshot.state)
    session.seq = session.snapshot_seq = snapshot.seq
    return snapshot.seq


def first_needed_ms(session: Session, seq: int) -> int | None:
    """The open time of the first candle recovery re-drives (None: nothing to re-drive)."""
    ticks = ticks_after(session.journal.events_after(session.name, seq))
    return ticks[0].ts_ms if ticks else None


async def resume_session(session: Session, cache: LiveCache, seq: int) -> int:
    """Re-drive the candles journaled after the snapshot at `seq` (paper), after filling the window from the
    cache; returns how many. A live session may have none: its snapshot goes in with every candle."""
    ticks = ticks_after(session.journal.events_after(session.name, seq))
    if ticks and not session.venue.holds_books:
        raise RecoveryError(f"{session.name}: {len(ticks)} candle(s) journaled after the last snapshot of a live "
                            "venue's books; a live session snapshots with every candle")
    bar_ms = cache.key.timeframe_ms
    first = ticks[0].ts_ms if ticks else None
    end = first if first is not None else (session.last_ms + bar_ms if session.last_ms is not None else None)
    if end is not None:
        session.window.fill(cache.bars(end - 3 * session.plan.warmup * bar_ms, end))
    if not ticks:
        return 0
    candles = cache.candles(ticks[0].ts_ms, ticks[-1].ts_ms + bar_ms)
    for tick in ticks:
        candle = candles.get(tick.ts_ms)
        if candle is None:
            raise RecoveryError(f"{session.name}: the candle {tick.ts_ms} is journaled but not in the cache "
                                f"{cache.key}; fill it with `gauntlet data fetch` and start again")
        await session.redrive(tick, candle)
    session.log.info("startup.redriven", candles=len(ticks), last_ms=session.last_ms)
    return len(ticks)


async def reconcile_session(session: Session, ts_ms: int) -> Reconciliation:
    """Ask the venue and repair the books (see the module's docstring); raises `RecoveryError` on a mismatch."""
    loop, venue, journal = session.loop, session.venue, session.journal
    rows = journal.orders(session.name, open_only=True)
    recovered = await venue.recover(rows, journal.fills_since(session.name), {o.client_id for o in loop.open})
    if recovered:
        await session.take(recovered, ts_ms)
        session.log.warning("startup.recovered", events=[type(e).__name__ for e in recovered],
                            client_ids=sorted({getattr(e, "client_id", "") for e in recovered}))
    pending = venue.unresolved()  # sent, fate not yet known: followed at every candle, never called absent here
    unanswered = frozenset(r.client_id for r in rows if r.unanswered and r.client_id not in loop.by_id) | pending
    since = min((r.intent_ms for r in rows), default=ts_ms)
    held = [o for o in loop.open if o.client_id not in pending]
    for attempt in range(LAG_RECHECKS + 1):
        view = VenueView({o.client_id: await venue.order(o.client_id) for o in held}, await venue.open_orders(),
                         await venue.trades_since(since), await venue.balances())
        if not session.baseline and journal.last_seq(session.name) == 0:
            session.baseline = dict(view.balances)  # a first start: the account as the deployment found it
        books = Books(session.name, loop.base_asset, loop.quote_asset, held,
                      {o.client_id: o.filled_qty for o in loop.orders}, loop.ledger.qty,
                      loop.ledger.cash - session.plan.config.costs.init_cash, session.baseline, unanswered)
        result = reconcile(books, view, ts_ms)
        if result.ok or not unanswered or attempt == LAG_RECHECKS:
            break
        # an order sent just before the crash may show in the balances before its trades show in queries
        session.log.info("startup.recheck", mismatches=len(result.mismatches), unanswered=sorted(unanswered))
        await asyncio.sleep(LAG_RECHECK_S)
    if result.repairs:
        await session.take(list(result.repairs), ts_ms)
        session.log.warning("startup.repaired", events=[type(e).__name__ for e in result.repairs],
                            client_ids=sorted({getattr(e, "client_id", "") for e in result.repairs}))
    if not result.ok:
        detail = "; ".join(f"{m.client_id or 'balances'}: {m.detail}" for m in result.mismatches)
        session.log.critical("startup.mismatch", mismatches=detail, action="halted: fix the account or the "
                             "journal, then start again")
        journal.beat(session.name, session.heartbeat("halted", f"reconciliation: {detail}"))
        raise RecoveryError(f"{session.name}: the venue and the journal disagree: {detail}")
    return result
