"""The layering of DESIGN.md, enforced: engine never imports research, vectorbt or the notebook stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


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
