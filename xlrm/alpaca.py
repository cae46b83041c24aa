"""AlpacaEval in any language: pairwise judges and AlpacaEval's win-rate metrics.

A model's answers are compared, instruction by instruction, with a *reference* answer in
the same (target) language. A judge returns a **preference** ``p`` in [1, 2] per
instruction, with AlpacaEval's encoding: 1 = the reference is better, 2 = the evaluated
model is better, 1.5 = a draw (identical outputs), NaN = no annotation.

Metrics (:func:`win_rate_metrics`, :func:`summarize`) follow AlpacaEval
(``alpaca_eval.metrics``: ``AbsoluteScoringRule`` / ``ZeroOneScoringRule.describe_head2head``
and ``main.evaluate``) exactly:

* NaN/None preferences are dropped; a legacy draw encoded as ``0`` becomes 1.5. (AlpacaEval
  also drops values outside [1, 2] silently; here they raise, since every judge of this
  module produces values in [1, 2] and anything else is a bug.)
* ``win_rate = mean(p - 1) * 100`` and ``standard_error = sem(p - 1) * 100`` with the sample
  standard deviation (``ddof=1``, pandas' ``Series.sem``); the preference is used as it is
  (soft, not rounded).
* ``n_wins`` = #(p > 1.5), ``n_wins_base`` = #(p < 1.5), ``n_draws`` = #(p == 1.5),
  ``n_total`` = #non-missing.
* ``discrete_win_rate``: each p is rounded first (1.5 stays a draw worth one half),
  ``(n_wins + n_draws / 2) / n_total * 100``.
* ``avg_length``: ``int(mean(len(output)))`` over the model's outputs, in characters.
* ``length_controlled_minimal`` (AlpacaEval's GLM of that name, see :func:`fit_length_glm`):
  with soft labels ``y = p - 1`` and ``s = (len_model - len_reference) / sd`` (``sd`` the
  sample standard deviation of the length differences over all rows), fit the logistic GLM
  ``P(model wins) = sigmoid(phi * tanh(s) + theta)`` by maximum likelihood on the soft-label
  Bernoulli likelihood ``sum y log mu + (1 - y) log(1 - mu)``, then predict at ``s = 0`` and
  average: ``LC = mean_i sigmoid(theta) * 100 = sigmoid(theta) * 100``. AlpacaEval writes
  the length difference as reference minus model, which only flips the sign of ``phi``; it
  also picks an L1 penalty by 5-fold cross-validation (liblinear), whereas this fit is
  unregularised Newton/IRLS, so the two agree closely but not to the last digit. The
  leaderboard's ``length_controlled_winrate`` also has an instruction-difficulty term whose
  table is not available offline.

Judges (registry :data:`JUDGES`, built by :func:`make_judge` from :class:`JudgeConfig`):

``openai``
    AlpacaEval 2.0's pairwise form over any OpenAI-compatible ``/v1/chat/completions``
    endpoint: the instruction and the two outputs, labelled ``A`` and ``B`` in an order
    drawn per instruction from the seed (:func:`model_shown_first`), in a prompt of this
    project's own wording (:data:`DEFAULT_SYSTEM_PROMPT`, :data:`DEFAULT_PROMPT_TEMPLATE`).
    When the reply carries ``logprobs.content[0].top_logprobs`` the preference is
    ``p = 2 - P(ref) / (P(ref) + P(model))`` from the probabilities of the two label tokens
    (a label absent from the top list has probability 0); otherwise the label is parsed
    from the text (p = 1 or 2), and an unparseable reply gives NaN and is counted.
``hf``
    A local ``transformers`` causal LM with the same prompt (through its chat template, with
    the generation prompt): the next-token probabilities of the two label tokens after the
    prompt, one forward pass per comparison, batched.
``rm``
    A reward model: ``p = 1 + sigmoid(r(answer) - r(reference))``, both scored as replies to
    the instruction exactly as :func:`xlrm.reward.score_pairs` scores a pair.

For every judge an answer identical to its reference (after stripping surrounding
whitespace) gets p = 1.5 without calling the judge, as AlpacaEval does.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from xlrm import languages
from xlrm.config import from_dict
from xlrm.errors import ConfigError, XlrmError
from xlrm.langid import LanguageChecker
from xlrm.openai_client import RequestFailed, post_chat_completion, redact
from xlrm.devices import resolve_device

log = logging.getLogger(__name__)

#: The two labels the outputs are shown under (first shown, second shown).
LABELS: tuple[str, str] = ("A", "B")

# Our own wording (not AlpacaEval's template text).
DEFAULT_SYSTEM_PROMPT = (
    "You compare two responses that AI assistants gave to the same instruction and decide "
    "which one is better. Judge how well each response carries out the instruction: is it "
    "correct, helpful, complete and clearly written? The order in which the responses are "
    "shown says nothing about their quality, and a response is not better just for being "
    "longer. Reply with a single letter, A or B, naming the better response, and nothing else."
)
DEFAULT_PROMPT_TEMPLATE = (
    "{language_note}Instruction:\n{instruction}\n\n"
    "Response A:\n{output_a}\n\n"
    "Response B:\n{output_b}\n\n"
    "Which response is better, A or B?"
)
DEFAULT_LANGUAGE_NOTE = (
    "The instruction is written in {language_name}, and a good response is written in "
    "{language_name} too.\n\n"
)


class JudgeError(XlrmError):
    """A judge failed in a way retrying will not fix (bad URL, key, model)."""


# =========================================================================== metrics


def as_preferences(preferences: Sequence[float | None] | np.ndarray) -> np.ndarray:
    """Preferences as a float array: None -> NaN, AlpacaEval's legacy draw ``0`` -> 1.5.

    Raises:
        ValueError: a value that is neither NaN nor in [1, 2].
    """
    arr = np.array([np.nan if p is None else p for p in preferences], dtype=float).reshape(-1)
    arr[arr == 0] = 1.5
    bad = np.flatnonzero(~np.isnan(arr) & ((arr < 1) | (arr > 2)))
    if bad.size:
        raise ValueError(f"preferences must be in [1, 2] or missing; got {arr[bad[0]]!r} at "
                         f"position {int(bad[0])} ({bad.size} such values)")
    return arr


def win_rate_metrics(preferences: Sequence[float | None] | np.ndarray) -> dict[str, Any]:
    """AlpacaEval's head-to-head metrics of per-instruction preferences.

    Returns ``win_rate``, ``standard_error``, ``n_wins``, ``n_wins_base``, ``n_draws``,
    ``n_total``, ``discrete_win_rate`` (see the module docstring) and ``n_missing``
    (dropped NaN/None). Rates are in percent; with no annotation they are NaN, and the
    standard error is NaN with fewer than two.
    """
    p = as_preferences(preferences)
    n_missing = int(np.isnan(p).sum())
    p = p[~np.isnan(p)]
    n = int(p.size)
    soft = p - 1.0
    draws = p == 1.5
    # ZeroOneScoringRule: round each preference (a draw stays 1.5, i.e. one half).
    discrete = np.where(draws, 0.5, np.round(p) - 1.0)
    return {
        "win_rate": float(soft.mean() * 100) if n else math.nan,
        "standard_error": float(soft.std(ddof=1) / math.sqrt(n) * 100) if n > 1 else math.nan,
        "n_wins": int((soft > 0.5).sum()),
        "n_wins_base": int((soft < 0.5).sum()),
        "n_draws": int(draws.sum()),
        "n_total": n,
        "discrete_win_rate": float(discrete.mean() * 100) if n else math.nan,
        "n_missing": n_missing,
    }


def expit(x: np.ndarray | float) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-x))``, without overflow."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))


def _char_lengths(values: Sequence[str] | Sequence[int] | np.ndarray) -> np.ndarray:
    return np.array([len(v) if isinstance(v, str) else v for v in values], dtype=float)


def fit_soft_logistic(X: np.ndarray, y: np.ndarray, *, max_iter: int = 100,
                      tol: float = 1e-11) -> tuple[np.ndarray, bool, int]:
    """Maximum-likelihood logistic regression on soft labels ``y`` in [0, 1] (no intercept
    is added: put a column of ones in ``X``).

    Minimises ``L(b) = sum_i log(1 + exp(x_i b)) - y_i x_i b`` (the negative soft-label
    Bernoulli log-likelihood) by Newton's method (= IRLS) with backtracking: gradient
    ``X'(mu - y)``, Hessian ``X' diag(mu (1 - mu)) X``, ``mu = sigmoid(X b)``. The Newton
    step is the least-squares (minimum-norm) solution, so a constant-zero column keeps a
    zero weight instead of making the system singular.

    Returns ``(weights, converged, iterations)``; converged means every gradient entry is
    below ``tol * n``. (Without convergence, e.g. under perfect separation, the weights
    are those of the last iterate.)
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    beta = np.zeros(k)

    def loss(b: np.ndarray) -> float:
        eta = X @ b
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    cur = loss(beta)
    for it in range(1, max_iter + 1):
        mu = expit(X @ beta)
        grad = X.T @ (mu - y)
        if np.max(np.abs(grad)) <= tol * max(n, 1):
            return beta, True, it - 1
        hess = X.T @ (X * (mu * (1.0 - mu))[:, None])
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        t = 1.0
        decrease = float(grad @ step)
        while True:
            cand = beta - t * step
            new = loss(cand)
            if new <= cur - 1e-4 * t * decrease or t < 1e-10:
                break
            t *= 0.5
        if new > cur:  # no progress possible in floating point
            break
        beta, cur = cand, new
    mu = expit(X @ beta)
    grad = X.T @ (mu - y)
    return beta, bool(np.max(np.abs(grad)) <= tol * max(n, 1)), max_iter


@dataclass(frozen=True)
class LengthGLM:
    """A fitted ``length_controlled_minimal`` GLM (see :func:`fit_length_glm`).

    Attributes:
        length_coef: ``phi``, the weight of ``tanh(std_delta_len)`` (model minus reference:
            positive when longer answers win more often).
        baseline: ``theta``, the weight of the baseline (intercept) term.
        delta_len_sd: the standard deviation the length differences were divided by.
        n_fit: rows the GLM was fitted on (non-missing preferences).
        converged: whether Newton's method converged.
        win_rate: the length-controlled win rate, ``sigmoid(theta) * 100``.
    """

    length_coef: float
    baseline: float
    delta_len_sd: float
    n_fit: int
    converged: bool
    win_rate: float


def fit_length_glm(preferences: Sequence[float | None] | np.ndarray,
                   model_lengths: Sequence[str] | Sequence[int] | np.ndarray,
                   reference_lengths: Sequence[str] | Sequence[int] | np.ndarray) -> LengthGLM:
    """Fit AlpacaEval's ``length_controlled_minimal`` GLM and predict at equal lengths.

    Args:
        preferences: per-instruction preferences in [1, 2] (NaN/None = missing).
        model_lengths, reference_lengths: character lengths of the model's and the
            reference's outputs, or the output strings themselves.

    The formula (module docstring): ``logit P(win) = phi * tanh(s) + theta`` with
    ``s = (len_model - len_ref) / sd(len_model - len_ref)`` (``ddof=1``, over all rows, as
    AlpacaEval computes it before dropping missing preferences; ``s = 0`` when that
    deviation is 0 or undefined), fitted on the soft labels ``p - 1`` of the non-missing
    rows. Predicting at ``s = 0`` gives ``sigmoid(theta)`` for every instruction, so the
    length-controlled win rate is ``sigmoid(theta) * 100``. If every label is 0 (or every
    one 1) the maximum-likelihood ``theta`` is infinite and the rate is its limit, 0 (100).
    """
    p = as_preferences(preferences)
    lm, lr = _char_lengths(model_lengths), _char_lengths(reference_lengths)
    if not (len(p) == len(lm) == len(lr)):
        raise ValueError(f"got {len(p)} preferences, {len(lm)} model lengths and {len(lr)} "
                         "reference lengths")
    delta = lm - lr
    sd = float(np.std(delta, ddof=1)) if len(delta) > 1 else math.nan
    std_delta = delta / sd if sd > 0 else np.zeros_like(delta)
    keep = ~np.isnan(p)
    y = p[keep] - 1.0
    n = int(keep.sum())
    if n == 0:
        return LengthGLM(math.nan, math.nan, sd, 0, False, math.nan)
    if np.all(y == 0.0) or np.all(y == 1.0):
        theta = -math.inf if y[0] == 0.0 else math.inf
        return LengthGLM(0.0, theta, sd, n, True, float(y[0] * 100))
    X = np.column_stack([np.tanh(std_delta[keep]), np.ones(n)])
    beta, converged, _ = fit_soft_logistic(X, y)
    if not converged:
        log.warning("length-controlled GLM did not converge (separable data?); the "
                    "length-controlled win rate is that of the last iterate")
    return LengthGLM(length_coef=float(beta[0]), baseline=float(beta[1]), delta_len_sd=sd,
                     n_fit=n, converged=converged, win_rate=float(expit(beta[1]) * 100))


def length_controlled_minimal(preferences: Sequence[float | None] | np.ndarray,
                              model_lengths: Sequence[str] | Sequence[int] | np.ndarray,
                              reference_lengths: Sequence[str] | Sequence[int] | np.ndarray
                              ) -> float:
    """The ``length_controlled_minimal`` win rate in percent (see :func:`fit_length_glm`)."""
    return fit_length_glm(preferences, model_lengths, reference_lengths).win_rate


def summarize(preferences: Sequence[float | None] | np.ndarray, model_texts: Sequence[str],
              reference_texts: Sequence[str]) -> dict[str, Any]:
    """Every AlpacaEval metric of one model against its references.

    Returns the keys of :func:`win_rate_metrics` plus ``avg_length`` (AlpacaEval's
    ``int(mean(len(output)))`` over ``model_texts``), ``avg_length_reference``,
    ``length_controlled_minimal`` (percent) and the GLM's ``lc_length_coef`` and
    ``lc_baseline`` weights.
    """
    if not (len(preferences) == len(model_texts) == len(reference_texts)):
        raise ValueError(f"got {len(preferences)} preferences, {len(model_texts)} model texts "
                         f"and {len(reference_texts)} reference texts")
    out = win_rate_metrics(preferences)
    lm, lr = _char_lengths(model_texts), _char_lengths(reference_texts)
    out["avg_length"] = int(lm.mean()) if lm.size else 0
    out["avg_length_reference"] = int(lr.mean()) if lr.size else 0
    glm = fit_length_glm(preferences, lm, lr)
    out["length_controlled_minimal"] = glm.win_rate
    out["lc_length_coef"] = glm.length_coef
    out["lc_baseline"] = glm.baseline
    return out


def language_fidelity(texts: Sequence[str], lang: str, checker: LanguageChecker) -> float:
    """Share of ``texts`` that ``checker`` assigns to ``lang`` (NaN for no texts).

    Texts too short to identify count as in the language (:meth:`LanguageChecker.is_language`).
    """
    texts = list(texts)
    if not texts:
        return math.nan
    ok = checker.are_language(texts, lang)
    return sum(ok) / len(ok)


# =========================================================================== config


@dataclass
class JudgeConfig:
    """``eval_alpaca.judge``: which judge compares a model's answers with the references.

    Attributes:
        kind: ``openai`` (chat-completions endpoint), ``hf`` (local causal LM) or ``rm``
            (reward model); see the module docstring.
        model: ``openai``: the model name sent in each request; ``hf``: hub id or folder
            of a causal LM; ``rm``: folder of a reward model (or of a LoRA adapter, with
            ``rm_base_model``).
        base_url: ``openai``: API root, e.g. ``http://127.0.0.1:8000/v1``
            (``/chat/completions`` is appended unless already there).
        api_key_env: ``openai``: environment variable holding the API key; unset sends no
            ``Authorization`` header. The key is never logged or put in an error message.
        seed: seeds the per-instruction order of the two outputs.
        max_tokens: ``openai``: tokens per reply (the label is the first one).
        temperature: ``openai``: sampling temperature.
        logprobs: ``openai``: ask for log-probabilities (the soft preference); servers that
            ignore the request get the text fallback.
        top_logprobs: ``openai``: alternatives per token (0-20).
        concurrency: ``openai``: requests in flight at once.
        timeout_s: ``openai``: per-request timeout.
        max_retries: ``openai``: retries after a 429, a 5xx or a network error.
        backoff_s: ``openai``: first retry delay, doubling each retry.
        batch_size: ``hf``: comparisons per forward pass.
        max_input_tokens: ``hf``: a longer prompt is not judged (NaN, counted as
            ``too_long``); ``rm``: each conversation is cut from the left to this length.
        token_budget: ``rm``: padded tokens per scoring batch.
        rm_base_model: ``rm``: base model folder when ``model`` holds a LoRA adapter.
        dtype: ``hf``/``rm``: weights dtype; ``auto`` = the checkpoint's on a GPU,
            float32 on CPU.
        device: ``hf``/``rm``: ``auto`` (CUDA, then MPS, then CPU) or a torch device.
        mention_language: put :data:`DEFAULT_LANGUAGE_NOTE` (the evaluation language) in
            the prompt when the language is known.
        system_prompt: the judge's system message.
        prompt_template: the user message; ``str.format`` fields ``{instruction}``,
            ``{output_a}``, ``{output_b}`` and ``{language_note}``.
    """

    kind: Literal["openai", "hf", "rm"]
    model: str = ""
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    seed: int = 0
    max_tokens: int = 4
    temperature: float = 0.0
    logprobs: bool = True
    top_logprobs: int = 5
    concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_s: float = 1.0
    batch_size: int = 8
    max_input_tokens: int | None = None
    token_budget: int = 8192
    rm_base_model: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"
    mention_language: bool = True
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE

    def __post_init__(self) -> None:
        for name in ("max_tokens", "concurrency", "batch_size", "token_budget"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0 <= self.top_logprobs <= 20:
            raise ValueError("top_logprobs must be between 0 and 20")
        if self.max_retries < 0 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError("max_retries and backoff_s must be >= 0, timeout_s > 0")
        if self.max_input_tokens is not None and self.max_input_tokens < 1:
            raise ValueError("max_input_tokens must be at least 1 or null")
        for name in ("{instruction}", "{output_a}", "{output_b}"):
            if name not in self.prompt_template:
                raise ValueError(f"prompt_template must contain {name}")
        try:
            self.prompt_template.format(instruction="", output_a="", output_b="",
                                        language_note="")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"prompt_template has an unknown or malformed field: {e}") from None

    @classmethod
    def from_dict(cls, data: Any, where: str = "eval_alpaca.judge") -> JudgeConfig:
        """Build from a params mapping, rejecting unknown keys and wrong types."""
        return from_dict(cls, data, where)


# =========================================================================== prompts


def model_shown_first(instruction: str, seed: int) -> bool:
    """Whether the model's output is shown first (label A) for this instruction.

    A fair coin drawn from a generator seeded with ``(seed, instruction)`` (SHA-256, so the
    draw is the same on every machine and in every process).
    """
    digest = hashlib.sha256(f"{seed}\x1f{instruction}".encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).random() < 0.5


def judge_messages(instruction: str, output_a: str, output_b: str, cfg: JudgeConfig,
                   language: str | None = None) -> list[dict[str, str]]:
    """The system and user messages asking which of outputs A and B is better."""
    note = ""
    if language is not None and cfg.mention_language:
        note = DEFAULT_LANGUAGE_NOTE.format(language_name=languages.name(language))
    user = cfg.prompt_template.format(instruction=instruction, output_a=output_a,
                                      output_b=output_b, language_note=note)
    return [{"role": "system", "content": cfg.system_prompt}, {"role": "user", "content": user}]


# Leading quotes/Markdown, an optional "(the better) response/output", then the letter.
_LABEL_TEXT = re.compile(r"^[\s*_\"'`(\[#]*"
                         r"(?:(?:the\s+)?(?:better\s+)?(?:response|output)\s*[:#]?\s*)?"
                         r"(?P<label>[AB])(?![\w])", re.IGNORECASE)


def parse_label(text: str | None) -> int | None:
    """Index (0 = A, 1 = B) of the label a judge's reply starts with, or None.

    Accepts e.g. ``A``, ``"B"``, ``**A**``, ``Response B``, ``B.``; the label letter itself
    must be upper case (a lone lower-case ``a`` is an article, not a verdict).
    """
    if not text:
        return None
    m = _LABEL_TEXT.match(text)
    if m is None or m.group("label") not in LABELS:
        return None
    return LABELS.index(m.group("label"))


def preference_from_probs(p_model: float, p_ref: float) -> float:
    """``2 - P(ref) / (P(ref) + P(model))``; NaN when both are 0."""
    total = p_model + p_ref
    if not total > 0:
        return math.nan
    return 2.0 - p_ref / total


# =========================================================================== registry


JudgeResult = tuple[np.ndarray, dict[str, Any]]


class Judge:
    """Compares answers with references; subclasses implement :meth:`compare`."""

    kind: str = ""

    def __init__(self, cfg: JudgeConfig):
        self.cfg = cfg

    def compare(self, instructions: list[str], outputs: list[str], references: list[str],
                language: str | None) -> JudgeResult:
        """Preferences (NaN = no verdict) for non-identical pairs, and counters."""
        raise NotImplementedError

    def judge(self, instructions: Sequence[str], outputs: Sequence[str],
              references: Sequence[str], *, language: str | None = None) -> JudgeResult:
        """One preference in [1, 2] (or NaN) per instruction, and counters.

        Args:
            instructions: the instructions (in the evaluation language).
            outputs: the evaluated model's answers.
            references: the reference answers, in the same language.
            language: xlrm code of that language (named in the prompt, see
                :attr:`JudgeConfig.mention_language`).

        Returns:
            ``(preferences, stats)``; stats has ``n``, ``identical`` (set to 1.5 without
            a judge call), ``judged``, ``missing`` (NaN) and the judge's own counters.
        """
        n = len(instructions)
        if not (len(outputs) == len(references) == n):
            raise ValueError(f"got {n} instructions, {len(outputs)} outputs and "
                             f"{len(references)} references")
        if language is not None:
            languages.check(language)
        prefs = np.full(n, np.nan)
        same = [i for i in range(n) if outputs[i].strip() == references[i].strip()]
        prefs[same] = 1.5
        todo = [i for i in range(n) if outputs[i].strip() != references[i].strip()]
        stats: dict[str, Any] = {"kind": self.kind, "n": n, "identical": len(same),
                                 "judged": len(todo)}
        if todo:
            sub, extra = self.compare([instructions[i] for i in todo],
                                      [outputs[i] for i in todo],
                                      [references[i] for i in todo], language)
            sub = np.asarray(sub, dtype=float)
            if sub.shape != (len(todo),):
                raise JudgeError(f"judge {self.kind} returned {sub.shape} preferences for "
                                 f"{len(todo)} comparisons")
            prefs[todo] = sub
            stats.update(extra)
        stats["missing"] = int(np.isnan(prefs).sum())
        as_preferences(prefs)  # a judge bug (value outside [1, 2]) fails here
        return prefs, stats


JUDGES: dict[str, type[Judge]] = {}


def register_judge(kind: str) -> Callable[[type[Judge]], type[Judge]]:
    """Class decorator adding a judge (constructed from a JudgeConfig) to :data:`JUDGES`."""

    def deco(cls: type[Judge]) -> type[Judge]:
        cls.kind = kind
        JUDGES[kind] = cls
        return cls

    return deco


def make_judge(cfg: JudgeConfig, **kwargs: Any) -> Judge:
    """Construct the judge ``cfg.kind`` names (``kwargs`` go to its constructor, e.g. an
    already loaded ``model``/``tokenizer``)."""
    if cfg.kind not in JUDGES:
        raise ConfigError(f"eval_alpaca.judge.kind: unknown judge {cfg.kind!r}; "
                          f"known: {sorted(JUDGES)}")
    return JUDGES[cfg.kind](cfg, **kwargs)


# =========================================================================== openai


def _label_probs(choice: dict) -> tuple[float, float] | None:
    """Probabilities of labels A and B at the first reply token, from ``logprobs``.

    Tokens are matched after stripping whitespace (``" A"`` counts as ``A``); a label that
    is not among the alternatives has probability 0. None when there are no logprobs or
    neither label is among them.
    """
    lp = choice.get("logprobs")
    if not isinstance(lp, dict) or not lp.get("content"):
        return None
    first = lp["content"][0]
    entries = {}
    for alt in [*(first.get("top_logprobs") or []), first]:
        tok, val = alt.get("token"), alt.get("logprob")
        if isinstance(tok, str) and isinstance(val, (int, float)):
            entries.setdefault(tok, float(val))
    probs = [0.0, 0.0]
    found = False
    for tok, val in entries.items():
        if tok.strip() in LABELS:
            probs[LABELS.index(tok.strip())] += math.exp(val)
            found = True
    return (probs[0], probs[1]) if found else None


@register_judge("openai")
class OpenAIJudge(Judge):
    """AlpacaEval's pairwise judge over an OpenAI-compatible chat-completions endpoint."""

    def __init__(self, cfg: JudgeConfig):
        super().__init__(cfg)
        if not cfg.model:
            raise ConfigError("eval_alpaca.judge.model is empty")
        url = cfg.base_url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self.counts = {"from_logprobs": 0, "from_text": 0, "unparseable": 0,
                       "requests_failed": 0, "retries": 0}
        self.last_error = ""

    def _count(self, name: str, error: str | None = None) -> None:
        with self._lock:
            self.counts[name] += 1
            if error is not None:
                self.last_error = error

    def _one(self, instruction: str, output: str, reference: str, language: str | None,
             key: str | None) -> float:
        cfg = self.cfg
        first = model_shown_first(instruction, cfg.seed)
        a, b = (output, reference) if first else (reference, output)
        payload: dict[str, Any] = {
            "model": cfg.model,
            "messages": judge_messages(instruction, a, b, cfg, language),
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
        }
        if cfg.logprobs:
            payload["logprobs"] = True
            if cfg.top_logprobs:
                payload["top_logprobs"] = cfg.top_logprobs
        try:
            data = post_chat_completion(self.url, payload, key, timeout_s=cfg.timeout_s,
                                        max_retries=cfg.max_retries, backoff_s=cfg.backoff_s,
                                        abort=self._abort,
                                        on_retry=lambda e: self._count("retries"),
                                        fatal=JudgeError)
        except RequestFailed as e:
            self._count("requests_failed", str(e))
            log.warning("judge request failed: %s", e)
            return math.nan
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            self._count("requests_failed", f"malformed reply from {self.url}: no choices")
            return math.nan
        model_idx = 0 if first else 1
        probs = _label_probs(choice) if cfg.logprobs else None
        if probs is not None:
            self._count("from_logprobs")
            return preference_from_probs(probs[model_idx], probs[1 - model_idx])
        content = (choice.get("message") or {}).get("content")
        label = parse_label(content if isinstance(content, str) else None)
        if label is None:
            self._count("unparseable")
            return math.nan
        self._count("from_text")
        return 2.0 if label == model_idx else 1.0

    def compare(self, instructions: list[str], outputs: list[str], references: list[str],
                language: str | None) -> JudgeResult:
        key = os.environ.get(self.cfg.api_key_env) or None
        before = dict(self.counts)
        self._abort.clear()
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            futures = [pool.submit(self._one, i, o, r, language, key)
                       for i, o, r in zip(instructions, outputs, references)]
            prefs: list[float] = []
            try:
                for done, f in enumerate(futures, start=1):
                    prefs.append(f.result())
                    if done % 200 == 0 or done == len(futures):
                        log.info("judged %d/%d comparisons", done, len(futures))
            except JudgeError:
                self._abort.set()
                for f in futures:
                    f.cancel()
                raise
        stats = {k: self.counts[k] - before[k] for k in self.counts}
        if prefs and stats["requests_failed"] == len(prefs):
            raise JudgeError(f"all {len(prefs)} requests to {self.url} failed; last error: "
                             f"{self.last_error}")
        stats["model"] = self.cfg.model
        return np.array(prefs, dtype=float), stats


# =========================================================================== hf


def _torch_dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        return "auto" if device != "cpu" else torch.float32
    return getattr(torch, name)


def label_token_ids(tokenizer: Any, label: str) -> list[int]:
    """Vocabulary ids a judge may answer ``label`` with: the single-token encodings of
    ``label`` and ``" " + label``.

    Raises:
        ConfigError: neither is a single token.
    """
    ids: list[int] = []
    for variant in (label, " " + label):
        enc = tokenizer.encode(variant, add_special_tokens=False)
        if len(enc) == 1 and enc[0] not in ids:
            ids.append(int(enc[0]))
    if not ids:
        raise ConfigError(f"the judge's tokenizer has no single token for the label {label!r}")
    return ids


@register_judge("hf")
class HFJudge(Judge):
    """A local causal LM judge: label-token probabilities after the pairwise prompt.

    Args:
        cfg: the judge config (``model`` names the model unless one is passed).
        model, tokenizer: an already loaded causal LM and its tokenizer (tests, reuse).
    """

    def __init__(self, cfg: JudgeConfig, model: Any = None, tokenizer: Any = None):
        super().__init__(cfg)
        if (model is None) != (tokenizer is None):
            raise ValueError("pass both model and tokenizer, or neither")
        if model is None and not cfg.model:
            raise ConfigError("eval_alpaca.judge.model is empty")
        self.model, self.tokenizer = model, tokenizer
        self._label_ids: list[list[int]] | None = None

    def load(self) -> tuple[Any, Any]:
        """Load (once) and return ``(model, tokenizer)``."""
        if self.model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            device = resolve_device(self.cfg.device)
            log.info("loading judge %s on %s", self.cfg.model, device)
            try:
                tok = AutoTokenizer.from_pretrained(self.cfg.model)
                model = AutoModelForCausalLM.from_pretrained(
                    self.cfg.model, dtype=_torch_dtype(self.cfg.dtype, device))
            except OSError as e:
                from xlrm.errors import MissingResourceError

                raise MissingResourceError(f"cannot load judge model {self.cfg.model!r}: "
                                           f"{e}") from None
            self.model, self.tokenizer = model.to(device).eval(), tok
        if self._label_ids is None:
            self._label_ids = [label_token_ids(self.tokenizer, lab) for lab in LABELS]
        return self.model, self.tokenizer

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the judge prompt: the chat template with the generation prompt,
        or (a tokenizer without one) the messages joined by blank lines."""
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return list(tok(text, add_special_tokens=False)["input_ids"])
        text = "\n\n".join(m["content"] for m in messages) + "\n\n"
        return list(tok(text)["input_ids"])

    def label_probs(self, prompts: list[list[int]]) -> np.ndarray:
        """``[len(prompts), 2]`` next-token probabilities of labels A and B (each the sum
        over its :func:`label_token_ids`), batched by length with left padding."""
        import torch

        model, tok = self.load()
        device = next(model.parameters()).device
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        out = np.zeros((len(prompts), 2))
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
        bs = self.cfg.batch_size
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            width = max(len(prompts[i]) for i in idx)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
                mask[row, width - len(prompts[i]):] = 1
            # positions count real tokens only, so a padded row equals the unpadded one
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            kwargs = dict(input_ids=ids.to(device), attention_mask=mask.to(device),
                          position_ids=pos.to(device))
            with torch.inference_mode():
                try:
                    logits = model(**kwargs, logits_to_keep=1).logits[:, -1, :]
                except TypeError:  # a model without logits_to_keep
                    logits = model(**kwargs).logits[:, -1, :]
            probs = torch.softmax(logits.float(), dim=-1).cpu()
            for k, label_ids in enumerate(self._label_ids or []):
                out[idx, k] = probs[:, label_ids].sum(dim=-1).numpy()
        return out

    def compare(self, instructions: list[str], outputs: list[str], references: list[str],
                language: str | None) -> JudgeResult:
        self.load()
        firsts = [model_shown_first(i, self.cfg.seed) for i in instructions]
        prompts = []
        for ins, out, ref, first in zip(instructions, outputs, references, firsts):
            a, b = (out, ref) if first else (ref, out)
            prompts.append(self.prompt_ids(judge_messages(ins, a, b, self.cfg, language)))
        limit = self.cfg.max_input_tokens
        ok = [i for i, p in enumerate(prompts) if limit is None or len(p) <= limit]
        prefs = np.full(len(prompts), np.nan)
        if ok:
            probs = self.label_probs([prompts[i] for i in ok])
            for (pa, pb), i in zip(probs, ok):
                p_model, p_ref = (pa, pb) if firsts[i] else (pb, pa)
                prefs[i] = preference_from_probs(float(p_model), float(p_ref))
        stats = {"too_long": len(prompts) - len(ok),
                 "label_mass_mean": float(probs.sum(axis=1).mean()) if ok else math.nan,
                 "model": self.cfg.model or type(self.model).__name__}
        return prefs, stats


# =========================================================================== rm


@register_judge("rm")
class RMJudge(Judge):
    """A reward-model judge: ``p = 1 + sigmoid(r(answer) - r(reference))``.

    Args:
        cfg: the judge config (``model`` is the RM folder unless one is passed).
        model, tokenizer: an already loaded sequence-classification RM and its tokenizer.
    """

    def __init__(self, cfg: JudgeConfig, model: Any = None, tokenizer: Any = None):
        super().__init__(cfg)
        if (model is None) != (tokenizer is None):
            raise ValueError("pass both model and tokenizer, or neither")
        if model is None and not cfg.model:
            raise ConfigError("eval_alpaca.judge.model is empty")
        self.model, self.tokenizer = model, tokenizer

    def load(self) -> tuple[Any, Any]:
        """Load (once) and return ``(model, tokenizer)``."""
        if self.model is None:
            from xlrm.reward import load_reward_model, load_tokenizer

            device = resolve_device(self.cfg.device)
            dtype = self.cfg.dtype
            if dtype == "auto":  # load_reward_model takes a dtype name
                dtype = "float32" if device == "cpu" else "bfloat16"
            model = load_reward_model(self.cfg.model, self.cfg.rm_base_model, dtype=dtype)
            try:
                tok = load_tokenizer(self.cfg.model)
            except (OSError, ValueError):
                if self.cfg.rm_base_model is None:
                    raise
                tok = load_tokenizer(self.cfg.rm_base_model)
            self.model, self.tokenizer = model.to(device), tok
        return self.model, self.tokenizer

    def compare(self, instructions: list[str], outputs: list[str], references: list[str],
                language: str | None) -> JudgeResult:
        from xlrm.reward import score_pairs

        model, tok = self.load()
        rows = [{"prompt": [{"role": "user", "content": ins}], "chosen": out, "rejected": ref}
                for ins, out, ref in zip(instructions, outputs, references)]
        r_out, r_ref, st = score_pairs(model, tok, rows, max_length=self.cfg.max_input_tokens,
                                       token_budget=self.cfg.token_budget)
        prefs = 1.0 + expit(np.asarray(r_out, dtype=float) - np.asarray(r_ref, dtype=float))
        stats = {"truncated_sequences": st["truncated_sequences"], "tokens": st["tokens"],
                 "reward_margin_mean": float(np.mean(r_out - r_ref)),
                 "model": self.cfg.model or type(model).__name__}
        return prefs, stats


__all__ = [
    "DEFAULT_LANGUAGE_NOTE", "DEFAULT_PROMPT_TEMPLATE", "DEFAULT_SYSTEM_PROMPT", "JUDGES",
    "LABELS", "HFJudge", "Judge", "JudgeConfig", "JudgeError", "LengthGLM", "OpenAIJudge",
    "RMJudge", "as_preferences", "fit_length_glm", "fit_soft_logistic", "judge_messages",
    "label_token_ids", "language_fidelity", "length_controlled_minimal", "make_judge",
    "model_shown_first", "parse_label", "post_chat_completion", "preference_from_probs",
    "register_judge", "summarize", "win_rate_metrics",
]
