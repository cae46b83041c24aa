"""The ``hf`` judge: a local causal LM's next-token probabilities of the two labels after
the pairwise prompt (loaded by :mod:`xlrm.modeling`)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from xlrm.errors import ConfigError
from xlrm.journal import digest
from xlrm.judges.base import LocalJudge, prompt_settings, prompt_texts, register_judge
from xlrm.judges.config import LABELS, JudgeConfig
from xlrm.judges.prompts import judge_messages

log = logging.getLogger(__name__)


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
class HFJudge(LocalJudge):
    """A local causal LM judge: label-token probabilities after the pairwise prompt.

    Args:
        cfg: the judge config (``model`` names the model unless one is passed).
        model, tokenizer: an already loaded causal LM and its tokenizer (tests, reuse).
    """

    def __init__(self, cfg: JudgeConfig, model: Any = None, tokenizer: Any = None):
        super().__init__(cfg, model, tokenizer)
        self._label_ids: list[list[int]] | None = None
        self._content: dict[str, Any] | None = None
        self._passed_in = model is not None
        self._dtype = ""

    def load(self) -> tuple[Any, Any]:
        """Load (once) and return ``(model, tokenizer)``."""
        if self.model is None:
            from xlrm.modeling import load_causal, load_tokenizer

            log.info("loading judge %s (device %s)", self.cfg.model, self.cfg.device)
            tok = load_tokenizer(self.cfg.model, require_pad=False)
            self.model = load_causal(self.cfg.model, dtype=self.cfg.dtype,
                                     device=self.cfg.device)
            self.tokenizer = tok
        if self._label_ids is None:
            self._label_ids = [label_token_ids(self.tokenizer, lab) for lab in LABELS]
            self.log_settings()
        return self.model, self.tokenizer

    def settings(self) -> dict[str, Any]:
        cfg = self.cfg
        return {**self.model_settings(), "batch_size": cfg.batch_size,
                "max_input_tokens": cfg.max_input_tokens, "label_token_ids": self._label_ids,
                "chat_template": bool(getattr(self.tokenizer, "chat_template", None)),
                **prompt_settings(cfg)}

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
        over its :func:`label_token_ids`), batched by length with left padding. Under a
        multi-process launch the batches are split between the ranks and every rank gets
        all probabilities (:func:`xlrm.distributed.map_shared`)."""
        import torch

        from xlrm.distributed import map_shared

        model, tok = self.load()
        device = next(model.parameters()).device
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        out = np.zeros((len(prompts), 2))
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
        bs = self.cfg.batch_size
        batches = [order[start:start + bs] for start in range(0, len(order), bs)]

        def run(idx: list[int]) -> np.ndarray:
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
            got = np.zeros((len(idx), 2))
            for k, label_ids in enumerate(self._label_ids or []):
                got[:, k] = probs[:, label_ids].sum(dim=-1).numpy()
            return got

        costs = [len(idx) * len(prompts[idx[0]]) for idx in batches]
        for idx, got in zip(batches, map_shared(batches, run, costs)):
            out[idx] = got
        return out

    def ask_probs(self, instructions: list[str], outputs_a: list[str], outputs_b: list[str],
                  language: str | None) -> tuple[np.ndarray, list[int]]:
        """Label probabilities ``[n, 2]`` (A, B) with ``outputs_a`` shown as A, and the
        indices judged: a prompt over ``max_input_tokens`` is not (its row is NaN)."""
        self.load()
        prompts = [self.prompt_ids(judge_messages(i, a, b, self.cfg, language))
                   for i, a, b in zip(instructions, outputs_a, outputs_b)]
        limit = self.cfg.max_input_tokens
        ok = [i for i, p in enumerate(prompts) if limit is None or len(p) <= limit]
        probs = np.full((len(prompts), 2), np.nan)
        if ok:
            probs[ok] = self.label_probs([prompts[i] for i in ok])
        return probs, ok

    def query(self, instructions, outputs_a, outputs_b, language, emit):
        """Records ``{"p": P(A) / (P(A) + P(B)), "mass": P(A) + P(B)}`` from the label
        probabilities (``p`` None when both are 0), or ``{"p": None, "too_long": true}``
        for a prompt over ``max_input_tokens``."""
        probs, ok = self.ask_probs(instructions, outputs_a, outputs_b, language)
        records: list[dict | None] = [{"p": None, "too_long": True}
                                      for _ in range(len(instructions))]
        for i in ok:
            pa = float(probs[i, 0])
            total = float(probs[i].sum())
            records[i] = {"p": pa / total if total > 0 else None, "mass": total}
        return records, {}

    def record_stats(self, records):
        masses = [r["mass"] for r in records if r is not None and "mass" in r]
        return {"too_long": sum(1 for r in records if r is not None and r.get("too_long")),
                "label_mass_mean": float(np.mean(np.array(masses))) if masses else math.nan}

    def verdict_settings(self) -> dict[str, Any]:
        """Model (the content digest of a local folder; of the weights and the tokenizer
        when a loaded model was passed in), the resolved dtype, ``max_input_tokens`` and the
        prompt texts. A hub id stands for itself."""
        from xlrm.judges.cache import folder_digest, tensors_digest
        from xlrm.modeling import dtype_name, resolve_device, resolve_dtype

        cfg = self.cfg
        if self._content is None:
            if self.model is not None and self._passed_in:
                # weights passed in: hash them, and the tokenizer's prompt-making parts
                tok = self.tokenizer
                self._content = {"weights": tensors_digest(self.model),
                                 "chat_template": getattr(tok, "chat_template", None),
                                 "vocab": digest(sorted(tok.get_vocab().items()))}
                self._dtype = dtype_name(next(self.model.parameters()).dtype)
            else:
                local = Path(cfg.model).is_dir()
                self._content = {"folder": folder_digest(cfg.model)} if local else {}
                self._dtype = dtype_name(resolve_dtype(cfg.dtype, resolve_device(cfg.device)))
        return {"kind": self.kind, "model": cfg.model, **self._content, "dtype": self._dtype,
                "max_input_tokens": cfg.max_input_tokens, **prompt_texts(cfg)}
