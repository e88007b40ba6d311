"""The per-series manifest: which file holds each month, what the series covers, where it came from.

The manifest is the commit point of every write: readers trust only the partition files it names, and it
is replaced atomically, so it is always true of the files on disk. It also names the files a write
retired (`retired`) and the files a write named before writing them (`pending`, for a write that died
halfway): those, and the writer's own temp files, are the only files the cache ever deletes.
Format 1 (before sizes and retired files) is still read; the next write upgrades it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

FORMAT = 2
_READABLE_FORMATS = (1, 2)
_MAX_SOURCES = 20


@dataclass(frozen=True, slots=True)
class Partition:
    file: str
    rows: int
    first_ms: int
    last_ms: int
    sha256: str
    size: int | None = None  # bytes on disk; None in format-1 manifests (then only the hash is checked)


@dataclass(frozen=True, slots=True)
class Manifest:
    exchange: str
    symbol: str
    timeframe: str
    partitions: dict[str, Partition] = field(default_factory=dict)  # "YYYY-MM" -> file
    fetched: tuple[tuple[int, int], ...] = ()  # [start, end) open-time ranges the source has answered
    sources: tuple[dict, ...] = ()
    obtained_ms: int = 0  # when the newest rows were obtained: a candle closing later was still open
    updated_at: str = ""
    retired: tuple[str, ...] = ()  # partition files this manifest replaced: safe to delete once it is on disk
    pending: tuple[str, ...] = ()  # partition files a write is about to add: a crash leaves them ours to delete
    market_type: str = "spot"  # spot, swap, future or option (ccxt's market type)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions.values())

    @property
    def ccxt_source(self) -> dict | None:
        """The newest source that was an exchange through ccxt (its `exchange` is the ccxt id, which the series'
        folder need not be: the synthetic market is served by the emulator as Binance), or None."""
        return next((s for s in reversed(self.sources) if s.get("kind") == "ccxt"), None)

    @property
    def first_ms(self) -> int | None:
        return min((p.first_ms for p in self.partitions.values()), default=None)

    @property
    def last_ms(self) -> int | None:
        return max((p.last_ms for p in self.partitions.values()), default=None)

    def updated(self, partitions: dict[str, Partition], source: dict, fetched: tuple[int, int] | None,
                obtained_ms: int) -> Manifest:
        spans = add_interval(self.fetched, fetched) if fetched else self.fetched
        kept = {p.file for p in partitions.values()}
        retired = tuple(sorted({p.file for p in self.partitions.values()} - kept))
        return replace(self.noting(source), partitions=dict(sorted(partitions.items())), fetched=spans,
                       obtained_ms=max(self.obtained_ms, obtained_ms), retired=retired)

    def noting(self, source: dict) -> Manifest:
        """This manifest with `source` as its newest source (the last few are kept) and a fresh `updated_at`."""
        return replace(self, sources=(*self.sources, source)[-_MAX_SOURCES:],
                       updated_at=datetime.now(UTC).isoformat(timespec="seconds"))

    def to_json(self) -> str:
        body = asdict(self)
        body["coverage"] = {"first_ms": self.first_ms, "last_ms": self.last_ms, "rows": self.rows}
        return json.dumps({"format": FORMAT, **body}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Manifest:
        try:
            body = json.loads(text)
            if body.pop("format") not in _READABLE_FORMATS:
                raise ValueError("unsupported manifest format")
            body.pop("coverage", None)
            body["partitions"] = {k: Partition(**v) for k, v in body["partitions"].items()}
            body["fetched"] = tuple(tuple(span) for span in body["fetched"])
            body["sources"] = tuple(body["sources"])
            body["retired"] = tuple(body.get("retired", ()))
            body["pending"] = tuple(body.get("pending", ()))
            return cls(**body)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{source}: unreadable manifest ({exc})") from exc


def add_interval(spans: tuple[tuple[int, int], ...], new: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """Union of half-open intervals, kept sorted and merged (touching intervals join)."""
    merged: list[list[int]] = []
    for start, end in sorted([*spans, new]):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


def missing_intervals(start: int, end: int, spans: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """Parts of [start, end) that no interval in `spans` covers."""
    missing, cursor = [], start
    for s, e in spans:
        if e <= cursor or s >= end:
            continue
        if s > cursor:
            missing.append((cursor, s))
        cursor = max(cursor, e)
    if cursor < end:
        missing.append((cursor, end))
    return missing


def subtract_interval(spans: tuple[tuple[int, int], ...], cut: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """`spans` without the half-open interval `cut` (what a source must be asked for again)."""
    kept: list[tuple[int, int]] = []
    for start, end in spans:
        kept += [(s, e) for s, e in ((start, min(end, cut[0])), (max(start, cut[1]), end)) if s < e]
    return tuple(kept)
