"""The params sections of the analyses: ``analyze_representations`` (Figure 1) and
``analyze_embeddings`` (Figure 2). Light: no numpy, torch or pandas at import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from xlrm import languages as langs


@dataclass
class AnalyzeRepresentationsConfig:
    """The ``analyze_representations`` params section (Figure 1)."""

    # Token pooling: "last" = the last real token (what an RM's head reads); "mean" = the mean
    # over real tokens.
    pooling: Literal["last", "mean"] = "last"
    # Parallel contexts: the first N ids (sorted) present in every analysed language.
    contexts: int = 64
    # What a context is: the prompt alone, or the prompt plus the chosen reply (chat template).
    text: Literal["prompt", "prompt+chosen"] = "prompt+chosen"
    # Longer conversations are truncated from the left (as the RMs are scored).
    max_length: int | None = 2048
    # Padded tokens per forward pass.
    token_budget: int = 8192
    # Subtract the mean across languages before the SVD (the study: no centring).
    center: bool = False
    # Languages of the matrix; null = every eval language.
    languages: list[str] | None = None
    # Layer of the bar chart and headline metrics; null = the last layer; negative counts
    # from the end (-1 = last). Layer 0 is the embedding output.
    bar_layer: int | None = None
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.contexts < 1:
            raise ValueError(f"contexts must be >= 1, got {self.contexts}")
        if self.token_budget < 1:
            raise ValueError(f"token_budget must be >= 1, got {self.token_budget}")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"max_length must be >= 1 or null, got {self.max_length}")
        if self.languages is not None:
            for lang in self.languages:
                langs.check(lang)
            if len(set(self.languages)) != len(self.languages) or len(self.languages) < 2:
                raise ValueError(f"languages must be at least 2 distinct codes, got {self.languages}")



@dataclass
class AnalyzeEmbeddingsConfig:
    """The ``analyze_embeddings`` params section (Figure 2)."""

    # Hub ids or local folders. The study: allenai/OLMo-1B-hf, HuggingFaceTB/SmolLM-1.7B
    # (English-centric), Qwen/Qwen2.5-3B, meta-llama/Llama-3.2-3B (multilingual).
    models: list[str] = field(default_factory=lambda: ["models/base"])
    # English against two non-Latin and two Latin-script languages.
    languages: list[str] = field(default_factory=lambda: ["en", "ko", "zh", "es", "it"])
    reference_language: str = "en"
    # Parallel text that tells Latin-script languages apart: the eval sets (prompt + chosen
    # reply; rejected replies can be in another language on purpose) or the seed data.
    corpus: Literal["eval", "seed"] = "eval"
    seed_items_per_subset: int = 40      # with corpus: seed
    # A Latin token needs this many occurrences in the corpus ...
    min_count: int = 5
    # ... and this share of the candidates' relative frequencies to get a language.
    min_share: float = 0.6
    # Non-Latin tokens go by script, all of them; true keeps only those that also occur
    # min_count times in their language's corpus (both groups frequent tokens alike).
    attested_only: bool = False
    # Keep a seeded random sample of larger groups; null keeps all.
    max_tokens_per_language: int | None = None
    seed: int = 0
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    bins: int = 60

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("models must name at least one model")
        for lang in self.languages:
            langs.check(lang)
        if len(set(self.languages)) != len(self.languages):
            raise ValueError(f"duplicate language in {self.languages}")
        if self.reference_language not in self.languages:
            raise ValueError(f"reference_language {self.reference_language!r} must be one of "
                             f"languages {self.languages}")
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")
        if not 0.0 < self.min_share <= 1.0:
            raise ValueError(f"min_share must be in (0, 1], got {self.min_share}")
        if self.max_tokens_per_language is not None and self.max_tokens_per_language < 1:
            raise ValueError("max_tokens_per_language must be >= 1 or null")
        if self.bins < 2:
            raise ValueError(f"bins must be >= 2, got {self.bins}")

