"""Which language a vocabulary token belongs to: scripts, and the corpus for Latin tokens
(rule: :func:`assign_token_languages`)."""

from __future__ import annotations

import bisect
import unicodedata

import numpy as np
import pandas as pd

from xlrm import languages as langs
from xlrm.errors import ConfigError

# Unicode blocks of the scripts the analysis tells apart (letters only: categories L*).
_SCRIPT_RANGES: list[tuple[int, int, str]] = sorted([
    (0x0041, 0x005A, "Latin"), (0x0061, 0x007A, "Latin"), (0x00AA, 0x00AA, "Latin"),
    (0x00BA, 0x00BA, "Latin"), (0x00C0, 0x024F, "Latin"), (0x0250, 0x02AF, "Latin"),
    (0x1D00, 0x1DBF, "Latin"), (0x1E00, 0x1EFF, "Latin"), (0x2C60, 0x2C7F, "Latin"),
    (0xA720, 0xA7FF, "Latin"), (0xAB30, 0xAB6F, "Latin"), (0xFB00, 0xFB06, "Latin"),
    (0xFF21, 0xFF3A, "Latin"), (0xFF41, 0xFF5A, "Latin"),
    (0x0370, 0x03FF, "Greek"), (0x1F00, 0x1FFF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"), (0x1C80, 0x1C8F, "Cyrillic"), (0x2DE0, 0x2DFF, "Cyrillic"),
    (0xA640, 0xA69F, "Cyrillic"),
    (0x0590, 0x05FF, "Hebrew"), (0xFB1D, 0xFB4F, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"), (0x0750, 0x077F, "Arabic"), (0x08A0, 0x08FF, "Arabic"),
    (0xFB50, 0xFDFF, "Arabic"), (0xFE70, 0xFEFF, "Arabic"),
    (0x0900, 0x097F, "Devanagari"), (0xA8E0, 0xA8FF, "Devanagari"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x1100, 0x11FF, "Hangul"), (0x3130, 0x318F, "Hangul"), (0xA960, 0xA97F, "Hangul"),
    (0xAC00, 0xD7AF, "Hangul"), (0xD7B0, 0xD7FF, "Hangul"), (0xFFA0, 0xFFDC, "Hangul"),
    (0x3040, 0x309F, "Kana"), (0x30A0, 0x30FF, "Kana"), (0x31F0, 0x31FF, "Kana"),
    (0xFF66, 0xFF9F, "Kana"), (0x1B000, 0x1B16F, "Kana"),
    (0x2E80, 0x2FDF, "Han"), (0x3005, 0x3005, "Han"), (0x3007, 0x3007, "Han"),
    (0x3021, 0x3029, "Han"), (0x3038, 0x303B, "Han"), (0x3400, 0x4DBF, "Han"),
    (0x4E00, 0x9FFF, "Han"), (0xF900, 0xFAFF, "Han"), (0x20000, 0x3FFFF, "Han"),
])
_RANGE_STARTS = [r[0] for r in _SCRIPT_RANGES]

# Scripts a language's tokens can be written in, from its FLORES-200 script suffix.
_FLORES_SCRIPTS: dict[str, tuple[str, ...]] = {
    "Latn": ("Latin",), "Hang": ("Hangul",), "Hans": ("Han",), "Hant": ("Han",),
    "Jpan": ("Han", "Kana"), "Cyrl": ("Cyrillic",), "Arab": ("Arabic",), "Grek": ("Greek",),
    "Hebr": ("Hebrew",), "Deva": ("Devanagari",),
}


def char_script(ch: str) -> str | None:
    """Script of one letter (``None`` for a non-letter; ``"Other"`` outside the known blocks)."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    cp = ord(ch)
    i = bisect.bisect_right(_RANGE_STARTS, cp) - 1
    if i >= 0 and _SCRIPT_RANGES[i][0] <= cp <= _SCRIPT_RANGES[i][1]:
        return _SCRIPT_RANGES[i][2]
    return "Other"


def token_script(text: str) -> str | None:
    """Script of a token's letters: ``None`` without letters, ``"Mixed"`` when they mix scripts.

    Kana with or without Han is ``"Kana"`` (Japanese); Han alone is ``"Han"``.
    """
    scripts = {s for s in map(char_script, text) if s is not None}
    if not scripts:
        return None
    if "Kana" in scripts and scripts <= {"Kana", "Han"}:
        return "Kana"
    if len(scripts) == 1:
        return next(iter(scripts))
    return "Mixed"


def language_scripts(lang: str) -> tuple[str, ...]:
    """Scripts of a language's tokens (from its FLORES-200 code: ``kor_Hang`` -> Hangul)."""
    suffix = langs.flores(lang).split("_", 1)[1]
    if suffix not in _FLORES_SCRIPTS:
        raise ConfigError(f"language {lang!r}: script {suffix!r} is not supported by the "
                          f"token-language rule (known: {sorted(_FLORES_SCRIPTS)})")
    return _FLORES_SCRIPTS[suffix]


def _special_ids(tokenizer) -> set[int]:
    ids = set(tokenizer.all_special_ids)
    for i, added in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if getattr(added, "special", False):
            ids.add(int(i))
    return ids


def assign_token_languages(tokenizer, corpus_by_lang: dict[str, list[str]], *,
                           languages: list[str] | None = None, min_count: int = 5,
                           min_share: float = 0.6, attested_only: bool = False,
                           vocab_size: int | None = None) -> pd.DataFrame:
    """Assign every vocabulary token a language, or exclude it; one row per token.

    The rule, applied to the token decoded on its own (``tokenizer.decode([id])``), letters
    only (Unicode category L*):

    1. Special tokens and tokens without letters (punctuation, digits, whitespace, byte
       fragments that decode to U+FFFD) are excluded.
    2. The token's script is the script of all its letters (Kana with or without Han counts as
       Kana); a token that mixes scripts, or whose script none of ``languages`` is written in,
       is excluded.
    3. A non-Latin script written by exactly one of ``languages`` decides: Hangul -> ko,
       Han -> zh, Kana -> ja, Cyrillic -> ru, Arabic -> ar, Greek -> el, ... (rule
       ``script``).
    4. Otherwise (Latin script, or a script shared by several requested languages: Han with
       zh and ja, Cyrillic with ru and uk) the parallel corpus decides among the candidates:
       the token's count in each candidate's tokenized text, divided by that language's total
       token count, gives a relative frequency; the token goes to the language with the
       largest one when it occurs at least ``min_count`` times in all candidates' texts and
       that language's share of the relative frequencies is at least ``min_share`` (rule
       ``corpus``); else it is excluded as rare or ambiguous.

    Rule 3 takes every token of a script, rule 4 only tokens frequent in the corpus; with
    ``attested_only`` a script-assigned token must also occur ``min_count`` times in its
    language's corpus, so both groups are drawn alike (frequent tokens) and a difference in
    norms is not a frequency effect.

    Returns columns ``token_id, token, script, language, rule, count, share``
    (``language`` None and ``rule`` the reason for excluded tokens).
    """
    languages = list(languages) if languages is not None else list(corpus_by_lang)
    if not languages:
        raise ConfigError("token languages: no language given")
    if not 0.0 < min_share <= 1.0:
        raise ConfigError(f"min_share must be in (0, 1], got {min_share}")
    if min_count < 1:
        raise ConfigError(f"min_count must be >= 1, got {min_count}")
    by_script: dict[str, list[str]] = {}
    for lang in languages:
        for s in language_scripts(lang):
            by_script.setdefault(s, []).append(lang)
    need_corpus = sorted({lang for s, ls in by_script.items()
                          if s == "Latin" or len(ls) > 1 or attested_only for lang in ls})
    missing = [lang for lang in need_corpus if not corpus_by_lang.get(lang)]
    if missing:
        raise ConfigError(f"token languages: {missing} need corpus text (their tokens are told "
                          "apart by frequency), none given")

    n = len(tokenizer) if vocab_size is None else min(vocab_size, len(tokenizer))
    counts: dict[str, np.ndarray] = {}
    totals: dict[str, int] = {}
    for lang in need_corpus:
        enc = tokenizer(list(corpus_by_lang[lang]), add_special_tokens=False)["input_ids"]
        flat = np.fromiter((t for seq in enc for t in seq), dtype=np.int64)
        flat = flat[flat < n]
        counts[lang] = np.bincount(flat, minlength=n)[:n]
        totals[lang] = max(int(flat.size), 1)

    texts = tokenizer.batch_decode([[i] for i in range(n)], skip_special_tokens=False,
                                   clean_up_tokenization_spaces=False)
    specials = _special_ids(tokenizer)
    rows = []
    for tid, text in enumerate(texts):
        script = token_script(text)
        rec = {"token_id": tid, "token": text, "script": script, "language": None,
               "rule": None, "count": 0, "share": np.nan}
        rows.append(rec)
        if tid in specials:
            rec["rule"] = "excluded:special"
            continue
        if script is None:
            rec["rule"] = "excluded:no-letters"
            continue
        cands = by_script.get(script, [])
        if not cands:
            rec["rule"] = "excluded:script-" + ("mixed" if script == "Mixed" else "not-requested")
            continue
        if script != "Latin" and len(cands) == 1:
            if attested_only:
                rec["count"] = int(counts[cands[0]][tid])
                if rec["count"] < min_count:
                    rec["rule"] = "excluded:rare"
                    continue
            rec.update(language=cands[0], rule="script")
            continue
        c = np.array([counts[lang][tid] for lang in cands], dtype=np.float64)
        rec["count"] = int(c.sum())
        if c.sum() < min_count:
            rec["rule"] = "excluded:rare"
            continue
        rel = c / np.array([totals[lang] for lang in cands], dtype=np.float64)
        best = int(np.argmax(rel))
        share = float(rel[best] / rel.sum())
        rec["share"] = round(share, 6)
        if share < min_share:
            rec["rule"] = "excluded:ambiguous"
            continue
        rec.update(language=cands[best], rule="corpus")
    return pd.DataFrame(rows)


def token_languages(tokenizer, corpus_by_lang: dict[str, list[str]], *,
                    languages: list[str] | None = None, min_count: int = 5,
                    min_share: float = 0.6, attested_only: bool = False,
                    vocab_size: int | None = None) -> dict[int, str]:
    """``{token_id: language}`` of the tokens :func:`assign_token_languages` assigns."""
    table = assign_token_languages(tokenizer, corpus_by_lang, languages=languages,
                                   min_count=min_count, min_share=min_share,
                                   attested_only=attested_only, vocab_size=vocab_size)
    kept = table[table["language"].notna()]
    return dict(zip(kept["token_id"].astype(int), kept["language"]))

