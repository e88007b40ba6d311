"""The runner that trades a deployment, paper or live, with the loop replay drives: the deployment file
`gauntlet promote` writes (`deployment`), the gates' thresholds and outcomes it records (`gates`), API keys and
their restrictions (`credentials`), the journal the runner keeps (`journal`: SQLite through SQLAlchemy Core,
Alembic migrations), what a deployment's journal says about it (`history`), and the runner itself, whose
modules are imported by name (`runner`, `session`, `feed`, `status`, ...: asyncio and ccxt's async client load
only where a runner runs). engine/live/README.md maps them."""

from engine.live.credentials import ApiRestrictions, Keys, find_keys, key_names, read_api_restrictions
from engine.live.deployment import (DataDigest, Deployment, DeploymentError, Overrides, Venue, default_name,
                                    deployment_file, deployment_versions, load_deployment, read_deployment,
                                    save_deployment)
from engine.live.gates import GateResult, GateThresholds
from engine.live.history import (NEVER_RUN, DeploymentState, PaperEvidence, deployment_state, journal_path,
                                 read_paper_evidence)
from engine.live.journal import (Appended, Entry, EquityMark, FillRecord, Heartbeat, IntentConflict, Journal,
                                 JournalError, OrderRecord, SecretRefused, Snapshot, UnknownOrder)

__all__ = ["NEVER_RUN", "ApiRestrictions", "Appended", "DataDigest", "Deployment", "DeploymentError",
           "DeploymentState", "Entry", "EquityMark", "FillRecord", "GateResult", "GateThresholds", "Heartbeat",
           "IntentConflict", "Journal", "JournalError", "Keys", "OrderRecord", "Overrides", "PaperEvidence",
           "SecretRefused", "Snapshot", "UnknownOrder", "Venue", "default_name", "deployment_file",
           "deployment_state", "deployment_versions", "find_keys", "journal_path", "key_names", "load_deployment",
           "read_api_restrictions", "read_deployment", "read_paper_evidence", "save_deployment"]
