"""Environment configuration, read once at the edge (CLI, notebook entry points) by pydantic-settings.

`GAUNTLET_DATA_DIR` moves `data/`, `GAUNTLET_REPORTS_DIR` moves `reports/` and `GAUNTLET_DEPLOYMENTS_DIR`
moves `deployments/`; all default to the folders beside the checkout, so a notebook started from
`notebooks/` finds the same cache as the CLI. `GAUNTLET_EMULATOR_API_KEY` / `GAUNTLET_EMULATOR_API_SECRET`
give `gauntlet emulator serve` its key without putting the secret on a command line (the secret is a
`SecretStr`: it never prints).
Values may also come from a `.env` file in the working directory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_CHECKOUT = Path(__file__).resolve().parents[1]


def _beside_checkout(name: str) -> Path:
    base = _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() else Path.cwd()
    return base / name


class Settings(BaseSettings):
    """Where gauntlet keeps its files, and the emulator's API key."""

    model_config = SettingsConfigDict(env_prefix="GAUNTLET_", env_file=".env", extra="ignore")

    data_dir: Path = _beside_checkout("data")
    reports_dir: Path = _beside_checkout("reports")
    deployments_dir: Path = _beside_checkout("deployments")
    emulator_api_key: str | None = None
    emulator_api_secret: SecretStr | None = None


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
