"""A deployment: what `gauntlet promote` writes and `gauntlet run` trades — the complete spec of the candidate
(`engine.spec.RunSpec`), the venue, the gates it passed with their figures and thresholds, the runs behind
them, the digest of the data they measured, the git commit and gauntlet version, a version number and the
time it was made. Never a key or a secret: the venue names an account label, and the keys stay in the
environment.

Files (`deployments/README.md` shows one): version 1 of `NAME` is `deployments/NAME.toml`, version N is
`deployments/NAME.vN.toml`. A change is a new version, never an edit: `save_deployment` creates the next
file atomically (temp file, fsync, hard link to the name, which fails rather than replace a file), so an
earlier version stays byte-identical and two promotions racing for one version cannot both win it.
`load_deployment` is how the runner reads one: validated, and refused when the strategy's source no longer
matches the hash recorded at promotion.
"""

from __future__ import annotations

import os
import re
import tomllib
import uuid
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.live.gates import GateResult, GateThresholds
from engine.ohlcv.files import FileOps
from engine.ohlcv.layout import symbol_to_disk
from engine.spec import RunSpec, describe, dump_toml, source_sha256

__all__ = ["DataDigest", "Deployment", "DeploymentError", "Overrides", "Venue", "default_name", "deployment_file",
           "deployment_versions", "load_deployment", "read_deployment", "save_deployment"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
_FILE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_-]{0,99})(?:\.v(?P<version>[2-9]|[1-9][0-9]+))?\.toml$")
_HEADER = ("# Written by `gauntlet promote`. Never edit it: promote again to make the next version.\n"
           "# The format: deployments/README.md.\n\n")


class DeploymentError(ValueError):
    """A deployment file that cannot be used as it is; the message names the file and what to do."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Venue(_Frozen):
    """Where it trades: `paper` (the simulated venue on live candles) or `live` (the exchange, through ccxt).
    `account` is a label that names the environment variables holding the keys, never a key."""

    kind: Literal["paper", "live"]
    exchange: str = Field(min_length=1)
    account: str = Field("default", pattern=r"^[A-Za-z0-9_]+$")


class DataDigest(_Frozen):
    """The fingerprint of the candles the gates measured (`engine.ohlcv.store.fingerprint_of`)."""

    series: str
    start_ms: int | None = None
    end_ms: int | None = None
    rows: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Overrides(_Frozen):
    """The flags that let a failed gate through, recorded: `--force` (paper only), `--allow-unrestricted-ip`."""

    force: bool = False
    allow_unrestricted_ip: bool = False


class Deployment(_Frozen):
    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1)
    created: str  # UTC, ISO-8601
    venue: Venue
    spec: RunSpec  # market.start/end: the window the gates measured; live trading ignores it
    thresholds: GateThresholds
    gates: list[GateResult]
    runs: list[str]  # the run ids behind the gates
    data: DataDigest
    paper: str | None = None  # live: the paper deployment ("NAME vN") whose track record the gates read
    overrides: Overrides = Overrides()
    git_commit: str | None = None
    gauntlet_version: str | None = None

    @field_validator("created")
    @classmethod
    def _a_time(cls, value: str) -> str:
        datetime.fromisoformat(value)  # raises naming the text
        return value

    def to_toml(self) -> str:
        return _HEADER + dump_toml(self.model_dump(exclude_none=True))

    def label(self) -> str:
        return f"{self.name} v{self.version}"


def default_name(spec: RunSpec) -> str:
    """`<strategy>-<symbol>-<timeframe>` in a file-safe form: `sma_cross-BTC-USDT-1h`."""
    text = f"{spec.strategy.name}-{symbol_to_disk(spec.market.symbol)}-{spec.market.timeframe}"
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:100]


def check_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"deployment name {name!r}: use letters, digits, '_' and '-' (at most 100, no dots or "
                         "slashes), e.g. sma_cross-BTC-USDT-1h")
    return name


def deployment_file(root: Path, name: str, version: int) -> Path:
    return Path(root) / (f"{check_name(name)}.toml" if version == 1 else f"{check_name(name)}.v{version}.toml")


def deployment_versions(root: Path) -> dict[str, list[tuple[int, Path]]]:
    """Every deployment file under `root`: name -> [(version, path)], oldest version first."""
    found: dict[str, list[tuple[int, Path]]] = {}
    for path in sorted(Path(root).glob("*.toml")) if Path(root).is_dir() else []:
        match = _FILE.fullmatch(path.name)
        if match:
            found.setdefault(match["name"], []).append((int(match["version"] or 1), path))
    return {name: sorted(items) for name, items in sorted(found.items())}


def save_deployment(root: Path, draft: Deployment) -> tuple[Deployment, Path]:
    """Write `draft` as the next version of its name (its own `version` is replaced) and return it with its file."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(100):  # another promotion may take a version between our look and our write
        taken = [v for v, _ in deployment_versions(root).get(draft.name, [])]
        deployment = draft.model_copy(update={"version": max(taken, default=0) + 1})
        path = deployment_file(root, deployment.name, deployment.version)
        try:
            _create(path, deployment.to_toml())
        except FileExistsError:
            continue
        return deployment, path
    raise RuntimeError(f"{root}: could not claim a new version of {draft.name}; try again")


def _create(path: Path, text: str) -> None:
    """A new file, whole or absent after a crash, never over an existing one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # FileExistsError when the version is taken: nothing is replaced
    finally:
        tmp.unlink(missing_ok=True)
    FileOps.sync_dir(path.parent)


def read_deployment(path: Path) -> Deployment:
    """A deployment file, validated, whose name and version agree with its file name."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DeploymentError(f"{path}: cannot read the deployment: {exc}") from None
    try:
        deployment = Deployment.model_validate(data)
    except ValidationError as exc:
        raise DeploymentError(f"{path}: invalid deployment: {describe(exc)}") from None
    if path.name != deployment_file(path.parent, deployment.name, deployment.version).name:
        raise DeploymentError(f"{path}: holds {deployment.label()}, which belongs in "
                              f"{deployment_file(path.parent, deployment.name, deployment.version).name}; "
                              "deployment files are never renamed or copied, promote again instead")
    return deployment


def load_deployment(path: Path) -> Deployment:
    """What the runner trades: `read_deployment`, refused when the strategy's source changed since promotion."""
    deployment = read_deployment(path)
    strategy = deployment.spec.strategy
    if strategy.path is None or strategy.sha256 is None:
        raise DeploymentError(f"{path}: records no strategy source and hash, so what would run cannot be checked; "
                              "promote a run that recorded them")
    try:
        now = source_sha256(strategy.path)
    except OSError as exc:
        raise DeploymentError(f"{path}: the strategy source {strategy.path} cannot be read ({exc}); restore it "
                              "or promote again") from None
    if now != strategy.sha256:
        raise DeploymentError(f"{path}: the strategy source {strategy.path} changed since {deployment.label()} "
                              f"was promoted: sha256 {strategy.sha256} recorded, {now} now; restore the file, or "
                              "run the study again and promote its run (a new version)")
    return deployment
