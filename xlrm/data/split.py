"""Train/test split by item id: all languages of an id land on one side (:func:`split_ids`,
:func:`split_train_test`; both re-exported by :mod:`xlrm.data.loaders`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from xlrm.errors import ConfigError


def _hash_unit(seed: int, item_id: str) -> float:
    digest = hashlib.sha256(f"{seed}\x00{item_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_ids(ids: Iterable[str], test_fraction: float, seed: int) -> set[str]:
    """The test ids of :func:`split_train_test`, from the set of distinct ids."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) \
            or not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    ranked = sorted(set(ids), key=lambda i: (_hash_unit(seed, i), i))
    n_test = round(test_fraction * len(ranked))
    if test_fraction > 0 and len(ranked) >= 2:
        n_test = min(max(n_test, 1), len(ranked) - 1)
    return set(ranked[:n_test])


def split_train_test(rows: Sequence[dict], test_fraction: float,
                     seed: int) -> tuple[list[dict], list[dict]]:
    """Split rows into (train, test) by item id; all languages of an id land on one side.

    The distinct ids are ranked by ``sha256(seed, id)`` and the first
    ``round(test_fraction * n_ids)`` go to test (at least one when ``test_fraction > 0`` and
    there are two or more ids; never all of them). The result depends only on the set of ids
    and the seed, not on row order; both lists keep the input order of the rows.
    """
    test_ids = split_ids({str(r["id"]) for r in rows}, test_fraction, seed)
    train = [r for r in rows if str(r["id"]) not in test_ids]
    test = [r for r in rows if str(r["id"]) in test_ids]
    return train, test
