"""Bringing a damaged series back to a state the store can trust, losing nothing on the way.

Two cases. With a readable manifest, every partition it names is checked (present, size, sha256,
readable, rows inside its month, rows and range as recorded); a damaged one is moved into the series'
`quarantine/` folder (never deleted), its month leaves the manifest, and its range leaves the record of
what the source already answered, so the next fetch asks for it again. Without a usable manifest, one is
rebuilt from the partition files themselves: their names carry the first 12 hex digits of their sha256,
so a file is trusted only if its bytes still hash to its name and pass the same checks. Where two intact
files claim one month (a write interrupted before its manifest swap leaves its new file beside the old),
the one with more rows is kept, the newer on a tie, and the other is quarantined.

What is lost is returned as months and ranges: `data repair` re-fetches them for a series that came from
an exchange, and names the imported files to import again otherwise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.ohlcv import quality
from engine.ohlcv.layout import SeriesKey
from engine.ohlcv.manifest import Manifest, Partition, subtract_interval
from engine.ohlcv.schema import from_tables, ts_ms_of
from engine.ohlcv.store import PARTITION_NAME, DamagedCacheError, Store, partition_problem

__all__ = ["QUARANTINE", "Healed", "heal"]

QUARANTINE = "quarantine"


@dataclass(slots=True)
class Healed:
    """What a heal found and did: problems in words, files moved aside, month spans no longer cached."""

    key: SeriesKey
    rebuilt: bool = False  # the manifest was rebuilt from the partition files
    problems: list[str] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)
    lost: list[tuple[int, int]] = field(default_factory=list)  # [start, end) open-time spans dropped
    manifest: Manifest | None = None

    @property
    def changed(self) -> bool:
        return self.rebuilt or bool(self.problems)


def heal(store: Store, key: SeriesKey, *, now_ms: int, rebuild: bool = True,
         span: tuple[int | None, int | None] = (None, None)) -> Healed:
    """Check the series and commit a manifest that is true of intact files only; a no-op when healthy.

    `span` limits the check of an existing manifest to the months overlapping [start, end) (a fetch
    heals what it is about to extend); `rebuild=False` leaves a lost manifest an error (the fetch
    leaves that decision to `data repair`).
    """
    healed = Healed(key)
    if not key.folder(store.root).is_dir():
        return healed
    with store.locked(key):
        try:
            manifest = store.manifest(key)
        except DamagedCacheError as exc:
            if not rebuild:
                raise
            healed.problems.append(str(exc).split("\n")[0])
            healed.rebuilt = True
            manifest = _rebuilt(store, key, healed, now_ms)
        else:
            if manifest is None:
                return healed
            manifest = _checked(store, key, manifest, healed, span)
        healed.manifest = manifest
        if healed.changed:
            store.swap_manifest(key, manifest)
    return healed


def _checked(store: Store, key: SeriesKey, manifest: Manifest, healed: Healed,
             span: tuple[int | None, int | None]) -> Manifest:
    damaged = store.damaged_partitions(key, manifest, *span)
    if not damaged:
        return manifest
    partitions, fetched = dict(manifest.partitions), manifest.fetched
    for month, problem in damaged:
        healed.problems.append(problem)
        part = partitions.pop(month)
        _quarantine(key.folder(store.root) / part.file, healed)
        span = (part.first_ms, part.last_ms + key.timeframe_ms)  # what the file held, as its manifest entry says
        healed.lost.append(span)
        fetched = subtract_interval(fetched, span)
    return replace(manifest.noting(_repair_source(healed)), partitions=partitions, fetched=fetched, retired=())


def _rebuilt(store: Store, key: SeriesKey, healed: Healed, now_ms: int) -> Manifest:
    """A manifest from the partition files alone: only files whose bytes match their name and checks."""
    folder, candidates, damaged_months = key.folder(store.root), {}, set()
    for path in store.partition_files(folder):
        month = PARTITION_NAME.fullmatch(path.name).group("month")
        part, problem = _intact(path, month, key, now_ms)
        if part is None:
            healed.problems.append(f"{path}: {problem}")
            _quarantine(path, healed)
            damaged_months.add(month)
            continue
        candidates.setdefault(month, []).append((part.rows, path.stat().st_mtime_ns, path, part))
    partitions = {}
    for month, files in sorted(candidates.items()):
        files.sort(key=lambda f: f[:2], reverse=True)  # the most rows, then the newest
        for _, _, path, _ in files[1:]:
            healed.problems.append(f"{path}: a second intact file for {month} with fewer rows (or older)")
            _quarantine(path, healed)
        partitions[month] = files[0][3]
    healed.lost += [_month_span(month) for month in sorted(damaged_months - partitions.keys())]
    base = Manifest(key.exchange, key.symbol, key.timeframe, market_type=key.market_type)
    last = max((p.last_ms for p in partitions.values()), default=0)
    # every row was a closed candle when written (the store refuses others): obtained no earlier than the last close
    return replace(base.noting(_repair_source(healed)), partitions=partitions, obtained_ms=last + key.timeframe_ms)


def _intact(path: Path, month: str, key: SeriesKey, now_ms: int) -> tuple[Partition | None, str | None]:
    """A partition file's manifest entry if its bytes still hash to its name, hold our schema for its month
    and pass the checks; else what is wrong with it."""
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if sha[:12] != PARTITION_NAME.fullmatch(path.name).group("digest"):
        return None, "changed since it was written (its sha256 no longer matches its name)"
    if (problem := partition_problem(data, month)) is not None:
        return None, problem
    frame = from_tables([pq.ParquetFile(pa.BufferReader(data)).read()])
    report = quality.check(frame, key.timeframe, now_ms=now_ms)
    if not report.ok:
        return None, "; ".join(issue.describe() for issue in report.errors)
    ts = ts_ms_of(frame)
    return Partition(file=path.name, rows=len(ts), first_ms=int(ts[0]), last_ms=int(ts[-1]), sha256=sha,
                     size=len(data)), None


def _quarantine(path: Path, healed: Healed) -> None:
    """Move a file we cannot use out of the series, keeping it for the user to inspect."""
    if not path.is_file():
        return
    target_dir = path.parent / QUARANTINE
    target_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = target_dir / f"{path.name}.{stamp}"
    path.replace(target)
    healed.quarantined.append(target)


def _month_span(month: str) -> tuple[int, int]:
    """[first, next) month start of `YYYY-MM`, in epoch ms."""
    start = np.datetime64(month, "M")
    first, after = (np.array([start, start + 1]).astype("datetime64[ms]").astype(np.int64)).tolist()
    return first, after


def _repair_source(healed: Healed) -> dict:
    return {"kind": "repair", "rebuilt": healed.rebuilt, "problems": len(healed.problems),
            "quarantined": [p.name for p in healed.quarantined]}

