"""The runner that trades a deployment, paper or live, with the loop replay drives (the runner arrives with
its issue). Here so far: the deployment file `gauntlet promote` writes (`deployment`), the gates' thresholds
and outcomes it records (`gates`), API keys and their restrictions (`credentials`), and what a deployment's
journal says about it (`history`, "never run" until the runner keeps journals)."""

from engine.live.credentials import ApiRestrictions, Keys, find_keys, key_names, read_api_restrictions
from engine.live.deployment import (DataDigest, Deployment, DeploymentError, Overrides, Venue, default_name,
                                    deployment_file, deployment_versions, load_deployment, read_deployment,
                                    save_deployment)
from engine.live.gates import GateResult, GateThresholds
from engine.live.history import (NEVER_RUN, DeploymentState, PaperEvidence, deployment_state, journal_path,
                                 read_paper_evidence)

__all__ = ["NEVER_RUN", "ApiRestrictions", "DataDigest", "Deployment", "DeploymentError", "DeploymentState",
           "GateResult", "GateThresholds", "Keys", "Overrides", "PaperEvidence", "Venue", "default_name",
           "deployment_file", "deployment_state", "deployment_versions", "find_keys", "journal_path", "key_names",
           "load_deployment", "read_api_restrictions", "read_deployment", "read_paper_evidence", "save_deployment"]
