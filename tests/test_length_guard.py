"""The length-control guard (xlrm.winrate): a length-controlled win rate that would be an
extrapolation or a diverging fit is reported as missing with its reason."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xlrm.winrate import (LC_MAX_LENGTH_COEF, fit_length_glm, length_controlled_minimal,
                          summarize, win_rate_metrics)

# The default run's committed results/alpaca/ko__policy (Gemma 3 270M judging the initial
# policy against Korean references): answer and reference lengths in characters, and the
# judge's preferences (rounded to 4 digits). Every answer is longer, 3.8 times on average.
DEFAULT_ANSWERS = [81, 80, 84, 97, 86, 84, 114, 104, 152, 198, 84, 161, 105, 114, 111, 163, 110,
                   110, 76, 84, 152, 104, 80, 68]
DEFAULT_REFERENCES = [26, 18, 33, 34, 54, 33, 11, 32, 18, 17, 22, 57, 18, 27, 29, 43, 31, 29,
                      19, 22, 18, 14, 36, 45]
DEFAULT_PREFS = [1.0089, 1.0049, 1.003, 1.0058, 1.9953, 1.003, 1.0031, 1.9929, 1.944, 1.962,
                 1.9906, 1.9692, 1.9974, 1.0032, 1.0121, 1.9846, 1.0047, 1.0049, 1.9929, 1.9906,
                 1.944, 1.9891, 1.0078, 1.9774]


def _texts(lengths):
    return ["x" * n for n in lengths]


def test_default_run_answers_3_to_4_times_longer_have_no_length_controlled_rate():
    summary = summarize(DEFAULT_PREFS, _texts(DEFAULT_ANSWERS), _texts(DEFAULT_REFERENCES))
    assert summary["win_rate"] == pytest.approx(53.3, abs=0.05)
    assert summary["length_controlled_minimal"] is None
    assert summary["length_controlled_reason"] == (
        "answers are longer than the reference on every instruction (3.8x on average): "
        "equal length is outside the data")
    # in JSON the rate is null, and the fitted weights are still there to inspect
    assert json.loads(json.dumps(summary))["length_controlled_minimal"] is None
    assert summary["lc_length_coef"] == pytest.approx(-1.66, abs=0.01)
    # what was reported before the guard: 84.3 against a raw 53.3, predicted where no data is
    glm = fit_length_glm(DEFAULT_PREFS, DEFAULT_ANSWERS, DEFAULT_REFERENCES)
    assert glm.converged and glm.win_rate == pytest.approx(84.3, abs=0.05)
    assert glm.length_controlled is None and glm.problem == summary["length_controlled_reason"]
    # the mirror image (every answer shorter) is ruled out the same way
    mirror = length_controlled_minimal(DEFAULT_PREFS, DEFAULT_REFERENCES, DEFAULT_ANSWERS)
    assert mirror is None
    assert "shorter than the reference on every instruction" in fit_length_glm(
        DEFAULT_PREFS, DEFAULT_REFERENCES, DEFAULT_ANSWERS).problem


def test_lengths_on_both_sides_give_the_fit_unchanged():
    """The same verdicts against references of the answers' mean length (answers both longer
    and shorter): the rate is the GLM's, equal to an independent maximum-likelihood fit."""
    optimize = pytest.importorskip("scipy.optimize")
    ref = [int(np.mean(DEFAULT_ANSWERS))] * len(DEFAULT_ANSWERS)
    delta = np.array(DEFAULT_ANSWERS) - np.array(ref)
    assert (delta < 0).sum() >= 3 and (delta > 0).sum() >= 3
    summary = summarize(DEFAULT_PREFS, _texts(DEFAULT_ANSWERS), _texts(ref))
    glm = fit_length_glm(DEFAULT_PREFS, DEFAULT_ANSWERS, ref)
    assert glm.problem is None and summary["length_controlled_reason"] is None
    assert summary["length_controlled_minimal"] == glm.win_rate == glm.length_controlled

    y = np.array(DEFAULT_PREFS) - 1
    x = np.tanh(delta / np.std(delta, ddof=1))

    def nll(b):
        eta = b[0] * x + b[1]
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    best = optimize.minimize(nll, np.zeros(2), method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20_000}).x
    assert glm.length_coef == pytest.approx(best[0], abs=1e-5)
    assert summary["length_controlled_minimal"] == pytest.approx(
        100 / (1 + math.exp(-best[1])), abs=1e-4)
    assert summary["length_controlled_minimal"] != pytest.approx(summary["win_rate"], abs=1)


def test_equal_length_at_the_edge_of_the_data_is_ruled_out():
    # 2 of 24 answers shorter than the reference: fewer than the 3 needed on each side
    answers = [20, 15] + DEFAULT_ANSWERS[2:]
    glm = fit_length_glm(DEFAULT_PREFS, answers, DEFAULT_REFERENCES)
    assert glm.length_controlled is None
    assert glm.problem.startswith("only 2 of 24 answers are at most as long as the reference")
    assert "(3 needed on each side)" in glm.problem
    # an answer exactly as long as the reference counts on both sides
    answers = [26, 18, 20] + DEFAULT_ANSWERS[3:]
    assert fit_length_glm(DEFAULT_PREFS, answers, DEFAULT_REFERENCES).problem is None
    # equal lengths everywhere: the fit is the plain win rate
    same = length_controlled_minimal(DEFAULT_PREFS, DEFAULT_ANSWERS, DEFAULT_ANSWERS)
    assert same == pytest.approx(win_rate_metrics(DEFAULT_PREFS)["win_rate"], abs=1e-9)


def test_a_fit_separated_by_length_is_ruled_out():
    # the judge picks the longer output every time: lengths on both sides, but the
    # maximum-likelihood length weight is infinite
    answers = [100 + d for d in (-40, -30, -20, -10, 10, 20, 30, 40)] * 2
    prefs = [2.0 if n > 100 else 1.0 for n in answers]
    glm = fit_length_glm(prefs, answers, [100] * len(answers))
    assert glm.length_controlled is None
    assert not glm.converged or abs(glm.length_coef) > LC_MAX_LENGTH_COEF
    assert "separated by length" in glm.problem
    summary = summarize(prefs, _texts(answers), _texts([100] * len(answers)))
    assert summary["length_controlled_minimal"] is None
    assert summary["length_controlled_reason"] == glm.problem
    # every label equal: the rate is the exact limit whatever the lengths, and is kept
    assert length_controlled_minimal([2.0] * 8, answers[:8], [100] * 8) == 100.0
