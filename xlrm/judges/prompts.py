"""What a judge is shown and how its answer is read: the messages and the label in a text
reply."""

from __future__ import annotations

import re

from xlrm import languages
from xlrm.judges.config import DEFAULT_LANGUAGE_NOTE, LABELS, JudgeConfig


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
