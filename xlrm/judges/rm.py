"""The ``rm`` judge: a reward model's margin, ``p = 1 + sigmoid(r(answer) - r(reference))``
(loaded by :mod:`xlrm.modeling`, scored by :func:`xlrm.reward.score.score_pairs`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from xlrm.judges.base import LocalJudge, register_judge
from xlrm.judges.config import JudgeConfig
from xlrm.winrate import expit


@register_judge("rm")
class RMJudge(LocalJudge):
    """A reward-model judge: ``P(A better) = sigmoid(r(A) - r(B))``, so the preference of
    an answer over its reference is ``1 + sigmoid(r(answer) - r(reference))``. The verdict
    cannot depend on the order (``position_free``: asked once per item) and is not cached
    (scoring is as cheap as looking it up).

    Args:
        cfg: the judge config (``model`` is the RM folder unless one is passed).
        model, tokenizer: an already loaded sequence-classification RM and its tokenizer.
    """

    position_free = True

    def __init__(self, cfg: JudgeConfig, model: Any = None, tokenizer: Any = None):
        super().__init__(cfg, model, tokenizer)
        self._logged = False

    def load(self) -> tuple[Any, Any]:
        """Load (once) and return ``(model, tokenizer)``: a full RM folder, or a LoRA
        adapter over ``rm_base_model`` (merged; its tokenizer from the base when the
        adapter folder has none)."""
        if self.model is None:
            from xlrm.modeling import load_reward_model, load_tokenizer

            self.model = load_reward_model(self.cfg.model, self.cfg.rm_base_model,
                                           dtype=self.cfg.dtype, device=self.cfg.device)
            self.tokenizer = load_tokenizer(self.cfg.model, fallback=self.cfg.rm_base_model)
        if not self._logged:
            self._logged = True
            self.log_settings()
        return self.model, self.tokenizer

    def settings(self) -> dict[str, Any]:
        cfg = self.cfg
        return {**self.model_settings(), "rm_base_model": cfg.rm_base_model,
                "max_input_tokens": cfg.max_input_tokens, "token_budget": cfg.token_budget}

    def query(self, instructions, outputs_a, outputs_b, language, emit):
        """Records ``{"p": sigmoid(r(A) - r(B)), "margin": r(A) - r(B)}``, both scored as
        replies to the instruction exactly as :func:`xlrm.reward.score.score_pairs` scores
        a pair; counters ``truncated_sequences`` and ``tokens``."""
        from xlrm.reward.score import score_pairs

        model, tok = self.load()
        rows = [{"prompt": [{"role": "user", "content": ins}], "chosen": a, "rejected": b}
                for ins, a, b in zip(instructions, outputs_a, outputs_b)]
        r_a, r_b, st = score_pairs(model, tok, rows, max_length=self.cfg.max_input_tokens,
                                   token_budget=self.cfg.token_budget)
        margin = np.asarray(r_a, dtype=float) - np.asarray(r_b, dtype=float)
        p = expit(margin)
        return ([{"p": float(v), "margin": float(m)} for v, m in zip(p, margin)],
                {"truncated_sequences": st["truncated_sequences"], "tokens": st["tokens"]})

    def record_stats(self, records):
        margins = [r["margin"] for r in records if r is not None]
        return {"reward_margin_mean": float(np.mean(margins)) if margins else float("nan")}
