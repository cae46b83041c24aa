"""The ``rm`` judge: a reward model's margin, ``p = 1 + sigmoid(r(answer) - r(reference))``
(loaded by :mod:`xlrm.modeling`, scored by :func:`xlrm.reward.score.score_pairs`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from xlrm.judges.base import JudgeResult, LocalJudge, register_judge
from xlrm.judges.config import JudgeConfig
from xlrm.winrate import expit


@register_judge("rm")
class RMJudge(LocalJudge):
    """A reward-model judge: ``p = 1 + sigmoid(r(answer) - r(reference))``.

    Args:
        cfg: the judge config (``model`` is the RM folder unless one is passed).
        model, tokenizer: an already loaded sequence-classification RM and its tokenizer.
    """

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

    def compare(self, instructions: list[str], outputs: list[str], references: list[str],
                language: str | None) -> JudgeResult:
        from xlrm.reward.score import score_pairs

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
