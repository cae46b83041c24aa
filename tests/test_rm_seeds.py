"""RM training seeds in the transfer matrix: means over seeds, two-level intervals."""

import json

import numpy as np
import pandas as pd
import pytest

from xlrm.errors import DataError
from xlrm.evaluation.config import TransferConfig
from xlrm.evaluation.transfer import read_scores, scores_path, transfer_results

LANGS = ("en", "ko")


def _rows(rm, lang, accuracy, n=60, seed=None, rng=None):
    rng = rng or np.random.default_rng(0)
    wins = np.zeros(n, dtype=bool)
    wins[: round(accuracy * n)] = True
    rng.shuffle(wins)
    out = []
    for i, w in enumerate(wins):
        rec = {"rm": rm, "id": f"p{i}", "language": lang, "subset": "seed-math",
               "category": "reasoning", "chosen_score": 1.0 if w else 0.0,
               "rejected_score": 0.0 if w else 1.0}
        if seed is not None:
            rec["rm_seed"] = seed
        out.append(rec)
    return out


def _table(acc_by_seed):
    """acc_by_seed: {seed: {(rm, lang): accuracy}}; the base at 0.5 without a seed."""
    rows = [r for lang in LANGS for r in _rows("base", lang, 0.5)]
    for seed, accs in acc_by_seed.items():
        rng = np.random.default_rng(seed)
        for (rm, lang), a in accs.items():
            rows += _rows(rm, lang, a, seed=seed, rng=rng)
    return pd.DataFrame(rows)


def _cfg():
    return TransferConfig(source_language="en", bootstrap_resamples=400, seed=0)


def test_one_seed_equals_the_table_without_seeds():
    accs = {("en", "en"): 0.8, ("en", "ko"): 0.6, ("ko", "ko"): 0.7, ("ko", "en"): 0.55}
    with_seed = transfer_results(_cfg(), _table({42: accs}))
    without = transfer_results(_cfg(), _table({42: accs}).drop(columns=["rm_seed"]))
    assert with_seed.metrics == without.metrics
    assert with_seed.metrics["rm_seeds"] == 1
    pd.testing.assert_frame_equal(with_seed.ci, without.ci)


def test_seeds_are_averaged_and_their_spread_widens_the_interval():
    far = {42: {("en", "en"): 0.9, ("en", "ko"): 0.7, ("ko", "ko"): 0.9, ("ko", "en"): 0.6},
           43: {("en", "en"): 0.5, ("en", "ko"): 0.3, ("ko", "ko"): 0.5, ("ko", "en"): 0.6}}
    table = _table(far)
    res = transfer_results(_cfg(), table)
    assert res.metrics["rm_seeds"] == 2
    assert res.matrix.loc["en", "en"] == pytest.approx(0.7)
    assert res.metrics["own_language_per_seed"] == {"en": {"42": 0.9, "43": 0.5},
                                                    "ko": {"42": 0.9, "43": 0.5}}
    ci = res.ci.set_index(["rm", "language"])
    two_level = ci.loc[("en", "en"), "ci_high"] - ci.loc[("en", "en"), "ci_low"]
    # The same rows with the seeds as heads: pairs resampled, seeds not.
    as_heads = table.assign(head=table["rm_seed"]).drop(columns=["rm_seed"])
    ci_h = transfer_results(_cfg(), as_heads).ci.set_index(["rm", "language"])
    pairs_only = ci_h.loc[("en", "en"), "ci_high"] - ci_h.loc[("en", "en"), "ci_low"]
    assert two_level > pairs_only + 0.1
    # Seed draws cover both extremes: the interval reaches the single seeds' region.
    assert ci.loc[("en", "en"), "ci_low"] < 0.62 and ci.loc[("en", "en"), "ci_high"] > 0.78


def test_read_scores_seed_layout(tmp_path):
    accs = {("en", "en"): 0.8, ("en", "ko"): 0.6, ("ko", "ko"): 0.7, ("ko", "en"): 0.55}
    table = _table({42: accs, 7: accs})
    for (rm, seed), part in table.groupby(["rm", table["rm_seed"].fillna(-1)]):
        path = scores_path(tmp_path, rm, None if rm == "base" else int(seed))
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            for r in part.drop(columns=["rm_seed"] if rm == "base" else []).to_dict("records"):
                f.write(json.dumps({k: v for k, v in r.items() if v == v}) + "\n")
    assert (tmp_path / "seed7" / "en.jsonl").is_file()
    got = read_scores(tmp_path, ["base", "en", "ko"], list(LANGS), seeds=[42, 7])
    assert sorted(got["rm_seed"].dropna().unique()) == [7, 42] and len(got) == len(table)
    with pytest.raises(DataError, match="no scores for RM") as e:
        read_scores(tmp_path, ["base", "en"], list(LANGS), seeds=[42, 8])
    assert "seed8" in str(e.value)
