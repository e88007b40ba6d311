"""Error messages in the words the user typed: the library names things as Python does (`n_folds`,
`costs.fee_rate`), the command line as flags (`--folds`, `--fee-rate`). `in_flags` rewrites a message for the
command that is running, so an error says which flag to change.
"""

from __future__ import annotations

import re
from typing import Any

# Library names whose flag is not the name with dashes: the split plan's `n_folds` is walkforward's --folds, a
# replay spec's fields are replay's options.
ALIASES = {"n_folds": "--folds", "risk.sizing.method": "--sizing", "risk.enabled": "--risk-rules",
           "mode='anchored'": "--mode anchored", "mode='rolling'": "--mode rolling"}
_NAME = re.compile(r"\b(?:mode='\w+'|[a-z][a-z0-9]*(?:[._][a-z0-9]+)+)(?![\w./-])")
_BARE = re.compile(r"(?<![\w-])(purge|embargo|mode|folds|objective|engine|sizing)(?=\s+must\b|=)")


def command_flags(command: Any) -> dict[str, str]:
    """Python name -> the option's first long flag, for every option of a click (or typer) command."""
    flags: dict[str, str] = {}
    for param in getattr(command, "params", []):
        long = [opt for opt in param.opts if opt.startswith("--")]
        if param.param_type_name == "option" and param.name and long:
            flags[param.name] = long[0]
    return flags


def in_flags(message: str, flags: dict[str, str]) -> str:
    """`message` with each library name the running command has a flag for replaced by that flag."""
    if not flags:
        return message

    def named(match: re.Match) -> str:
        word = match.group(0)
        if word in ALIASES and ALIASES[word].split()[0] in flags.values():
            return ALIASES[word]
        leaf = word.rsplit(".", 1)[-1]
        return flags.get(word) or (flags.get(leaf) if "." in word else None) or word

    message = _NAME.sub(named, message)
    return _BARE.sub(lambda m: flags.get(m.group(1), m.group(1)), message)
