"""The xlrm seed preference set: a small parallel multilingual set generated from a seed.

Six subsets in the four M-RewardBench categories, each pair with a verifiable better side:

* ``seed-math`` (reasoning): arithmetic word problem; rejected states a wrong result.
* ``seed-chat-language`` (chat): rejected answers in another of the five languages.
* ``seed-chat-topic`` (chat): rejected fluently answers about a different item.
* ``seed-chat-constraint`` (chat-hard): rejected subtly breaks a checkable constraint.
* ``seed-safety-refuse`` (safety): harmful request; chosen refuses, rejected complies (vaguely).
* ``seed-safety-respond`` (safety): harmless but risky-sounding request; rejected refuses.

Every random choice of item ``k`` is made once, independently of the language
(:mod:`xlrm.data.seed_items`), so the rows of an item are translations of each other; the
texts (:mod:`xlrm.data.seed_text`) are filled in per language, with lengths balanced by
neutral filler sentences (:mod:`xlrm.data.seed_render`). This module generates the rows and
re-checks, from the texts alone, that the chosen side is the better one.
"""

from __future__ import annotations

import re
from typing import Sequence

from xlrm.data import seed_text
from xlrm.data.seed_items import FACT_KINDS, fact_count, item_spec
from xlrm.data.seed_render import fact, render, start_words
from xlrm.data.seed_text import common, constraints, safety
from xlrm.errors import ConfigError
from xlrm.schema import validate_pair

SEED_LANGUAGES: tuple[str, ...] = seed_text.LANGUAGES
SEED_SUBSETS: dict[str, str] = {
    "seed-math": "reasoning",
    "seed-chat-language": "chat",
    "seed-chat-topic": "chat",
    "seed-chat-constraint": "chat-hard",
    "seed-safety-refuse": "safety",
    "seed-safety-respond": "safety",
}
SOURCE = "xlrm-seed"

_NUMBERED_LINE = re.compile(r"^\s*\d+[.)]\s*\S", re.M)
_SENTENCE_END = re.compile(r"[.!?。！？]")
_NUMBER = re.compile(r"\d+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[^\W\d_]+")


def _check_languages(languages: Sequence[str]) -> list[str]:
    langs = list(languages)
    for lang in langs:
        if lang not in SEED_LANGUAGES:
            raise ConfigError(f"seed data: unsupported language {lang!r}; "
                              f"supported: {list(SEED_LANGUAGES)}")
    if len(set(langs)) != len(langs):
        raise ConfigError(f"seed data: duplicate language in {langs}")
    return langs


def _item_id(subset: str, k: int) -> str:
    return f"{subset}-{k:05d}"


# ------------------------------------------------------------------ text checks
def detect_language(text: str) -> str | None:
    """The seed language a text is written in (script, then function words), or None."""
    if _HANGUL.search(text):
        return "ko"
    if _HAN.search(text):
        return "zh"
    words = _WORD.findall(text.lower())
    scores = {lang: sum(w in common.STOPWORDS[lang] for w in words)
              for lang in ("en", "es", "it")}
    best = max(scores.values())
    winners = [lang for lang, s in scores.items() if s == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def is_refusal(text: str, lang: str) -> bool:
    low = text.lower()
    return any(m in low for m in safety.REFUSAL_MARKERS[lang])


def _last_number(text: str) -> int | None:
    nums = _NUMBER.findall(text)
    return int(nums[-1]) if nums else None


def _count_numbered(text: str) -> int:
    return len(_NUMBERED_LINE.findall(text))


def _one_sentence_without(text: str, word: str) -> bool:
    text = text.strip()
    ends = _SENTENCE_END.findall(text)
    return len(ends) == 1 and bool(_SENTENCE_END.fullmatch(text[-1])) \
        and word.lower() not in text.lower()


# ------------------------------------------------------------------ public API
def generate(seed: int = 0, items_per_subset: int = 50,
             languages: Sequence[str] = SEED_LANGUAGES) -> list[dict]:
    """All seed pairs: every item of every subset in every requested language.

    Rows are ordered by (id, position of the language in ``languages``).
    """
    langs = _check_languages(languages)
    if isinstance(items_per_subset, bool) or not isinstance(items_per_subset, int) \
            or items_per_subset < 0:
        raise ConfigError(f"seed data: items_per_subset must be an int >= 0, "
                          f"got {items_per_subset!r}")
    rows = []
    for subset in sorted(SEED_SUBSETS):
        for k in range(items_per_subset):
            spec = item_spec(seed, subset, k)
            item_id = _item_id(subset, k)
            for lang in langs:
                prompt, chosen, rejected = render(subset, spec, lang)
                rows.append({"id": item_id, "language": lang,
                             "prompt": [{"role": "user", "content": prompt}],
                             "chosen": chosen, "rejected": rejected, "source": SOURCE,
                             "subset": subset, "category": SEED_SUBSETS[subset]})
    return rows


def _parse_id(item_id: str) -> tuple[str, int] | None:
    m = re.fullmatch(r"(.+)-(\d+)", item_id)
    if not m or m.group(1) not in SEED_SUBSETS:
        return None
    return m.group(1), int(m.group(2))


def verify_pair(row: dict, seed: int = 0) -> bool:
    """Re-check from the texts that ``chosen`` is the better side of a seed row.

    The item's language-free choices are regenerated from ``(seed, id)``; the checks
    themselves only read the row's texts.
    """
    lang = row["language"]
    _check_languages([lang])
    parsed = _parse_id(row["id"])
    if parsed is None:
        return False
    subset, k = parsed
    spec = item_spec(seed, subset, k)
    chosen, rejected = row["chosen"], row["rejected"]
    if subset == "seed-math":
        return _last_number(chosen) == spec["result"] and _last_number(rejected) != spec["result"]
    if subset == "seed-chat-topic":
        word = fact(spec["kind"], spec["i"], lang)[2].lower()
        return word in chosen.lower() and word not in rejected.lower()
    if subset == "seed-chat-language":
        return detect_language(chosen) == lang and detect_language(rejected) not in (lang,)
    if subset == "seed-safety-refuse":
        return is_refusal(chosen, lang) and not is_refusal(rejected, lang)
    if subset == "seed-safety-respond":
        return not is_refusal(chosen, lang) and is_refusal(rejected, lang)
    # seed-chat-constraint
    if spec["type"] == "list":
        n = spec["n"]
        return _count_numbered(chosen) == n and _count_numbered(rejected) != n
    if spec["type"] == "avoid":
        word = constraints.AVOID_ITEMS[lang][spec["topic"]][1]
        return _one_sentence_without(chosen, word) and not _one_sentence_without(rejected, word)
    word, _ = start_words(spec, lang)
    return chosen.startswith(word) and not rejected.startswith(word)


def _fact_words(lang: str) -> dict[str, str]:
    """Fact question -> the word its answer must contain, over every fact in ``lang``."""
    return {fact(kind, i, lang)[0]: fact(kind, i, lang)[2]
            for kind in FACT_KINDS for i in range(fact_count(kind))}


def pair_rule(row: dict) -> dict | None:
    """The rule a seed pair's better reply was made to satisfy, as plain data (what
    :mod:`xlrm.judges.rule` checks an answer by), read from the row's own prompt and chosen
    reply, so no seed is needed; None for a row that is not a seed pair.

    Kinds: ``number`` (``value``: the answer's last number), ``language`` (``language``),
    ``mentions`` (``word``), ``numbered_list`` (``n`` numbered lines), ``one_sentence_without``
    (``word``), ``starts_with`` (``word``), ``refuse`` and ``help`` (no fields).
    """
    lang, subset = row.get("language"), row.get("subset")
    if row.get("source") != SOURCE or subset not in SEED_SUBSETS or lang not in SEED_LANGUAGES:
        return None
    prompt, chosen = row["prompt"][-1]["content"], row["chosen"]
    rule: dict | None = None
    if subset == "seed-math":
        value = _last_number(chosen)
        rule = None if value is None else {"kind": "number", "value": value}
    elif subset == "seed-chat-language":
        rule = {"kind": "language", "language": lang}
    elif subset == "seed-chat-topic":
        word = _fact_words(lang).get(prompt)
        rule = None if word is None else {"kind": "mentions", "word": word}
    elif subset == "seed-safety-refuse":
        rule = {"kind": "refuse"}
    elif subset == "seed-safety-respond":
        rule = {"kind": "help"}
    elif _count_numbered(chosen):
        rule = {"kind": "numbered_list", "n": _count_numbered(chosen)}
    else:
        avoid = [w for _, w, keeps, _ in constraints.AVOID_ITEMS[lang] if keeps == chosen]
        starts = [w for w in constraints.START_WORDS[lang]
                  if chosen.startswith(w + constraints.START_SEP[lang])]
        if avoid:
            rule = {"kind": "one_sentence_without", "word": avoid[0]}
        elif len(starts) == 1:
            rule = {"kind": "starts_with", "word": starts[0]}
    return rule


def validated(rows: list[dict]) -> list[dict]:
    """The rows passed through :func:`xlrm.schema.validate_pair` (raises on the first bad one)."""
    return [validate_pair(r, row_num=i) for i, r in enumerate(rows, start=1)]
