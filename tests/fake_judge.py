"""A judge of known preferences for the tests: answers ``P(A is better)`` from a rule on
(instruction, output A, output B) and records every query it was asked."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from xlrm.judges.base import Judge
from xlrm.judges.config import JudgeConfig


class FakeJudge(Judge):
    """``rule(instruction, a, b) -> P(A better)`` (NaN: no verdict). With ``settings`` its
    verdicts go through the verdict cache under those settings; without, they are not
    cached. ``queries`` lists every ``(instruction, a, b)`` actually asked."""

    kind = "fake"

    def __init__(self, rule: Callable[[str, str, str], float],
                 settings: dict[str, Any] | None = None):
        super().__init__(JudgeConfig(kind="hf", model="fake"))
        self.rule = rule
        self.fake_settings = settings
        self.queries: list[tuple[str, str, str]] = []

    def settings(self) -> dict[str, Any]:
        return {"fake": True}

    def verdict_settings(self) -> dict[str, Any] | None:
        return self.fake_settings

    def query(self, instructions, outputs_a, outputs_b, language, emit):
        records = []
        for j, (i, a, b) in enumerate(zip(instructions, outputs_a, outputs_b)):
            self.queries.append((i, a, b))
            p = float(self.rule(i, a, b))
            rec = {"p": None if math.isnan(p) else p}
            emit(j, rec)
            records.append(rec)
        return records, {}
