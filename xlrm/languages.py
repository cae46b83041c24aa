"""Language codes: xlrm uses ISO 639-1 codes; M-RewardBench uses FLORES-200 codes."""

from __future__ import annotations

from xlrm.errors import ConfigError

# ISO 639-1 -> (FLORES-200 code, English name). Covers M-RewardBench's 23 languages + English.
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("eng_Latn", "English"),
    "ar": ("arb_Arab", "Arabic"),
    "cs": ("ces_Latn", "Czech"),
    "de": ("deu_Latn", "German"),
    "el": ("ell_Grek", "Greek"),
    "es": ("spa_Latn", "Spanish"),
    "fa": ("pes_Arab", "Persian"),
    "fr": ("fra_Latn", "French"),
    "he": ("heb_Hebr", "Hebrew"),
    "hi": ("hin_Deva", "Hindi"),
    "id": ("ind_Latn", "Indonesian"),
    "it": ("ita_Latn", "Italian"),
    "ja": ("jpn_Jpan", "Japanese"),
    "ko": ("kor_Hang", "Korean"),
    "nl": ("nld_Latn", "Dutch"),
    "pl": ("pol_Latn", "Polish"),
    "pt": ("por_Latn", "Portuguese"),
    "ro": ("ron_Latn", "Romanian"),
    "ru": ("rus_Cyrl", "Russian"),
    "tr": ("tur_Latn", "Turkish"),
    "uk": ("ukr_Cyrl", "Ukrainian"),
    "vi": ("vie_Latn", "Vietnamese"),
    "zh": ("zho_Hans", "Chinese"),
    "zh-Hant": ("zho_Hant", "Traditional Chinese"),
}

# Pseudo-language of the RM trained on all languages mixed.
MULTI = "multi"


def check(code: str) -> str:
    if code not in LANGUAGES:
        raise ConfigError(f"unknown language code {code!r}; known: {sorted(LANGUAGES)}")
    return code


def flores(code: str) -> str:
    return LANGUAGES[check(code)][0]


def name(code: str) -> str:
    return LANGUAGES[check(code)][1]


def from_flores(code: str) -> str:
    for iso, (fl, _) in LANGUAGES.items():
        if fl == code:
            return iso
    raise ConfigError(f"unknown FLORES-200 code {code!r}")
