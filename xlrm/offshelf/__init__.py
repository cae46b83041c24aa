"""Off-the-shelf reward models on M-RewardBench (the ``eval_offshelf`` stage).

- :mod:`xlrm.offshelf.config`: the params section (light);
- :mod:`xlrm.offshelf.classifiers`: loading and scoring classifier RMs;
- :mod:`xlrm.offshelf.pair_judges`: generative judges asked in both orders, and the encoding;
- :mod:`xlrm.offshelf.run`: the matrix, the metrics and the stage's core
  (:func:`~xlrm.offshelf.run.run_offshelf`).

The study also scored published reward models across languages. This package scores two
kinds on the same evaluation sets as the project's own RMs (``data/eval``), writes the
same per-pair *scores table* (:mod:`xlrm.evaluation.accuracy`'s schema, ``rm`` = the configured
name) and so goes through exactly the same scorer:

**Classifier RMs** (:class:`~xlrm.offshelf.config.ClassifierSpec`): any hub id or local folder of an
``AutoModelForSequenceClassification`` with one output (Skywork-Reward, OffsetBias-RM, ...),
or a ``trust_remote_code`` model whose output carries a ``score`` attribute (ArmoRM). Each
conversation is rendered with the model's **own** chat template and cut from the left to
``max_length`` tokens. When the model has a bias-free one-output linear ``score`` head on a
standard backbone (the common case), pairs are scored by :func:`xlrm.reward.score.score_pairs`,
the very batching the project's RMs use (last real token by the attention mask); otherwise
(``scoring: forward``, remote code, a head with a bias, ...) by the model's own forward pass
(right padding with the model's ``pad_token_id``; one sequence per pass when it has none),
taking ``output.score`` when present, else ``output.logits[:, 0]``. A model that is neither
a local folder, nor reachable on the hub, nor in the local cache raises
:class:`~xlrm.errors.MissingResourceError` naming it.

**Generative judges** (:class:`~xlrm.offshelf.config.JudgeSpec`): an OpenAI-compatible
chat-completions endpoint (``kind: openai``) or a local ``transformers`` causal LM
(``kind: hf``): :mod:`xlrm.judges`' own judges, asked through their order-level primitive
:meth:`~xlrm.judges.base.Judge.ask` (so their verdicts are cached across runs,
:mod:`xlrm.judges.cache`), with a pairwise
prompt of this project's own wording for RewardBench pairs
(:data:`~xlrm.offshelf.config.OFFSHELF_SYSTEM_PROMPT`,
:data:`~xlrm.offshelf.config.OFFSHELF_PROMPT_TEMPLATE`). Every pair is asked **in both
orders**: once with the chosen response shown as A, once with it shown as B. Each order
gives a verdict: ``chosen``, ``rejected``, ``tie`` (equal label probabilities) or none
(unparseable reply, failed request, prompt over ``max_input_tokens``).

Score encoding for judges (so that the strict ``chosen_score > rejected_score`` rule of
:func:`xlrm.evaluation.accuracy.correct` gives exactly "correct only when the chosen response
wins in both orders")::

    chosen_score   = number of orders (0-2) in which the chosen response won
    rejected_score = 2 - chosen_score  (orders it did not win: rejected preferred, tie or
                                        no verdict)

``2 > 0`` is correct; ``1 vs 1`` (a position-biased, inconsistent judge, or one order
without a verdict) and ``0 vs 2`` are wrong, as is any tie. Each scores row also carries
``verdicts`` (chosen-first order, rejected-first order) and ``p_chosen`` (the judge's
probability of the chosen label in each order; null when there is none), and the metrics
count every pair as exactly one of ``correct`` (chosen, chosen), ``wrong`` (rejected,
rejected), ``inconsistent`` (one of each), ``tie`` (a tie, no missing verdict) or
``unparseable`` (at least one order without a verdict).

Beside that strict score the metrics carry, per judge, the M-RewardBench-compatible judge
score ``mrb_accuracy`` (each order scores 1 when the chosen reply wins, 0 when the rejected
one does, one half for a tie, an unparseable reply or a failure; a pair scores the mean of
its two orders; then the usual subset and category weighting), the judge's
``order_quality`` (:func:`xlrm.judges.orders.order_quality`: position consistency, flip
share, unparseable share, the share of verdicts won by the reply shown first; also per
language), and ``consistency_warning`` when its position consistency is below
``eval_offshelf.min_consistency`` (or cannot be measured).
"""
