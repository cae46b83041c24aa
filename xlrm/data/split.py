"""Train/test split by item id: all languages of an id land on one side (:func:`split_ids`,
:func:`split_train_test`; both re-exported by :mod:`xlrm.data.loaders`), and by prompt: ids
that share a prompt in any language land on one side too (:func:`split_grouped`, what
``prepare`` uses with ``split_by: prompt``)."""

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


# ------------------------------------------------------------------ grouped split
class _Groups:
    """Union-find over item ids: ids that share a key (a prompt in one language) join."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.first: dict[object, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        root = parent.setdefault(x, x)
        while root != parent[root]:
            parent[root] = parent[parent[root]]
            root = parent[root]
        return root

    def add(self, item_id: str, key: object) -> None:
        other = self.first.setdefault(key, item_id)
        a, b = self.find(item_id), self.find(other)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def split_grouped(keys: Iterable[tuple[str, object, object]], test_fraction: float,
                  seed: int) -> tuple[set[str], dict[str, int]]:
    """Test ids when every id that shares a prompt with another, in any language, lands on
    the same side: nothing of a test pair's prompt is seen in training.

    ``keys`` holds one ``(item_id, prompt_key, stratum)`` per row (``prompt_key`` a hashable
    stand-in for the language and prompt; ``stratum`` e.g. the subset, or ``None``). Ids are
    joined into groups through shared prompt keys; each group belongs to the stratum of its
    smallest id. Per stratum the groups are ranked by ``sha256(seed, smallest id)`` and taken
    into test until the stratum's test share reaches ``round(test_fraction * ids)`` (the group
    that crosses it is taken: a stratum may overshoot by less than one group). Depends only on
    the keys and the seed, not on their order. Returns (test ids, stats).
    """
    split_ids([], test_fraction, seed)  # the same check of test_fraction
    groups = _Groups()
    strata: dict[str, object] = {}
    for item_id, prompt_key, stratum in keys:
        groups.add(item_id, prompt_key)
        strata.setdefault(item_id, stratum)
    members: dict[str, list[str]] = {}
    for item_id in groups.parent:
        members.setdefault(groups.find(item_id), []).append(item_id)
    by_stratum: dict[object, list[list[str]]] = {}
    for ids in members.values():
        ids.sort()
        by_stratum.setdefault(strata[ids[0]], []).append(ids)
    test: set[str] = set()
    added: list[list[str]] = []
    for stratum in sorted(by_stratum, key=str):
        stratum_groups = by_stratum[stratum]
        n_ids = sum(len(g) for g in stratum_groups)
        target = round(test_fraction * n_ids)
        taken = 0
        for g in sorted(stratum_groups, key=lambda g: (_hash_unit(seed, g[0]), g[0])):
            if taken >= target:
                break
            test.update(g)
            added.append(g)
            taken += len(g)
    # As split_ids: with a test share and two or more groups, neither side is empty.
    if test_fraction > 0 and len(members) >= 2:
        if not test:
            test.update(min(members.values(), key=lambda g: (_hash_unit(seed, g[0]), g[0])))
        elif len(test) == len(groups.parent):
            test.difference_update(added[-1])
    stats = {"groups": len(members), "largest_group": max((len(g) for g in members.values()), default=0),
             "ids_sharing_a_prompt": sum(len(g) for g in members.values() if len(g) > 1)}
    return test, stats
