"""Vectorized studies built on `engine`, and the CLI root (`research.cli`)."""
