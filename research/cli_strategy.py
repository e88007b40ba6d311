"""`gauntlet strategy new | list`: a commented template to start from, and the built-ins with their
parameters."""

from __future__ import annotations

import dataclasses
import keyword
import re
from pathlib import Path

from rich.table import Table

from research.console import console

_TEMPLATE = Path(__file__).resolve().parents[1] / "engine" / "strategy" / "builtins" / "_template.py"


def new_command(name: str, directory: Path) -> Path:
    """Write `<directory>/<name>.py` from the template; never overwrite a file."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"strategy name {name!r} must be a Python identifier, e.g. my_breakout")
    path = Path(directory) / f"{name}.py"
    if not Path(directory).is_dir():
        raise ValueError(f"--directory {directory} is not a folder")
    text = _TEMPLATE.read_text().replace("TEMPLATE_NAME", name)
    try:
        with path.open("x") as out:
            out.write(text)
    except FileExistsError:
        raise ValueError(f"{path} exists already; pick another name or remove it") from None
    console.print(f"wrote {path}\ncheck it:  gauntlet check causality {path}\nsweep it:  gauntlet sweep {path} "
                  "--symbol BTC/USDT", highlight=False)
    return path


def list_command() -> None:
    from engine.strategy.contract import BUILTINS, load_strategy

    table = Table("strategy", "parameters (defaults)", "grid", "warm-up", "about", title="built-in strategies",
                  title_justify="left")
    for name in BUILTINS:
        strategy = load_strategy(name)
        defaults = strategy.params()
        params = ", ".join(f"{f.name}={getattr(defaults, f.name)!r}" for f in dataclasses.fields(defaults))
        grid = ", ".join(f"{k}: {_values(v)}" for k, v in strategy.grid.items())
        about = re.split(r"\.\s", (strategy.module.__doc__ or "").strip())[0].replace("\n", " ")
        table.add_row(name, params, grid, str(defaults.warmup), about)
    console.print(table)


def _values(values: list) -> str:
    if len(values) > 4:
        return f"{values[0]}..{values[-1]} ({len(values)})"
    return ",".join(map(str, values))
