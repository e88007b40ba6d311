"""Every real candle file in ../shared/data imports with its names inferred, and verify reports exactly
the gaps and zero-volume candles its MANIFEST.json recorded."""

from __future__ import annotations

import json

import pytest

from engine.ohlcv import SeriesKey, Store
from engine.ohlcv.importer import import_files
from engine.ohlcv.inventory import inspect
from tests.conftest import SHARED_DATA

ENTRIES = json.loads((SHARED_DATA / "MANIFEST.json").read_text())["candles"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_real_file_imports_and_verifies_as_its_manifest_says(entry, tmp_path):
    store = Store(tmp_path)
    (imported,) = import_files(store, [SHARED_DATA / entry["file"]])
    stats = entry["stats"]
    assert imported.key == SeriesKey("binance", entry["symbol"], entry["tf"])
    health = inspect(store, imported.key, min_zero_volume_run=1)
    assert health.ok and health.manifest.rows == stats["rows"]
    assert len(health.report.gaps) == stats["gap_count"]
    assert health.report.missing_candles == stats["missing_candles"]
    zero = sum(i.count for i in health.report.warnings if i.kind == "zero_volume_run")
    assert zero == stats["zero_volume"]
