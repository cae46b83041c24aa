"""Reward models: Bradley-Terry training with TRL's ``RewardTrainer``, and fast scoring.

- :mod:`xlrm.reward.config`: the ``train_rm`` and ``eval_rm`` params sections (light);
- :mod:`xlrm.reward.tokens`: how a conversation becomes token ids (training and scoring alike);
- :mod:`xlrm.reward.batching`: length-grouped batches and separately padded pairs;
- :mod:`xlrm.reward.train`: the trainer (LoRA or partly frozen), the ``train_rm`` stage's core;
- :mod:`xlrm.reward.score`: last-token scoring batched by length, random heads;
- :mod:`xlrm.reward.evaluate`: scores tables on eval sets, the ``eval_rms`` stage's core (the base and every RM, the shared trunk computed once).

Models are loaded by :mod:`xlrm.modeling`.
"""
