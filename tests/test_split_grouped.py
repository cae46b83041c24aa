"""The prompt-grouped split and duplicate removal of `prepare` (no test prompt is trained on)."""

import json

import pytest

from xlrm.data.config import PrepareConfig, SeedSource
from xlrm.data.instructions import _interleaved
from xlrm.data.prepare import prepare
from xlrm.data.split import split_grouped


def _read(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_groups_sharing_a_prompt_stay_together():
    # a-b share a prompt in en, b-c in ko: a, b and c form one group; d is alone.
    keys = [("a", ("en", "p1"), None), ("b", ("en", "p1"), None), ("b", ("ko", "q"), None),
            ("c", ("ko", "q"), None), ("d", ("en", "p2"), None)]
    for seed in range(20):
        test, stats = split_grouped(keys, 0.5, seed)
        assert test in ({"a", "b", "c"}, {"d"})
        assert stats["groups"] == 2 and stats["largest_group"] == 3
    # Order of the keys does not matter.
    assert split_grouped(list(reversed(keys)), 0.5, 3)[0] == split_grouped(keys, 0.5, 3)[0]


def test_grouped_split_keeps_both_sides_nonempty_and_stratifies():
    keys = [(f"s{s}-{k}", ("en", f"s{s}-{k}"), f"s{s}") for s in range(3) for k in range(10)]
    test, _ = split_grouped(keys, 0.3, 0)
    for s in range(3):
        assert sum(i.startswith(f"s{s}-") for i in test) == 3
    one_group = [("a", "p", None), ("b", "p", None)]
    assert split_grouped(one_group, 0.5, 0)[0] in (set(), {"a", "b"})
    two = [("a", "p", None), ("b", "q", None)]
    assert len(split_grouped(two, 0.9, 0)[0]) == 1
    with pytest.raises(Exception, match="test_fraction"):
        split_grouped(two, 1.0, 0)


def test_prepare_seed_no_test_prompt_or_pair_in_training(tmp_path):
    cfg = PrepareConfig(source="seed", seed=SeedSource(seed=0, items_per_subset=30,
                                                       languages=["en", "ko"]),
                        test_fraction=0.4, split_seed=1)
    summary = prepare(cfg, tmp_path)
    train, test = _read(tmp_path / "train.jsonl"), _read(tmp_path / "test.jsonl")
    assert summary["duplicate_ids_dropped"] > 0 and summary["ids_sharing_a_prompt"] > 0
    key = lambda r: (r["language"], json.dumps(r["prompt"], ensure_ascii=False))  # noqa: E731
    train_prompts = {key(r) for r in train}
    assert test and not any(key(r) in train_prompts for r in test)
    pairs = [(key(r), r["chosen"], r["rejected"]) for r in train + test]
    assert len(pairs) == len(set(pairs))
    # Parallel: every kept id is in both languages, on one side.
    for rows in (train, test):
        by_id = {}
        for r in rows:
            by_id.setdefault(r["id"], set()).add(r["language"])
        assert all(v == {"en", "ko"} for v in by_id.values())
    assert not {r["id"] for r in train} & {r["id"] for r in test}
    # The old split by id alone does see test prompts in training on this set.
    by_id = PrepareConfig(source="seed", seed=cfg.seed, test_fraction=0.4, split_seed=1,
                          split_by="id", drop_duplicates=False)
    out = tmp_path / "by_id"
    out.mkdir()
    summary_id = prepare(by_id, out)
    assert summary_id["duplicate_ids_dropped"] == 0
    train_prompts = {key(r) for r in _read(out / "train.jsonl")}
    assert any(key(r) in train_prompts for r in _read(out / "test.jsonl"))


def test_instructions_one_per_prompt_subsets_in_turn():
    rows = [{"id": f"{s}-{k}", "subset": s, "prompt": [{"role": "user", "content": f"{s}{k % 2}"}]}
            for s in ("b", "a") for k in range(3)]
    out = _interleaved(rows)
    assert [r["id"] for r in out] == ["a-0", "b-0", "a-1", "b-1"]
