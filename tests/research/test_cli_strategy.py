"""`gauntlet strategy new | list` and `gauntlet --version`."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from research.cli import app


def gauntlet(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_new_strategy_passes_the_causality_check_as_written(tmp_path):
    made = gauntlet("strategy", "new", "my_trend", "--directory", str(tmp_path))
    assert made.exit_code == 0, made.output
    path = tmp_path / "my_trend.py"
    assert "my_trend needs window >= 2" in path.read_text()
    checked = gauntlet("check", "causality", str(path))
    assert checked.exit_code == 0, checked.output
    assert "ok my_trend Params(window=50)" in checked.output
    again = gauntlet("strategy", "new", "my_trend", "--directory", str(tmp_path))
    assert again.exit_code == 1 and "exists already" in again.output
    assert gauntlet("strategy", "new", "my-trend").exit_code == 1


def test_strategy_list_shows_every_builtin_with_its_defaults():
    listed = gauntlet("strategy", "list")
    assert listed.exit_code == 0, listed.output
    text = " ".join(listed.output.split())
    for defaults in ("fast=10, slow=50", "fast=12, slow=26", "window=14, lower=30.0, upper=70.0",
                     "entry_window=20, exit_window=10,", "window=50, atr_window=14,"):
        assert defaults in text


def test_version():
    result = gauntlet("--version")
    assert result.exit_code == 0 and result.output.strip() == f"gauntlet {version('gauntlet')}"
