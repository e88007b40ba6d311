"""The research stack loads where it is used: `gauntlet replay` without --parity never imports vectorbt
(seconds of start-up), a sweep on the local executor never imports dask, and `gauntlet --help` imports none
of the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("vectorbt", "quantstats", "plotly", "matplotlib", "papermill", "nbformat", "scipy", "dask", "distributed")
_PROBE = """
import json, sys
from research.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"exit": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def _gauntlet_in_process(*args: str) -> dict:
    """Run the CLI in a fresh interpreter and report the heavy modules it loaded."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_replay_without_parity_does_not_import_vectorbt(env_cache):
    market = ["--exchange", "binance", "--symbol", "BTC/USDT", "--end", "2024-03-01"]
    plain = _gauntlet_in_process("replay", "sma_cross", "--param", "fast=10", "--param", "slow=30", *market)
    assert plain["exit"] == 0 and "vectorbt" not in plain["loaded"]
    assert "quantstats" in plain["loaded"]  # the tearsheet is written, so its library is used
    parity = _gauntlet_in_process("replay", "sma_cross", "--param", "fast=10", "--param", "slow=30", *market,
                                  "--parity")
    assert parity["exit"] == 0 and "vectorbt" in parity["loaded"]


def test_a_sweep_on_the_local_executor_does_not_import_dask(env_cache):
    grid = ["--param", "fast=5:20:5", "--param", "slow=30:90:30"]
    done = _gauntlet_in_process("sweep", "sma_cross", "--symbol", "BTC/USDT", *grid, "--executor", "local")
    assert done["exit"] == 0 and "vectorbt" in done["loaded"]  # the sweep ran, confirming its top with vectorbt
    assert "dask" not in done["loaded"] and "distributed" not in done["loaded"]


def test_help_imports_no_research_stack():
    assert _gauntlet_in_process("--help") == {"exit": 0, "loaded": []}

