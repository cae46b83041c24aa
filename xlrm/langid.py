"""Language identification of translated text, over ``lingua`` (lingua-language-detector).

Machine translation fails quietly: a model may copy the English source, switch to a
neighbouring language (Spanish for Italian, Japanese for Chinese) or emit garbage.
:class:`LanguageChecker` catches the first two. It restricts ``lingua`` to a small
candidate set (the languages asked for plus a few languages they are commonly
confused with, plus English, the usual source) which is both faster and more
accurate than detecting among all 75 languages.

Identification is unreliable on short strings ("OK.", "x = 3", a list of numbers), so
texts with fewer than ``min_chars`` characters left after removing code, URLs,
numbers and punctuation count as passing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from xlrm.errors import ConfigError

# Languages a text in the key language is commonly mistaken for (or that a weak MT
# model drifts into). Only those lingua knows are used.
CONFUSABLES: dict[str, tuple[str, ...]] = {
    "en": ("de", "nl", "fr", "es"),
    "es": ("pt", "ca", "it"),
    "it": ("es", "pt", "ca", "fr", "la"),
    "pt": ("es", "ca", "it"),
    "fr": ("ca", "it", "es"),
    "ca": ("es", "fr", "it"),
    "ro": ("it", "es"),
    "de": ("nl", "da", "sv"),
    "nl": ("de", "af"),
    "ko": ("ja", "zh"),
    "ja": ("zh", "ko"),
    "zh": ("ja", "ko"),
    "ru": ("uk", "bg", "be"),
    "uk": ("ru", "be"),
    "cs": ("sk", "pl"),
    "pl": ("cs", "sk"),
    "id": ("ms", "tl"),
    "tr": ("az",),
    "ar": ("fa", "ur"),
    "fa": ("ar", "ur"),
    "he": ("ar",),
    "hi": ("mr", "ur"),
    "el": (),
    "vi": (),
}

# Scripts of language tags lingua does not tell apart ("zh-Hant" is plain Chinese to it).
_ALIASES = {"zh-Hant": "zh", "zh-Hans": "zh", "nb": "nb", "no": "nb"}

_FENCED = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_INLINE = re.compile(r"`[^`\n]*`")
_URL = re.compile(r"(?:https?://|www\.)\S+")
_NOISE = re.compile(r"[\d\W_]+", re.UNICODE)

_DETECTORS: dict[frozenset[str], Any] = {}
_LOCK = threading.Lock()


def base_code(code: str) -> str:
    """The ISO 639-1 code lingua knows for an xlrm language tag (``zh-Hant`` -> ``zh``)."""
    return _ALIASES.get(code, code.split("-")[0].lower())


def _lingua_language(code: str):
    """The ``lingua.Language`` for an ISO code, or None if lingua does not know it."""
    from lingua import IsoCode639_1, Language

    try:
        iso = IsoCode639_1.from_str(base_code(code))
        return Language.from_iso_code_639_1(iso)
    except (ValueError, AttributeError):
        return None


def strip_unidentifiable(text: str) -> str:
    """Remove what carries no language signal: code, URLs, digits, punctuation, symbols.

    Runs of removed characters become one space, so word boundaries survive.
    """
    text = _FENCED.sub(" ", text)
    text = _INLINE.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _NOISE.sub(" ", text)
    return " ".join(text.split())


def _detector(codes: frozenset[str]):
    """A lingua detector over ``codes``, built once per candidate set and cached.

    Building is slow (and lingua loads each language model on first use), so
    detectors are shared between checkers process-wide.
    """
    with _LOCK:
        det = _DETECTORS.get(codes)
        if det is None:
            from lingua import LanguageDetectorBuilder

            langs = [_lingua_language(c) for c in sorted(codes)]
            builder = LanguageDetectorBuilder.from_languages(*[lang for lang in langs if lang])
            if hasattr(builder, "with_low_memory_mode"):  # not in every lingua release
                builder = builder.with_low_memory_mode()
            det = builder.build()
            _DETECTORS[codes] = det
        return det


class LanguageChecker:
    """Checks that texts are written in an expected language.

    Args:
        languages: xlrm language codes (ISO 639-1, see :mod:`xlrm.languages`) the texts
            may be in. The candidate set lingua chooses among is these languages, their
            :data:`CONFUSABLES` and English.
        min_chars: texts with fewer identifiable characters than this (after
            :func:`strip_unidentifiable`) are not judged and count as passing.

    Raises:
        ConfigError: a language lingua cannot identify.
    """

    def __init__(self, languages: Sequence[str], min_chars: int = 20):
        if not languages:
            raise ConfigError("LanguageChecker needs at least one language")
        unknown = [c for c in languages if _lingua_language(c) is None]
        if unknown:
            raise ConfigError(f"language identification does not support {unknown}")
        candidates = {base_code(c) for c in languages} | {"en"}
        for code in list(candidates):
            candidates.update(c for c in CONFUSABLES.get(code, ()) if _lingua_language(c))
        self.languages = list(languages)
        self.candidates = frozenset(candidates)
        self.min_chars = min_chars

    @property
    def detector(self):
        """The shared lingua detector for this checker's candidate set (built on first use)."""
        return _detector(self.candidates)

    def detect(self, text: str) -> str | None:
        """The ISO 639-1 code of the most likely language of ``text``.

        None when nothing identifiable is left after stripping code and numbers, or
        when lingua cannot decide.
        """
        clean = strip_unidentifiable(text)
        if not clean:
            return None
        lang = self.detector.detect_language_of(clean)
        return None if lang is None else lang.iso_code_639_1.name.lower()

    def is_language(self, text: str, lang: str) -> bool:
        """True if ``text`` is in ``lang``, or too short to tell (see ``min_chars``)."""
        clean = strip_unidentifiable(text)
        if len(clean) < self.min_chars:
            return True
        found = self.detect(clean)
        return found is None or found == base_code(lang)

    def are_language(self, texts: Iterable[str], lang: str, chunk: int = 4096) -> list[bool]:
        """:meth:`is_language` for many texts, detected in parallel by lingua, ``chunk``
        texts at a time (so the cleaned copies of a large set are not all held at once)."""
        texts = list(texts)
        if len(texts) > chunk:
            return [ok for i in range(0, len(texts), chunk)
                    for ok in self.are_language(texts[i:i + chunk], lang, chunk)]
        clean = [strip_unidentifiable(t) for t in texts]
        judged = [i for i, c in enumerate(clean) if len(c) >= self.min_chars]
        out = [True] * len(texts)
        if not judged:
            return out
        found = self.detector.detect_languages_in_parallel_of([clean[i] for i in judged])
        want = base_code(lang)
        for i, result in zip(judged, found):
            out[i] = result is None or result.iso_code_639_1.name.lower() == want
        return out
