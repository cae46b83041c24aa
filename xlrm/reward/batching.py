"""Training batches of preference pairs: whole-epoch length grouping
(:class:`SortedBatchSampler`) and separate padding of each pair's longer and shorter reply
(:class:`SeparatePairCollator`), with the ``RewardTrainer`` subclasses that use them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


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
