"""The layering of DESIGN.md, enforced: engine never imports research, vectorbt or the notebook stack, and the
engine's layers (core, ohlcv, strategy, sim | venues, spec, replay, live) import downwards only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout  # the forbidden imports and the layers


def test_cli_root_imports_no_heavy_layer() -> None:
    """`gauntlet --help` must stay fast: the CLI root may not pull in pandas, ccxt, vectorbt or engine."""
    code = ("import sys, research.cli; heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pandas', 'numpy', 'ccxt', 'vectorbt', 'engine', 'pyarrow', 'numba'}); print(','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_help_lists_the_command_groups() -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "gauntlet"), "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for word in ("data", "emulator", "demo"):
        assert word in done.stdout


def test_engine_core_imports_nothing_else_from_engine() -> None:
    """DESIGN.md: `engine.core` is the bottom of the engine (pure state), so it reaches nothing above it. A
    graph check rather than a list of forbidden modules, so a new engine module cannot slip past it."""
    import grimp

    graph = grimp.build_graph("engine")
    core = {"engine.core", *graph.find_descendants("engine.core")}
    reaching_out = sorted((module, imported) for module in core for imported in graph.find_modules_directly_imported_by(module)
                          if imported not in core)
    assert reaching_out == []
