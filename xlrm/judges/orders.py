"""Asking a judge about two outputs in both orders, the preference that follows, and how
much the order moved the verdicts.

A judge's order-level primitive (:meth:`xlrm.judges.base.Judge.ask`) answers, per query,
``P(the output shown as A is better)``. :func:`ask_both_orders` asks every item twice, once
with ``x`` shown as A and once with ``x`` shown as B (in one call, so the judge batches and
caches both), and turns both answers into ``P(x is better)``. Items whose two outputs are
identical after stripping whitespace get 0.5 in both orders without a query (AlpacaEval
scores them a draw). A judge whose verdict cannot depend on the order
(:attr:`~xlrm.judges.base.Judge.position_free`, the reward-model judge) is asked once and
that answer stands for both orders.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class BothOrders:
    """The two answers per item, as ``P(x is better)`` (NaN = no verdict).

    Attributes:
        first: with ``x`` shown as A.
        second: with ``x`` shown as B.
        identical: items not asked (identical outputs; 0.5 in both orders).
        position_free: one query per item stood for both orders.
        stats: the judge's counters for the queries (``cache_hits``, ``asked``, ...).
    """

    first: np.ndarray
    second: np.ndarray
    identical: np.ndarray | None = None
    position_free: bool = False
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.first = np.asarray(self.first, dtype=float)
        self.second = np.asarray(self.second, dtype=float)
        if self.first.shape != self.second.shape or self.first.ndim != 1:
            raise ValueError(f"first {self.first.shape} and second {self.second.shape} must "
                             "be 1-D arrays of one length")
        if self.identical is None:
            self.identical = np.zeros(len(self.first), dtype=bool)
        self.identical = np.asarray(self.identical, dtype=bool)


def ask_both_orders(judge: Any, instructions: Sequence[str], x: Sequence[str],
                    y: Sequence[str], language: str | None = None) -> BothOrders:
    """Ask ``judge`` about every ``(x[i], y[i])`` in both orders (see the module doc)."""
    n = len(instructions)
    if not (len(x) == len(y) == n):
        raise ValueError(f"got {n} instructions, {len(x)} and {len(y)} outputs")
    same = np.array([a.strip() == b.strip() for a, b in zip(x, y)], dtype=bool)
    first, second = np.full(n, 0.5), np.full(n, 0.5)
    todo = [i for i in range(n) if not same[i]]
    free = bool(getattr(judge, "position_free", False))
    stats: dict[str, Any] = {}
    if todo:
        ins = [instructions[i] for i in todo]
        xs, ys = [x[i] for i in todo], [y[i] for i in todo]
        if free:
            p, stats = judge.ask(ins, xs, ys, language)
            p = np.asarray(p, dtype=float)
            first[todo], second[todo] = p, p
        else:
            p, stats = judge.ask(ins + ins, xs + ys, ys + xs, language)
            p = np.asarray(p, dtype=float)
            m = len(todo)
            first[todo] = p[:m]
            second[todo] = 1.0 - p[m:]  # P(y shown as A is better) -> P(x is better)
    return BothOrders(first, second, same, free, stats)


def preference(both: BothOrders) -> np.ndarray:
    """AlpacaEval's preference of ``x`` over ``y`` per item, in [1, 2]: one plus the mean of
    ``P(x is better)`` over the orders that gave a verdict; NaN when neither did."""
    pair = np.stack([both.first, both.second])
    has = np.isfinite(pair)
    total = np.where(has, pair, 0.0).sum(axis=0)
    count = has.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, 1.0 + total / np.maximum(count, 1), np.nan)


def _share(num: int, den: int) -> float:
    return num / den if den else math.nan


def order_quality(both: BothOrders) -> dict[str, Any]:
    """How much the order of the outputs moved the verdicts.

    Over the items that were asked (not identical): ``n_items`` (all items), ``n_queries``,
    ``n_unparseable`` and ``unparseable_share`` (queries without a verdict / queries),
    ``n_compared`` (items with a verdict other than a tie in both orders), ``n_flips`` and
    ``flip_share`` (those whose winner changes when the order flips / ``n_compared``),
    ``position_consistency`` (1 - flip_share), ``n_verdicts``, ``n_first_shown_wins`` and
    ``first_shown_win_share`` (verdicts other than a tie won by the output shown first /
    such verdicts; NaN for a position-free judge). A share without a denominator is NaN.
    """
    asked = ~both.identical
    f, s = both.first[asked], both.second[asked]
    if both.position_free:
        queries, missing = len(f), int(np.isnan(f).sum())
    else:
        queries, missing = 2 * len(f), int(np.isnan(f).sum() + np.isnan(s).sum())
    decided = np.isfinite(f) & np.isfinite(s) & (f != 0.5) & (s != 0.5)
    flips = int(((f[decided] > 0.5) != (s[decided] > 0.5)).sum())
    # the first-shown output: x in the first order (wins when P(x) > .5), y in the second
    f_won, s_won = f[np.isfinite(f) & (f != 0.5)], s[np.isfinite(s) & (s != 0.5)]
    first_wins = int((f_won > 0.5).sum() + (s_won < 0.5).sum())
    n_verdicts = len(f_won) + len(s_won)
    if both.position_free:  # no order was shown
        first_wins = n_verdicts = 0
    return _quality({"n_items": int(len(both.first)), "n_queries": int(queries),
                     "n_unparseable": missing, "n_compared": int(decided.sum()),
                     "n_flips": flips, "n_verdicts": n_verdicts,
                     "n_first_shown_wins": first_wins})


_COUNTS = ("n_items", "n_queries", "n_unparseable", "n_compared", "n_flips", "n_verdicts",
           "n_first_shown_wins")


def _quality(c: dict[str, int]) -> dict[str, Any]:
    flip_share = _share(c["n_flips"], c["n_compared"])
    return {**c, "unparseable_share": _share(c["n_unparseable"], c["n_queries"]),
            "flip_share": flip_share, "position_consistency": 1.0 - flip_share,
            "first_shown_win_share": _share(c["n_first_shown_wins"], c["n_verdicts"])}


def merge_quality(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """:func:`order_quality` of several sets of items taken together, from their counts."""
    return _quality({k: int(sum(p[k] for p in parts)) for k in _COUNTS})
