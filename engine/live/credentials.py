"""API keys: where they come from and what the exchange lets them do.

Keys live only in the environment or in a `.env` file (read by pydantic-settings, the one reader of the
environment), under names an account label picks: `GAUNTLET_API_KEY` / `GAUNTLET_API_SECRET` for the
`default` account, `GAUNTLET_<ACCOUNT>_API_KEY` / `..._API_SECRET` for another. A deployment records the label,
never the key. What a key may do is the exchange's word, read through ccxt (Binance:
`GET /sapi/v1/account/apiRestrictions`); the function takes the ccxt client, so a test hands it a fake or a
client pointed at the loopback emulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ApiRestrictions", "Keys", "find_keys", "key_names", "read_api_restrictions"]


def key_names(account: str) -> tuple[str, str]:
    """The environment variables of an account's key and secret."""
    prefix = "GAUNTLET_" if account == "default" else f"GAUNTLET_{account.upper()}_"
    return f"{prefix}API_KEY", f"{prefix}API_SECRET"


class _KeySettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None


@dataclass(frozen=True)
class Keys:
    """An account's key pair and where it was found; the values print as `**********`."""

    account: str
    api_key: SecretStr
    secret: SecretStr
    source: Literal["environment", ".env"]

    def ccxt_config(self) -> dict[str, str]:
        """What `engine.venues.ccxt_client.make_exchange(credentials=...)` takes."""
        return {"apiKey": self.api_key.get_secret_value(), "secret": self.secret.get_secret_value()}


def find_keys(account: str, env_file: Path | None) -> Keys | None:
    """The account's keys from the environment, else from `env_file` (a `.env`); None when neither has both."""
    prefix = key_names(account)[0].removesuffix("API_KEY")
    from_env = _KeySettings(_env_prefix=prefix, _env_file=None)
    if from_env.api_key is not None and from_env.api_secret is not None:
        return Keys(account, from_env.api_key, from_env.api_secret, "environment")
    if env_file is None or not Path(env_file).is_file():
        return None
    merged = _KeySettings(_env_prefix=prefix, _env_file=Path(env_file))
    if merged.api_key is not None and merged.api_secret is not None:
        return Keys(account, merged.api_key, merged.api_secret, ".env")
    return None


@dataclass(frozen=True, slots=True)
class ApiRestrictions:
    """What the exchange says a key may do, as far as going live cares."""

    withdrawals_enabled: bool
    ip_restricted: bool


def read_api_restrictions(exchange: Any) -> ApiRestrictions:
    """The key's restrictions from the exchange (ccxt's Binance `sapi_get_account_apirestrictions`); a
    LookupError when the exchange cannot say."""
    ask = getattr(exchange, "sapi_get_account_apirestrictions", None)
    if ask is None:
        raise LookupError(f"{getattr(exchange, 'id', exchange)!s} does not report a key's restrictions through ccxt "
                          "(Binance's apiRestrictions); check the key on the exchange's site")
    raw = ask()
    return ApiRestrictions(withdrawals_enabled=_flag(raw, "enableWithdrawals"), ip_restricted=_flag(raw, "ipRestrict"))


def _flag(raw: Any, field: str) -> bool:
    value = raw.get(field) if isinstance(raw, dict) else None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise LookupError(f"the exchange's apiRestrictions answer has no true/false {field} (got {value!r})")
