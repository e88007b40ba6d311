"""The health of cached series: what `data list`, `data verify` and the demo report."""

from __future__ import annotations

from dataclasses import dataclass

from engine.ohlcv import quality
from engine.ohlcv.quality import fmt_ts
from engine.ohlcv.layout import SYNTHETIC_EXCHANGE, SeriesKey
from engine.ohlcv.manifest import Manifest
from engine.ohlcv.store import DamagedCacheError, Store, repair_command


@dataclass(frozen=True, slots=True)
class SeriesHealth:
    key: SeriesKey
    manifest: Manifest
    report: quality.QualityReport
    file_problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.file_problems

    @property
    def source(self) -> str:
        """Where the newest rows came from, in a few words."""
        if not self.manifest.sources:
            return "?"
        last = self.manifest.sources[-1]
        if last.get("kind") == "ccxt":
            host = str(last.get("api_url", "")).split("://")[-1].split("/")[0]
            return f"ccxt {last.get('exchange')} @ {host}, {fmt_ts(self.manifest.obtained_ms)}"
        return f"{last.get('kind')} {last.get('file', '')}".strip()

    @property
    def synthetic(self) -> bool:
        return self.key.exchange == SYNTHETIC_EXCHANGE


def inspect(store: Store, key: SeriesKey, *, min_zero_volume_run: int = quality.DEFAULT_MIN_ZERO_VOLUME_RUN) -> SeriesHealth:
    """Read a whole series unchecked and run every check on it (files and candles); a series whose
    manifest is lost or unreadable is reported, never skipped."""
    try:
        manifest = store.require(key)
    except DamagedCacheError as exc:
        empty = Manifest(key.exchange, key.symbol, key.timeframe)
        return SeriesHealth(key, empty, quality.QualityReport(rows=0), (str(exc),))
    problems = tuple(store.verify_files(key))
    if problems:
        hint = f"recover with `{repair_command(key)}`"
        return SeriesHealth(key, manifest, quality.QualityReport(rows=manifest.rows), (*problems, hint))
    loaded = store.read(key)
    report = quality.check(loaded.frame, key.timeframe, now_ms=manifest.obtained_ms, min_zero_volume_run=min_zero_volume_run)
    return SeriesHealth(key, manifest, report, problems)


def select(store: Store, exchange: str | None = None, symbol: str | None = None, timeframe: str | None = None) -> list[SeriesKey]:
    keys = [k for k in store.series()
            if (exchange is None or k.exchange == exchange) and (symbol is None or k.symbol == symbol)
            and (timeframe is None or k.timeframe == timeframe)]
    if not keys:
        wanted = " ".join(x for x in (exchange, symbol, timeframe) if x) or "anything"
        raise LookupError(f"no cached series match {wanted} under {store.root / 'ohlcv'}")
    return keys
