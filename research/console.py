"""The one rich console the command bodies print to: whole tables in logs and CI, the terminal's width in a TTY."""

from __future__ import annotations

import sys

from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 140)
