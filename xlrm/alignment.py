"""The alignment half of the study: label on-policy samples with RMs, then DPO.

``label``: every sample of a prompt is scored by each labelling RM (the English
RM and the target language's RM); the best becomes *chosen*, the worst
*rejected*; pairs whose reward margin is under ``min_margin`` are dropped. How
often two RMs pick the same chosen sample is recorded.

``train_dpo``: TRL's ``DPOTrainer`` on one labeller's pairs, the params section
in ``DPOConfig`` field names, full fine-tuning or LoRA.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xlrm.alpaca import JudgeConfig
from xlrm.config import split_trainer_section
from xlrm.errors import DataError
from xlrm.reward import LoraSettings, lora_config

log = logging.getLogger(__name__)

# The two labellers of the study, resolved per target language.
LABELLERS = ("english", "native")


def labeller_rm(labeller: str, language: str, source_language: str = "en") -> str:
    """Which trained RM (by training language) a labeller means for a target language."""
    if labeller == "english":
        return source_language
    if labeller == "native":
        return language
    raise DataError(f"unknown labeller {labeller!r}; expected one of {LABELLERS}")


@dataclass
class LabelConfig:
    """The ``label`` params section."""

    min_margin: float = 0.0          # drop a prompt when best - worst reward is below this
    max_length: int | None = 2048    # left-truncation of scored conversations
    token_budget: int = 16384
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = "auto"


def group_samples(samples: list[dict]) -> dict[str, list[dict]]:
    """Samples by prompt id, each group ordered by sample index."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        groups[s["prompt_id"]].append(s)
    return {pid: sorted(g, key=lambda s: s["sample"]) for pid, g in sorted(groups.items())}


def best_and_worst(scores: np.ndarray) -> tuple[int, int, float]:
    """Indices of the highest and lowest reward (first on ties) and their margin."""
    best, worst = int(np.argmax(scores)), int(np.argmin(scores))
    return best, worst, float(scores[best] - scores[worst])


def pairs_from_scores(groups: dict[str, list[dict]], prompts: dict[str, list[dict]],
                      scores: dict[str, np.ndarray], language: str, labeller: str,
                      min_margin: float) -> tuple[list[dict], dict[str, int], dict[str, int]]:
    """Chosen/rejected pairs (normalised schema) for one labeller.

    Returns the pairs, the chosen sample index per prompt, and drop counts.
    """
    pairs, picks = [], {}
    dropped = {"dropped_margin": 0, "dropped_identical": 0, "dropped_single": 0}
    for pid, group in groups.items():
        if len(group) < 2:
            dropped["dropped_single"] += 1
            continue
        best, worst, margin = best_and_worst(scores[pid])
        picks[pid] = group[best]["sample"]
        chosen, rejected = group[best]["text"].strip(), group[worst]["text"].strip()
        if margin < min_margin or best == worst:
            dropped["dropped_margin"] += 1
            continue
        if not chosen or not rejected or chosen == rejected:
            dropped["dropped_identical"] += 1
            continue
        pairs.append({"id": pid, "language": language, "prompt": prompts[pid], "chosen": chosen,
                      "rejected": rejected, "source": f"on-policy/{labeller}",
                      "subset": f"label-{labeller}"})
    return pairs, picks, dropped


def label(samples: list[dict], prompts: dict[str, list[dict]], rms: dict[str, Any], tokenizer,
          language: str, cfg: LabelConfig) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    """Score every sample with every labelling RM and build one pair set per labeller.

    ``rms`` maps labeller name -> loaded reward model (all share ``tokenizer``'s
    chat template, i.e. the same base). Returns ``{labeller: pairs}`` and stats with
    ``agreement`` (share of prompts where the labellers pick the same chosen sample).
    """
    from xlrm.reward import score_conversations

    groups = group_samples(samples)
    missing = [pid for pid in groups if pid not in prompts]
    if missing:
        raise DataError(f"samples refer to unknown prompt ids, e.g. {missing[0]!r}")
    order = [(pid, s) for pid, g in groups.items() for s in g]
    convs = [[*prompts[pid], {"role": "assistant", "content": s["text"]}] for pid, s in order]
    out: dict[str, list[dict]] = {}
    stats: dict[str, Any] = {"prompts": len(groups), "samples": len(order)}
    picks_by: dict[str, dict[str, int]] = {}
    for name, model in rms.items():
        flat, _ = score_conversations(model, tokenizer, convs, max_length=cfg.max_length,
                                      token_budget=cfg.token_budget)
        per_prompt: dict[str, list[float]] = defaultdict(list)
        for (pid, _), v in zip(order, flat):
            per_prompt[pid].append(float(v))
        scores = {pid: np.asarray(v) for pid, v in per_prompt.items()}
        pairs, picks, dropped = pairs_from_scores(groups, prompts, scores, language, name,
                                                  cfg.min_margin)
        out[name] = pairs
        picks_by[name] = picks
        margins = [float(np.ptp(v)) for v in scores.values() if len(v) > 1]
        stats[name] = {"pairs": len(pairs), **dropped,
                       "mean_margin": float(np.mean(margins)) if margins else math.nan}
    names = list(picks_by)
    if len(names) >= 2:
        a, b = picks_by[names[0]], picks_by[names[1]]
        common = [pid for pid in a if pid in b]
        stats["agreement"] = (sum(a[p] == b[p] for p in common) / len(common)) if common else math.nan
    return out, stats


# ---------------------------------------------------------------------------- DPO


@dataclass
class DPOExtras:
    """xlrm's own keys of the ``train_dpo`` section (all others are DPOConfig fields)."""

    lora: LoraSettings | None = None
    trainable_layers: int | None = None
    max_train_pairs: int | None = None


DPO_DEFAULTS: dict[str, Any] = {
    "report_to": ["mlflow"],
    "save_strategy": "no",
    "logging_steps": 1,
    "gradient_checkpointing": False,
    "bf16": False,
}


@dataclass
class TrainDPOConfig:
    extras: DPOExtras
    dpo_config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_section(cls, section: dict | None, where: str = "train_dpo") -> "TrainDPOConfig":
        from trl import DPOConfig

        extras, passthrough = split_trainer_section(section, DPOConfig, DPOExtras, where)
        return cls(extras=extras, dpo_config=passthrough)

    def to_params(self) -> dict:
        return {**self.dpo_config, **dataclasses.asdict(self.extras)}


def dpo_dataset(pairs: list[dict]):
    """Conversational DPO rows: prompt messages, chosen and rejected assistant turns."""
    from datasets import Dataset

    return Dataset.from_list([
        {"prompt": p["prompt"], "chosen": [{"role": "assistant", "content": p["chosen"]}],
         "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs])


@contextmanager
def random_dataset_fingerprints():
    """Inside: ``datasets`` gives each ``map`` result a random fingerprint instead of hashing
    the function and its arguments.

    TRL's ``DPOTrainer`` tokenizes its data set with several ``map`` calls whose arguments
    hold the tokenizer; hashing it (dill-pickling the whole vocabulary) takes about 4 s per
    call for Gemma's 262k-token tokenizer. The fingerprint only names cache files, and
    xlrm's DPO sets are in-memory tables built per run that are never reloaded from the
    ``datasets`` cache, so a random one loses nothing.
    """
    import datasets.arrow_dataset as arrow_dataset
    import datasets.fingerprint as fingerprint

    def random_fingerprint(fingerprint_, transform, transform_args):
        return fingerprint.generate_random_fingerprint()

    saved = fingerprint.update_fingerprint, arrow_dataset.update_fingerprint
    fingerprint.update_fingerprint = arrow_dataset.update_fingerprint = random_fingerprint
    try:
        yield
    finally:
        fingerprint.update_fingerprint, arrow_dataset.update_fingerprint = saved


def load_causal(path: str | Path, base_dir: str | Path | None = None, dtype: str = "float32"):
    """A policy: a full causal LM folder, or a LoRA adapter over ``base_dir`` (merged)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(path)
    if (path / "adapter_config.json").exists():
        from peft import PeftModel

        if base_dir is None:
            raise DataError("a LoRA adapter needs its base model folder", path=str(path))
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=getattr(torch, dtype))
        return PeftModel.from_pretrained(base, path).merge_and_unload().eval()
    return AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()


def train_dpo(policy_dir: str | Path, pairs: list[dict], out_dir: str | Path, cfg: TrainDPOConfig,
              *, scratch_dir: str | Path, seed: int) -> dict[str, Any]:
    """DPO of the policy on ``pairs``; saves the final model (or adapter) to ``out_dir``."""
    import torch
    from trl import DPOConfig, DPOTrainer

    from xlrm.reward import load_tokenizer

    if not pairs:
        raise DataError("no preference pairs to train on (all dropped by labelling?)")
    extras = cfg.extras
    kwargs = {**DPO_DEFAULTS, **cfg.dpo_config, "seed": seed}
    if not torch.cuda.is_available():
        kwargs["bf16"] = False
        kwargs.setdefault("use_cpu", True)
    args = DPOConfig(output_dir=str(scratch_dir), **kwargs)
    if extras.max_train_pairs is not None:
        pairs = pairs[: extras.max_train_pairs]
    tok = load_tokenizer(policy_dir)
    torch.manual_seed(seed)
    model = load_causal(policy_dir)
    peft_config = None
    n_layers = model.config.get_text_config().num_hidden_layers
    if extras.lora is not None:
        peft_config = lora_config(model, extras.lora, extras.trainable_layers, "CAUSAL_LM")
    elif extras.trainable_layers is not None:
        for p in model.get_input_embeddings().parameters():
            p.requires_grad_(False)
        for layer in getattr(model, model.base_model_prefix).layers[: max(0, n_layers - extras.trainable_layers)]:
            for p in layer.parameters():
                p.requires_grad_(False)
    with random_dataset_fingerprints():
        trainer = DPOTrainer(model=model, args=args, train_dataset=dpo_dataset(pairs),
                             processing_class=tok, peft_config=peft_config)
        result = trainer.train()
    history = [h for h in trainer.state.log_history if "loss" in h]
    stats = {"pairs": len(pairs), "train_loss": float(result.training_loss),
             "train_steps": int(result.global_step)}
    if history:
        stats["first_loss"] = float(history[0]["loss"])
        stats["last_loss"] = float(history[-1]["loss"])
        for key in ("rewards/accuracies", "rewards/margins"):
            vals = [h[key] for h in history if key in h]
            if vals:
                stats[key.replace("/", "_")] = float(vals[-1])
    trainer.model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return stats


# ---------------------------------------------------------------------------- AlpacaEval


@dataclass
class EvalAlpacaConfig:
    """The ``eval_alpaca`` params section."""

    judge: JudgeConfig
    max_new_tokens: int = 256
    token_budget: int = 8192
    langid_min_chars: int = 20
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "auto"
    device: str = "auto"


def answer_and_judge(model_dir: str | Path, base_dir: str | Path | None, instructions: list[dict],
                     language: str, cfg: "EvalAlpacaConfig", name: str
                     ) -> tuple[list[dict], dict[str, Any]]:
    """Greedy answers of one policy to the evaluation instructions, judged against the
    same-language references; returns per-instruction rows and AlpacaEval metrics."""
    from xlrm.alpaca import language_fidelity, make_judge, summarize
    from xlrm.devices import resolve_device
    from xlrm.generation import generate_greedy_texts
    from xlrm.langid import LanguageChecker
    from xlrm.reward import load_tokenizer

    device = resolve_device(cfg.device)
    dtype = cfg.dtype if cfg.dtype != "auto" else ("float32" if device == "cpu" else "bfloat16")
    model = load_causal(model_dir, base_dir, dtype).to(device)
    tok = load_tokenizer(model_dir)
    answers = generate_greedy_texts(model, tok, [r["messages"] for r in instructions],
                                    max_new_tokens=cfg.max_new_tokens, token_budget=cfg.token_budget)
    del model
    texts = [r["messages"][-1]["content"] for r in instructions]
    refs = [r["reference"] for r in instructions]
    prefs, judge_stats = make_judge(cfg.judge).judge(texts, answers, refs, language=language)
    metrics = summarize(prefs, answers, refs)
    metrics["language_fidelity"] = language_fidelity(
        answers, language, LanguageChecker([language], cfg.langid_min_chars))
    metrics["judge"] = judge_stats
    rows = [{"id": r["id"], "language": language, "model": name, "output": a,
             "preference": None if math.isnan(p) else float(p)}
            for r, a, p in zip(instructions, answers, prefs)]
    return rows, metrics


@dataclass
class AlignmentConfig:
    """The ``alignment`` params section (the summary over DPO runs)."""

    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


ALPACA_METRICS = ("win_rate", "standard_error", "discrete_win_rate", "length_controlled_minimal",
                  "language_fidelity", "avg_length", "n_total")


def read_alpaca_runs(alpaca_dir: str | Path, languages: list[str], seeds: list[int]
                     ) -> tuple[list[dict], dict[tuple[str, str, int], dict[str, float]]]:
    """The ``eval_alpaca`` results of exactly the runs ``languages`` x (policy, each labeller
    x ``seeds``) define, so results an earlier run left for a language or seed since removed
    from params stay out. Returns one table row per run (its ``ALPACA_METRICS``) and, per
    DPO run, the per-instruction preferences (NaN where the judge gave none) that
    :func:`alignment_headline` takes. A missing result is an error naming its file."""
    from xlrm.io import read_json, read_jsonl

    runs = [(lang, "policy", None) for lang in languages] + [
        (lang, labeller, int(seed)) for lang in languages for labeller in LABELLERS
        for seed in seeds]
    records, prefs = [], {}
    for lang, model, seed in runs:
        name = "__".join([lang, model] + ([] if seed is None else [str(seed)]))
        path = Path(alpaca_dir) / f"{name}.json"
        if not path.is_file():
            raise DataError(f"no AlpacaEval result for {name}: run its eval_alpaca stage",
                            path=str(path))
        m = read_json(path)
        records.append({"run": name, "language": lang, "model": model, "seed": seed,
                        **{k: m[k] for k in ALPACA_METRICS}})
        if seed is not None:
            prefs[(lang, model, seed)] = {
                r["id"]: float("nan") if r["preference"] is None else r["preference"]
                for r in read_jsonl(path.with_suffix(".jsonl"))}
    return records, prefs


def alignment_headline(prefs: dict[tuple[str, str, int], dict[str, float]], cfg: AlignmentConfig
                       ) -> dict[str, Any]:
    """English-RM-labelled minus native-RM-labelled win rate, per language and on average.

    ``prefs[(lang, labeller, seed)]`` maps instruction id -> preference in [1, 2]. The
    point estimate is the mean over seeds of the win-rate difference; the confidence
    interval is a two-level bootstrap (seeds resampled, then instructions, paired across
    labellers), so it covers both run-to-run and instruction sampling variation.
    """
    rng = np.random.default_rng(cfg.seed)
    langs = sorted({k[0] for k in prefs})
    alpha = (1 - cfg.confidence) / 2
    out: dict[str, Any] = {"per_language": {}}
    reps_by_lang = {}
    for lang in langs:
        seeds = sorted({k[2] for k in prefs if k[0] == lang and (lang, "english", k[2]) in prefs
                        and (lang, "native", k[2]) in prefs})
        if not seeds:
            continue
        ids = sorted(set.intersection(*[set(prefs[(lang, lab, s)]) for s in seeds
                                         for lab in LABELLERS]))
        # diff[s, i]: (p_english - p_native) x 100 for seed s, instruction i (NaN-safe)
        diff = np.array([[prefs[(lang, "english", s)][i] - prefs[(lang, "native", s)][i]
                          for i in ids] for s in seeds], dtype=float) * 100
        eng = np.array([[prefs[(lang, "english", s)][i] for i in ids] for s in seeds]) - 1
        nat = np.array([[prefs[(lang, "native", s)][i] for i in ids] for s in seeds]) - 1
        point = float(np.nanmean(np.nanmean(diff, axis=1)))
        S, N = diff.shape
        reps = np.empty(cfg.bootstrap_resamples)
        for b in range(cfg.bootstrap_resamples):
            s_idx = rng.integers(0, S, S) if S > 1 else np.zeros(1, dtype=int)
            i_idx = rng.integers(0, N, N)
            reps[b] = np.nanmean(np.nanmean(diff[np.ix_(s_idx, i_idx)], axis=1))
        reps_by_lang[lang] = reps
        out["per_language"][lang] = {
            "diff": point, "ci_low": float(np.nanquantile(reps, alpha)),
            "ci_high": float(np.nanquantile(reps, 1 - alpha)),
            "english_win_rate": float(np.nanmean(eng) * 100),
            "native_win_rate": float(np.nanmean(nat) * 100), "seeds": len(seeds), "instructions": N}
    if reps_by_lang:
        per = out["per_language"]
        mean_reps = np.mean(np.stack(list(reps_by_lang.values())), axis=0)
        out["mean"] = {"diff": float(np.mean([per[lang]["diff"] for lang in reps_by_lang])),
                       "ci_low": float(np.nanquantile(mean_reps, alpha)),
                       "ci_high": float(np.nanquantile(mean_reps, 1 - alpha)),
                       "english_win_rate": float(np.mean([per[lang]["english_win_rate"] for lang in per])),
                       "native_win_rate": float(np.mean([per[lang]["native_win_rate"] for lang in per]))}
    return out


def winrate_plot(table, path: str | Path) -> None:
    """Bar chart of win rates per language: initial policy, English-RM and native-RM DPO."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    langs = list(dict.fromkeys(table["language"]))
    models = ["policy", "english", "native"]
    fig = Figure(figsize=(1.5 + 1.3 * len(langs), 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(models)
    for j, m in enumerate(models):
        sub = table[table["model"] == m].groupby("language")["win_rate"]
        means = [sub.mean().get(lang, np.nan) for lang in langs]
        errs = [sub.std(ddof=1).get(lang, 0.0) if sub.count().get(lang, 0) > 1 else 0.0 for lang in langs]
        ax.bar(np.arange(len(langs)) + (j - 1) * width, means, width, yerr=errs, capsize=3,
               label={"policy": "initial policy", "english": "DPO, English-RM labels",
                      "native": "DPO, target-RM labels"}[m])
    ax.set_xticks(np.arange(len(langs)), langs)
    ax.set_ylabel("win rate vs reference (%)")
    ax.set_title("Multilingual AlpacaEval (mean over DPO seeds, ±1 sd)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120, metadata={"Software": None})
