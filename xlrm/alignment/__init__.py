"""The alignment half of the study: label on-policy samples with RMs, DPO, AlpacaEval.

- :mod:`xlrm.alignment.config`: the ``label``, ``train_dpo``, ``eval_alpaca`` and
  ``alignment`` params sections (light);
- :mod:`xlrm.alignment.label`: the labelling RMs pick chosen and rejected samples (``label``);
- :mod:`xlrm.alignment.dpo`: TRL's ``DPOTrainer`` on one labeller's pairs (``train_dpo``);
- :mod:`xlrm.alignment.alpaca_eval`: a policy's greedy answers, judged (``eval_alpaca``);
- :mod:`xlrm.alignment.summary`: English- minus native-RM-labelled win rate (``alignment``).
"""
