"""What a judge is shown and how its answer is read: the order of the two outputs, the
messages, the label in a text reply, the preference from label probabilities."""

from __future__ import annotations

import hashlib
import math
import random
import re

from xlrm import languages
from xlrm.judges.config import DEFAULT_LANGUAGE_NOTE, LABELS, JudgeConfig


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
