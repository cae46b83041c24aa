"""Input-embedding norms by token language (the study's Figure 2).

The L2 norm of every input-embedding row whose token is assigned a language (rule:
:func:`xlrm.analysis.tokens.assign_token_languages`), summarised per language and compared
with the reference language (English) by the two-sample Kolmogorov-Smirnov statistic and the
1-D Wasserstein distance (both in numpy; scipy is not needed).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xlrm.analysis.config import AnalyzeEmbeddingsConfig
from xlrm.analysis.tokens import assign_token_languages
from xlrm.errors import ConfigError, MissingResourceError

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- distributions


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        return float("nan")
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """1-D Wasserstein (earth mover's) distance: the area between the empirical CDFs."""
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        return float("nan")
    grid = np.sort(np.concatenate([a, b]))
    widths = np.diff(grid)
    fa = np.searchsorted(a, grid[:-1], side="right") / a.size
    fb = np.searchsorted(b, grid[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * widths))


def norm_summary(values: np.ndarray) -> dict[str, float]:
    """n, mean, std (ddof=0), median, quartiles, min and max of a sample (NaN when empty)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        nan = float("nan")
        return {"n": 0, "mean": nan, "std": nan, "median": nan, "q25": nan, "q75": nan,
                "min": nan, "max": nan}
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "mean": float(v.mean()), "std": float(v.std()),
            "median": float(med), "q25": float(q25), "q75": float(q75),
            "min": float(v.min()), "max": float(v.max())}


def compare_norms(norms_by_lang: dict[str, np.ndarray], reference: str = "en") -> pd.DataFrame:
    """Summary per language plus KS and Wasserstein distances from the reference language.

    ``wasserstein_rel`` is the Wasserstein distance divided by the reference's mean norm,
    comparable across models whose embeddings differ in scale.
    """
    if reference not in norms_by_lang:
        raise ConfigError(f"reference language {reference!r} is not among {list(norms_by_lang)}")
    ref = np.asarray(norms_by_lang[reference], dtype=np.float64)
    ref_mean = float(ref.mean()) if ref.size else float("nan")
    rows = []
    for lang, v in norms_by_lang.items():
        w = wasserstein_1d(v, ref)
        rows.append({"language": lang, **norm_summary(v), "ks": ks_statistic(v, ref),
                     "wasserstein": w,
                     "wasserstein_rel": w / ref_mean if ref_mean else float("nan")})
    return pd.DataFrame(rows)



# ---------------------------------------------------------------------------- norms


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def load_input_embeddings(source: str | Path, *, revision: str | None = None,
                          dtype: str = "auto") -> tuple[Any, np.ndarray]:
    """``(tokenizer, input-embedding matrix as float32 [rows, dim])`` of a local folder or a hub id.

    Loads the backbone only (``AutoModel``, no LM head), on the CPU, in ``dtype``
    (:func:`xlrm.modeling.resolve_dtype`: ``auto`` is float32 there). The local cache is tried
    first; a model that is neither a folder, cached, nor reachable raises MissingResourceError.
    """
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from xlrm.modeling import check_model_folder, load_tokenizer, resolve_dtype

    source = str(source)
    check_model_folder(source, "embedding model", tokenizer=True)
    torch_dtype = resolve_dtype(dtype, "cpu")

    def load(**kw):
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # unused LM-head weights of a causal LM are expected
        try:
            tok = load_tokenizer(source, require_pad=False, revision=revision, **kw)
            model = AutoModel.from_pretrained(source, revision=revision, dtype=torch_dtype,
                                              trust_remote_code=False, **kw)
        finally:
            hf_logging.set_verbosity(verbosity)
        weight = model.get_input_embeddings().weight.detach().float().cpu().numpy()
        return tok, weight

    if Path(source).is_dir():
        return load()
    unavailable = (OSError, ValueError, MissingResourceError)
    try:  # the cache first: no network round trip when the model is there
        return load(local_files_only=True)
    except unavailable:
        pass
    if _hub_offline():
        raise MissingResourceError(
            f"embedding model {source!r} is neither a local folder nor in the Hugging Face cache, "
            f"and HF_HUB_OFFLINE is set; download it (huggingface-cli download {source}) or "
            f"remove it from analyze_embeddings.models")
    try:
        return load()
    except unavailable as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise MissingResourceError(
            f"embedding model {source!r} could not be loaded: it is not a local folder and "
            f"neither the hub nor the local cache has it ({type(e).__name__}: {first}). Check "
            f"the id, your network and HF_TOKEN for gated models") from None


def _subsample(ids: np.ndarray, k: int | None, seed: int, lang: str) -> np.ndarray:
    if k is None or ids.size <= k:
        return ids
    rng = np.random.default_rng([seed, *lang.encode()])
    return np.sort(rng.choice(ids, size=k, replace=False))


def embedding_norms(model_path: str | Path, corpus_by_lang: dict[str, list[str]], *,
                    languages: list[str], reference: str = "en", min_count: int = 5,
                    min_share: float = 0.6, attested_only: bool = False,
                    max_tokens_per_language: int | None = None, seed: int = 0,
                    dtype: str = "auto", revision: str | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Input-embedding L2 norms grouped by token language.

    Returns ``(tokens, summary)``: one row per analysed token (``token_id, token, language,
    rule, norm``) and one per language (:func:`compare_norms`). ``max_tokens_per_language``
    keeps a seeded random sample of a larger group.
    """
    tok, weight = load_input_embeddings(model_path, revision=revision, dtype=dtype)
    table = assign_token_languages(tok, corpus_by_lang, languages=languages, min_count=min_count,
                                   min_share=min_share, attested_only=attested_only,
                                   vocab_size=weight.shape[0])
    norms = np.linalg.norm(weight.astype(np.float64), axis=1)
    kept = []
    by_lang: dict[str, np.ndarray] = {}
    for lang in languages:
        ids = table.loc[table["language"] == lang, "token_id"].to_numpy(dtype=np.int64)
        ids = _subsample(ids, max_tokens_per_language, seed, lang)
        by_lang[lang] = norms[ids]
        if ids.size == 0:
            log.warning("%s: no token assigned to %s", model_path, lang)
        kept.append(table.set_index("token_id").loc[ids, ["token", "language", "rule"]]
                    .reset_index().assign(norm=norms[ids]))
    tokens = pd.concat(kept, ignore_index=True)
    summary = compare_norms(by_lang, reference)
    return tokens, summary



# ---------------------------------------------------------------------------- corpus


def corpus_from_rows(rows_by_lang: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Corpus text per language: every prompt message and the chosen reply (rejected replies
    are left out: some are in another language on purpose)."""
    return {lang: [t for r in rows for t in (*(m["content"] for m in r["prompt"]), r["chosen"])]
            for lang, rows in rows_by_lang.items()}


def seed_corpus(languages: list[str], items_per_subset: int = 40) -> dict[str, list[str]]:
    """Corpus text from the project's parallel seed data (its languages only)."""
    from xlrm.data import seed

    available = [lang for lang in languages if lang in seed.SEED_LANGUAGES]
    rows = seed.generate(seed=0, items_per_subset=items_per_subset, languages=available)
    by_lang: dict[str, list[dict]] = {lang: [] for lang in available}
    for r in rows:
        by_lang[r["language"]].append(r)
    return corpus_from_rows(by_lang)




def load_corpus(cfg: AnalyzeEmbeddingsConfig, eval_dir: str | Path | None) -> dict[str, list[str]]:
    """The corpus ``cfg.corpus`` names: the eval sets under ``eval_dir``, or the seed data."""
    if cfg.corpus == "seed":
        return seed_corpus(cfg.languages, cfg.seed_items_per_subset)
    from xlrm.data.loaders import load_eval_set

    if eval_dir is None:
        raise ConfigError("analyze_embeddings.corpus is 'eval': pass --eval-dir")
    return corpus_from_rows(load_eval_set(eval_dir, cfg.languages))


# ---------------------------------------------------------------------------- the stage's core


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return None if not np.isfinite(x) else round(x, 6)
    return x


def embedding_reading(metrics: dict[str, Any]) -> str:
    """One sentence per model: each language's mean token-embedding norm relative to the
    reference language's, and the largest KS distance."""
    ref = metrics["reference"]
    out = []
    for model, per in metrics["models"].items():
        base = (per.get(ref) or {}).get("mean")
        rel = [f"{lang} {r['mean'] / base:.2f}x" for lang, r in per.items()
               if lang != ref and base and r.get("mean") is not None]
        ks = {lang: r["ks"] for lang, r in per.items() if lang != ref and r.get("ks") is not None}
        far = max(ks, key=ks.get) if ks else None
        text = f"{Path(model).name or model}: mean norm vs {ref} " + (", ".join(rel) or "n/a")
        if far is not None:
            text += f" (largest KS: {far} {ks[far]:.2f})"
        out.append(text)
    return "Token-embedding norms by language; " + "; ".join(out) + "."


def run_analyze_embeddings(cfg: AnalyzeEmbeddingsConfig, corpus_by_lang: dict[str, list[str]], *,
                           stats_csv: str | Path, plot_png: str | Path,
                           tokens_csv: str | Path | None = None) -> dict[str, Any]:
    """The ``analyze_embeddings`` stage's core: every model's norms, the CSV(s) and the PNG
    (atomically); returns the metrics (the stage writes them)."""
    from xlrm.analysis.plots import plot_embedding_norms
    from xlrm.io import atomic_path

    summaries, token_tables = [], []
    norms: dict[str, dict[str, np.ndarray]] = {}
    for model in cfg.models:
        tokens, summary = embedding_norms(
            model, corpus_by_lang, languages=cfg.languages, reference=cfg.reference_language,
            min_count=cfg.min_count, min_share=cfg.min_share, attested_only=cfg.attested_only,
            max_tokens_per_language=cfg.max_tokens_per_language, seed=cfg.seed, dtype=cfg.dtype)
        summaries.append(summary.assign(model=model))
        token_tables.append(tokens.assign(model=model))
        norms[model] = {lang: tokens.loc[tokens["language"] == lang, "norm"].to_numpy()
                        for lang in cfg.languages}
        log.info("%s: tokens per language %s", model,
                 {r["language"]: r["n"] for r in summary.to_dict("records")})
    stats = pd.concat(summaries, ignore_index=True)
    stats = stats[["model", *[c for c in stats.columns if c != "model"]]]
    metrics: dict[str, Any] = {"reference": cfg.reference_language, "models": {}}
    for rec in stats.to_dict("records"):
        metrics["models"].setdefault(rec["model"], {})[rec["language"]] = {
            k: _finite(float(rec[k])) if k != "n" else int(rec[k])
            for k in ("n", "mean", "median", "ks", "wasserstein", "wasserstein_rel")}
    metrics["reading"] = embedding_reading(metrics)
    with atomic_path(stats_csv) as tmp:
        stats.round(6).to_csv(tmp, index=False)
    if tokens_csv is not None:
        tokens = pd.concat(token_tables, ignore_index=True)
        tokens = tokens[["model", *[c for c in tokens.columns if c != "model"]]]
        with atomic_path(tokens_csv) as tmp:
            tokens.round(6).to_csv(tmp, index=False)
    with atomic_path(plot_png) as tmp:
        plot_embedding_norms(norms, tmp, reference=cfg.reference_language, bins=cfg.bins)
    return metrics
