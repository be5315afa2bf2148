"""Errors of the Spark engine."""

from __future__ import annotations

from hindsight.errors import QueryError


class Unsupported(QueryError):
    """A feature the engine cannot run: the message names the feature and the engine."""

    def __init__(self, feature: str, engine: str = "spark", hint: str = "") -> None:
        super().__init__(
            f"{feature} is not supported on the {engine} engine" + (f": {hint}" if hint else "")
        )
        self.feature = feature
        self.engine = engine
