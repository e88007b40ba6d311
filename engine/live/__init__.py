"""The runner that trades a deployment, paper or live, with the loop replay drives (arrives with the
promotion and runner issue)."""

__all__: list[str] = []
