"""Reward models: Bradley-Terry training with TRL's RewardTrainer, and fast scoring.

Training and scoring render a pair the same way: the prompt messages plus one
assistant reply through the tokenizer's chat template
(``apply_chat_template(..., tokenize=True)``, as TRL does), and score the
last token with a bias-free linear head on the final hidden state.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xlrm.config import split_trainer_section
from xlrm.errors import ConfigError
from xlrm.schema import messages_for

log = logging.getLogger(__name__)


@dataclass
class LoraSettings:
    """LoRA adapter settings (peft.LoraConfig field names)."""

    r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: list[str] | str = "all-linear"


# Keys of the train_rm section that are xlrm's own; every other key is a RewardConfig field.
@dataclass
class RMExtras:
    # Full fine-tuning when null; a LoRA adapter (plus the score head) otherwise.
    lora: LoraSettings | None = None
    # Freeze the input embeddings (most of a small multilingual model's parameters).
    freeze_embeddings: bool = False
    # Train only the last N transformer layers (and the head); null trains all. With LoRA,
    # adapters go on those layers only (peft's layers_to_transform), so backpropagation
    # stops there: on a CPU this is what makes a 270M model affordable.
    trainable_layers: int | None = None
    # What to do with a pair longer than max_length: "drop" it (TRL's behaviour), or
    # truncate it from the "left" (the study's released code), keeping the reply.
    truncation: Literal["drop", "left"] = "drop"
    # Use at most this many training pairs (first N in file order); null uses all.
    max_train_pairs: int | None = None
    # How a batch's two replies are padded. "separate": the longer reply of every pair in one
    # tensor and the shorter in another, each padded to its own longest, two forward passes
    # (bench/, 1,734 mixed pairs, length-grouped: 4.4% padding, the same tokens/s).
    # "joint": TRL's collator, chosen and rejected in one tensor padded to the longest of
    # either, one forward pass (every pair pads its shorter reply: 11.2% there). Runs on
    # several processes (DDP, DeepSpeed) pad jointly: two forward passes per backward are
    # untested there.
    pair_padding: Literal["separate", "joint"] = "separate"


# RewardConfig defaults that xlrm changes so the same params run on a CPU and a GPU.
RM_DEFAULTS: dict[str, Any] = {
    "report_to": ["mlflow"],
    "save_strategy": "no",
    "logging_steps": 1,
    "gradient_checkpointing": False,
    "bf16": False,
    "remove_unused_columns": False,
    "disable_dropout": True,
}


@dataclass
class TrainRMConfig:
    """The ``train_rm`` section: RewardConfig fields plus :class:`RMExtras`."""

    extras: RMExtras
    reward_config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_section(cls, section: dict | None, where: str = "train_rm") -> "TrainRMConfig":
        from trl import RewardConfig

        extras, rc = split_trainer_section(section, RewardConfig, RMExtras, where)
        return cls(extras=extras, reward_config=rc)

    def to_params(self) -> dict:
        return {**self.reward_config, **dataclasses.asdict(self.extras)}


# ---------------------------------------------------------------------------- tokenization


def render_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of a conversation through the chat template (as TRL tokenizes it)."""
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
    return list(out["input_ids"])


def tokenize_pairs(rows: list[dict], tokenizer, max_length: int | None,
                   truncation: str = "drop") -> tuple[dict[str, list], dict[str, int]]:
    """Tokenize chosen and rejected conversations; drop or left-truncate long pairs.

    Returns columns ``chosen_ids``, ``rejected_ids``, ``id`` and counts
    ``{"pairs_in", "pairs_kept", "dropped_too_long", "truncated"}``.
    """
    cols: dict[str, list] = {"chosen_ids": [], "rejected_ids": [], "id": []}
    dropped = truncated = 0
    for row in rows:
        c = render_ids(tokenizer, messages_for(row, row["chosen"]))
        r = render_ids(tokenizer, messages_for(row, row["rejected"]))
        if max_length is not None and max(len(c), len(r)) > max_length:
            if truncation == "drop":
                dropped += 1
                continue
            c, r = c[-max_length:], r[-max_length:]
            truncated += 1
        cols["chosen_ids"].append(c)
        cols["rejected_ids"].append(r)
        cols["id"].append(row["id"])
    stats = {"pairs_in": len(rows), "pairs_kept": len(cols["id"]), "dropped_too_long": dropped,
             "truncated": truncated}
    return cols, stats


# ---------------------------------------------------------------------------- models


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        raise ConfigError(f"{path}: the tokenizer has no pad token; run the base_model stage, "
                          "which adds one")
    return tok


def load_seqcls(base_dir: str | Path, dtype: str = "float32", seed: int | None = None):
    """The base LM with a fresh one-output score head (random unless ``seed`` fixes it)."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    if seed is not None:
        torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized score head" notice is expected
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            base_dir, num_labels=1, dtype=getattr(torch, dtype))
    finally:
        hf_logging.set_verbosity(verbosity)
    tok_pad = model.config.get_text_config().pad_token_id
    if tok_pad is None:
        raise ConfigError(f"{base_dir}: the model config has no pad_token_id")
    return model


def load_reward_model(rm_dir: str | Path, base_dir: str | Path | None = None,
                      dtype: str = "float32"):
    """Load a trained RM: a full model folder, or a LoRA adapter over ``base_dir`` (merged)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    rm_dir = Path(rm_dir)
    if (rm_dir / "adapter_config.json").exists():
        from peft import PeftModel

        if base_dir is None:
            raise ConfigError(f"{rm_dir} holds a LoRA adapter: the base model folder is needed")
        base = load_seqcls(base_dir, dtype)
        model = PeftModel.from_pretrained(base, rm_dir).merge_and_unload()
    else:
        model = AutoModelForSequenceClassification.from_pretrained(rm_dir, dtype=getattr(torch, dtype))
    model.eval()
    return model


def lora_config(model, lora: LoraSettings, trainable_layers: int | None, task_type: str):
    """A peft LoraConfig; with ``trainable_layers`` the adapters sit on the last N layers only."""
    from peft import LoraConfig

    kwargs = dataclasses.asdict(lora)
    if trainable_layers is not None:
        n_layers = model.config.get_text_config().num_hidden_layers
        kwargs["layers_to_transform"] = list(range(max(0, n_layers - trainable_layers), n_layers))
        if isinstance(kwargs["target_modules"], str):
            # peft needs module names (not "all-linear") to restrict layers: every linear
            # module inside the transformer blocks.
            import torch

            layers = getattr(model, model.base_model_prefix).layers
            kwargs["target_modules"] = sorted({name.rsplit(".", 1)[-1]
                                               for name, mod in layers.named_modules()
                                               if isinstance(mod, torch.nn.Linear)})
    return LoraConfig(task_type=task_type, **kwargs)


def _freeze(model, extras: RMExtras) -> dict[str, int]:
    if extras.freeze_embeddings:
        for p in model.get_input_embeddings().parameters():
            p.requires_grad_(False)
    if extras.trainable_layers is not None:
        backbone = getattr(model, model.base_model_prefix)
        layers = backbone.layers
        n_frozen = max(0, len(layers) - extras.trainable_layers)
        for layer in layers[:n_frozen]:
            for p in layer.parameters():
                p.requires_grad_(False)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"params_trainable": trainable, "params_total": total}


def build_reward_trainer(base_dir: str | Path, train_rows: list[dict], cfg: TrainRMConfig, *,
                         scratch_dir: str | Path, eval_rows: list[dict] | None = None,
                         overrides: dict[str, Any] | None = None, xlrm_sampler: bool = True):
    """TRL's ``RewardTrainer`` set up for ``cfg``: tokenized pairs, the model (LoRA or
    partly frozen), xlrm's length grouping and pair padding. Returns ``(trainer, stats)``.

    ``overrides`` replaces RewardConfig fields after the section's (the benchmark sets
    ``max_steps`` and turns reporting off); ``xlrm_sampler=False`` leaves
    ``group_by_length`` to transformers' own sampler (to compare against).
    """
    import torch
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    extras = cfg.extras
    rc_kwargs = {**RM_DEFAULTS, **cfg.reward_config}
    if not torch.cuda.is_available():
        rc_kwargs["bf16"] = False
        rc_kwargs.setdefault("use_cpu", True)
    rc_kwargs.update(overrides or {})
    seed = rc_kwargs.get("seed", 42)
    args = RewardConfig(output_dir=str(scratch_dir), **rc_kwargs)

    tok = load_tokenizer(base_dir)
    if extras.max_train_pairs is not None:
        train_rows = train_rows[: extras.max_train_pairs]
    cols, stats = tokenize_pairs(train_rows, tok, args.max_length, extras.truncation)
    if stats["pairs_kept"] == 0:
        raise ConfigError(f"no training pairs left: {stats['dropped_too_long']} of "
                          f"{stats['pairs_in']} were longer than max_length={args.max_length}")
    if stats["dropped_too_long"]:
        log.warning("dropped %d of %d pairs longer than max_length=%s", stats["dropped_too_long"],
                    stats["pairs_in"], args.max_length)
    # "length" (the longer reply) and "short_length" feed the length-grouped sampler; the
    # collators ignore them.
    long_len, short_len = pair_lengths(cols)
    train_ds = Dataset.from_dict({"chosen_ids": cols["chosen_ids"], "rejected_ids": cols["rejected_ids"],
                                  "length": long_len, "short_length": short_len})
    eval_ds = None
    if eval_rows:
        ecols, estats = tokenize_pairs(eval_rows, tok, args.max_length, extras.truncation)
        stats["eval_pairs"] = estats["pairs_kept"]
        if estats["pairs_kept"]:
            eval_ds = Dataset.from_dict({"chosen_ids": ecols["chosen_ids"],
                                         "rejected_ids": ecols["rejected_ids"]})
    if eval_ds is None:
        args.eval_strategy = "no"

    model = load_seqcls(base_dir, seed=seed)
    peft_config = None
    if extras.lora is not None:
        peft_config = lora_config(model, extras.lora, extras.trainable_layers, "SEQ_CLS")
    else:
        stats.update(_freeze(model, extras))

    pair_padding = extras.pair_padding
    if pair_padding == "separate" and args.world_size > 1:
        log.info("pair_padding: separate (two forward passes per backward) is untested on "
                 "several processes: padding jointly on %d", args.world_size)
        pair_padding = "joint"
    stats["pair_padding"] = pair_padding
    cls = RewardTrainer
    if pair_padding == "separate":
        cls = separately_padded(cls)
    if xlrm_sampler:
        cls = length_grouped(cls)
    trainer = cls(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                  processing_class=tok, peft_config=peft_config)
    if pair_padding == "separate":
        # the pad token RewardTrainer settled on (args.pad_token, the tokenizer's, or EOS)
        trainer.data_collator = SeparatePairCollator(trainer.processing_class.pad_token_id,
                                                     args.pad_to_multiple_of)
    if extras.lora is not None:
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        stats.update(params_trainable=trainable,
                     params_total=sum(p.numel() for p in trainer.model.parameters()))
    return trainer, stats


def train_reward_model(base_dir: str | Path, train_rows: list[dict], out_dir: str | Path,
                       cfg: TrainRMConfig, *, scratch_dir: str | Path,
                       eval_rows: list[dict] | None = None) -> dict[str, Any]:
    """Train a Bradley-Terry RM on ``train_rows`` and save the final model (or adapter).

    Only the final weights land in ``out_dir``; checkpoints and logs of the
    trainer go to ``scratch_dir``. Returns stats and the final training metrics.
    """
    import torch

    trainer, stats = build_reward_trainer(base_dir, train_rows, cfg, scratch_dir=scratch_dir,
                                          eval_rows=eval_rows)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    result = trainer.train()
    history = [h for h in trainer.state.log_history if "loss" in h]
    metrics = {"train_loss": float(result.training_loss), "train_steps": int(result.global_step),
               "train_runtime_s": float(result.metrics.get("train_runtime", math.nan))}
    if history:
        metrics["first_loss"] = float(history[0]["loss"])
        metrics["last_loss"] = float(history[-1]["loss"])
    if trainer.eval_dataset is not None:
        ev = trainer.evaluate()
        metrics.update({k: float(v) for k, v in ev.items() if isinstance(v, (int, float))})
    final = trainer.model
    if cfg.extras.lora is None:
        changed = sum(not torch.equal(before[n], p.detach()) for n, p in final.named_parameters()
                      if n in before)
        metrics["params_changed_share"] = changed / max(1, len(before))
    final.save_pretrained(out_dir)
    trainer.processing_class.save_pretrained(out_dir)
    return {**stats, **metrics}


def pair_lengths(cols: dict[str, list]) -> tuple[list[int], list[int]]:
    """Each pair's longer and shorter reply length."""
    pairs = [(len(c), len(r)) for c, r in zip(cols["chosen_ids"], cols["rejected_ids"])]
    return [max(p) for p in pairs], [min(p) for p in pairs]


class SortedBatchSampler:
    """Whole-epoch length grouping: pairs sorted by their longer reply (ties in a seeded
    random order); each run of ``chunk_batches`` batches re-sorted by the shorter reply, then
    cut into batches of ``batch_size``, the batches served in a seeded random order that
    changes every epoch.

    Sorting by the longer reply alone groups the long sides but leaves the short sides of a
    batch of all lengths; the second sort within a small window of similar long sides groups
    both (what :class:`SeparatePairCollator` pads). transformers' ``LengthGroupedSampler``
    sorts only within random mega-batches of at most 50 batches, which on a small data set
    still leaves a quarter of the tokens as padding.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int = 0,
                 short_lengths: list[int] | None = None, chunk_batches: int = 4):
        self.lengths = np.asarray(lengths)
        self.short = self.lengths if short_lengths is None else np.asarray(short_lengths)
        self.batch_size = max(1, int(batch_size))
        self.chunk = max(1, int(chunk_batches)) * self.batch_size
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        tie = rng.permutation(len(self.lengths))
        order = tie[np.argsort(-self.lengths[tie], kind="stable")]
        order = np.concatenate([c[np.argsort(-self.short[c], kind="stable")]
                                for c in np.split(order, range(self.chunk, len(order), self.chunk))])
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        # The DataLoader cuts batches every batch_size indices: a short batch (the
        # remainder) must stay last or every batch after it would straddle two groups.
        full = len(order) // self.batch_size
        for b in [*rng.permutation(full), *range(full, len(batches))]:
            yield from (int(i) for i in batches[b])


def length_grouped(trainer_cls):
    """``trainer_cls`` whose ``train_sampling_strategy: group_by_length`` uses
    :class:`SortedBatchSampler` over the data set's ``length`` (and ``short_length``)
    columns; other strategies and data sets without ``length`` are left to transformers."""

    class LengthGrouped(trainer_cls):
        def _get_train_sampler(self, train_dataset=None):
            ds = self.train_dataset if train_dataset is None else train_dataset
            names = getattr(ds, "column_names", ())
            if self.args.train_sampling_strategy == "group_by_length" and "length" in names:
                return SortedBatchSampler(ds["length"], self.args.train_batch_size,
                                          seed=self.args.seed,
                                          short_lengths=ds["short_length"] if "short_length" in names else None)
            return super()._get_train_sampler(train_dataset)

    LengthGrouped.__name__ = f"LengthGrouped{trainer_cls.__name__}"
    return LengthGrouped


@dataclass
class SeparatePairCollator:
    """Batches preference pairs as two right-padded tensors: every pair's longer reply in
    ``long_input_ids`` and its shorter in ``short_input_ids``, each padded to its own
    longest, and ``chosen_is_long`` to tell chosen from rejected. A ``margin`` column is
    passed on as TRL's collator does."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch
        from trl.trainer.utils import pad

        chosen_long = [len(e["chosen_ids"]) >= len(e["rejected_ids"]) for e in examples]
        sides = {"long": [e["chosen_ids"] if cl else e["rejected_ids"] for e, cl in zip(examples, chosen_long)],
                 "short": [e["rejected_ids"] if cl else e["chosen_ids"] for e, cl in zip(examples, chosen_long)]}
        out: dict[str, Any] = {}
        for side, seqs in sides.items():
            ids = [torch.tensor(x, dtype=torch.long) for x in seqs]
            out[f"{side}_input_ids"] = pad(ids, padding_value=self.pad_token_id, padding_side="right",
                                           pad_to_multiple_of=self.pad_to_multiple_of)
            out[f"{side}_attention_mask"] = pad([torch.ones_like(x) for x in ids], padding_value=0,
                                                padding_side="right",
                                                pad_to_multiple_of=self.pad_to_multiple_of)
        out["chosen_is_long"] = torch.tensor(chosen_long)
        if "margin" in examples[0]:
            out["margin"] = torch.tensor([e["margin"] for e in examples], dtype=torch.float)
        return out


def separately_padded(trainer_cls):
    """``trainer_cls`` (a ``RewardTrainer``) that takes :class:`SeparatePairCollator`
    batches: one forward pass over the long replies and one over the short, their scores put
    back in TRL's order (chosen then rejected), then TRL's own loss and metrics."""
    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    class SeparatelyPadded(trainer_cls):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = dict(inputs)
            long_ids, long_mask = inputs.pop("long_input_ids"), inputs.pop("long_attention_mask")
            short_ids, short_mask = inputs.pop("short_input_ids"), inputs.pop("short_attention_mask")
            chosen_long = inputs.pop("chosen_is_long").view(-1, 1)

            def both_sides(**_):
                lg = model(input_ids=long_ids, attention_mask=long_mask, use_cache=False).logits
                sh = model(input_ids=short_ids, attention_mask=short_mask, use_cache=False).logits
                return SequenceClassifierOutput(logits=torch.cat([torch.where(chosen_long, lg, sh),
                                                                  torch.where(chosen_long, sh, lg)]))

            # TRL counts a batch's tokens as attention_mask.sum()
            inputs["attention_mask"] = torch.cat([long_mask.flatten(), short_mask.flatten()])
            return super().compute_loss(both_sides, inputs, return_outputs, num_items_in_batch)

        def floating_point_ops(self, inputs):
            # transformers estimates 6 x params x input_ids.numel(): give it both tensors' size
            n = inputs["long_input_ids"].numel() + inputs["short_input_ids"].numel()
            return super().floating_point_ops({"input_ids": torch.empty((1, n), device="meta")})

    SeparatelyPadded.__name__ = f"SeparatelyPadded{trainer_cls.__name__}"
    return SeparatelyPadded


# ---------------------------------------------------------------------------- scoring


def length_batches(lengths: list[int] | np.ndarray, token_budget: int,
                   max_batch: int = 256) -> list[np.ndarray]:
    """Group indices into batches of similar length whose padded size fits a token budget.

    Sequences are sorted longest first, so the first batch shows the peak memory.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(-lengths, kind="stable")
    batches, cur, cur_max = [], [], 0
    for i in order:
        L = int(lengths[i])
        new_max = max(cur_max, L)
        if cur and (new_max * (len(cur) + 1) > token_budget or len(cur) >= max_batch):
            batches.append(np.array(cur))
            cur, new_max = [], L
        cur.append(i)
        cur_max = new_max
    if cur:
        batches.append(np.array(cur))
    return batches


def _last_hidden(model, input_ids, attention_mask):
    """Final hidden state at each sequence's last real token (right padding)."""
    backbone = getattr(model, model.base_model_prefix)
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    last = attention_mask.sum(dim=1) - 1
    return hidden[range(hidden.shape[0]), last]


def encode_conversations(tokenizer, convs: list[list[dict]], max_length: int | None
                         ) -> tuple[list[list[int]], int]:
    """Token ids per conversation, truncated from the left to ``max_length``."""
    ids, truncated = [], 0
    for conv in convs:
        t = render_ids(tokenizer, conv)
        if max_length is not None and len(t) > max_length:
            t = t[-max_length:]
            truncated += 1
        ids.append(t)
    return ids, truncated


def pooled_states(model, ids: list[list[int]], pad_id: int, token_budget: int = 8192,
                  device: str | None = None):
    """Last-token final hidden states for token sequences, batched by length.

    Returns a float32 tensor ``[len(ids), hidden]`` in input order.
    """
    import torch

    device = device or next(model.parameters()).device
    lengths = [len(x) for x in ids]
    out = None
    with torch.inference_mode():
        for batch in length_batches(lengths, token_budget):
            width = max(lengths[i] for i in batch)
            inp = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for j, i in enumerate(batch):
                inp[j, : lengths[i]] = torch.tensor(ids[i])
                mask[j, : lengths[i]] = 1
            h = _last_hidden(model, inp.to(device), mask.to(device)).float()
            if out is None:
                out = torch.empty((len(ids), h.shape[-1]), dtype=torch.float32)
            out[torch.as_tensor(batch)] = h.cpu()
    return out


def score_head_weights(model):
    """The score head's weight matrix ``[num_labels, hidden]`` as float32."""
    return model.score.weight.detach().float().cpu()


def random_heads(hidden_size: int, n_heads: int, std: float, seed: int = 0):
    """``n_heads`` random score heads drawn as a fresh head is initialised (normal, std)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn((n_heads, hidden_size), generator=g) * std


def score_conversations(model, tokenizer, convs: list[list[dict]], *, max_length: int | None = None,
                        token_budget: int = 8192, heads=None) -> tuple[np.ndarray, dict]:
    """Reward of each conversation (prompt + reply), batched by length.

    With ``heads`` (``[K, hidden]``) returns ``[K, n]`` scores of K heads, else ``[n]``
    from the model's own score head.
    """
    ids, truncated = encode_conversations(tokenizer, convs, max_length)
    pooled = pooled_states(model, ids, tokenizer.pad_token_id, token_budget)
    w = heads if heads is not None else score_head_weights(model)
    scores = (pooled @ w.T).T.numpy().astype(np.float64)  # [K, n]
    stats = {"sequences": len(convs), "truncated_sequences": truncated,
             "tokens": int(sum(len(x) for x in ids))}
    return (scores if heads is not None else scores[0]), stats


def score_pairs(model, tokenizer, rows: list[dict], *, max_length: int | None = None,
                token_budget: int = 8192, heads=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Score every pair's chosen and rejected conversation.

    All 2N conversations are batched together by length. With ``heads``
    (``[K, hidden]``) the scores of K heads are returned (shape ``[K, N]``);
    otherwise the model's own head (shape ``[N]``).
    Returns ``(chosen_scores, rejected_scores, stats)``.
    """
    convs = [messages_for(r, r["chosen"]) for r in rows] + [messages_for(r, r["rejected"]) for r in rows]
    scores, stats = score_conversations(model, tokenizer, convs, max_length=max_length,
                                        token_budget=token_budget, heads=heads)
    n = len(rows)
    stats = {"pairs": n, **stats}
    return scores[..., :n], scores[..., n:], stats
