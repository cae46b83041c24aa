"""Pairwise judges for AlpacaEval in any language (metrics: :mod:`xlrm.winrate`).

Two answers to the same instruction are compared: a model's answer and a *reference*
answer in the same (target) language (:meth:`~xlrm.judges.base.Judge.judge`), or two
systems' answers head to head (:meth:`~xlrm.judges.base.Judge.head_to_head`). A judge
returns a **preference** ``p`` in [1, 2] per instruction, with AlpacaEval's encoding: 1 = the
second (reference) is better, 2 = the first (evaluated) is better, 1.5 = a draw (identical
outputs), NaN = no annotation. Every item is asked in **both orders** (:mod:`xlrm.judges.orders`)
and ``p`` is one plus the mean over the orders that gave a verdict of ``P(first is better)``;
the stats say how much the order moved the verdicts (``order_quality``). The order-level
primitive is :meth:`~xlrm.judges.base.Judge.ask` (``P(the output shown as A is better)``
per query), which goes through the persistent verdict cache (:mod:`xlrm.judges.cache`).

- :mod:`xlrm.judges.config`: :class:`~xlrm.judges.config.JudgeConfig` (``eval_alpaca.judge``)
  and the default prompt (light);
- :mod:`xlrm.judges.prompts`: prompt assembly, label parsing;
- :mod:`xlrm.judges.orders`: both orders, the preference, the order quality;
- :mod:`xlrm.judges.cache`: the verdict cache;
- :mod:`xlrm.judges.base`: :class:`~xlrm.judges.base.Judge`, the registry
  (:func:`~xlrm.judges.base.make_judge`) and :class:`~xlrm.judges.base.JudgeError`;
- one module per judge kind:

``openai`` (:mod:`xlrm.judges.openai`)
    AlpacaEval 2.0's pairwise form over any OpenAI-compatible ``/v1/chat/completions``
    endpoint (through :mod:`xlrm.openai_client`): the instruction and the two outputs,
    labelled ``A`` and ``B``, in a prompt of this project's own wording
    (:data:`~xlrm.judges.config.DEFAULT_SYSTEM_PROMPT`,
    :data:`~xlrm.judges.config.DEFAULT_PROMPT_TEMPLATE`). When the reply carries
    ``logprobs.content[0].top_logprobs``, ``P(A better) = P(A) / (P(A) + P(B))`` from the
    probabilities of the two label tokens (a label absent from the top list has
    probability 0); otherwise the label is parsed from the text (1 or 0), and an
    unparseable reply gives no verdict and is counted.
``hf`` (:mod:`xlrm.judges.hf`)
    A local ``transformers`` causal LM with the same prompt (through its chat template, with
    the generation prompt): the next-token probabilities of the two label tokens after the
    prompt, one forward pass per comparison, batched.
``rm`` (:mod:`xlrm.judges.rm`)
    A reward model: ``P(A better) = sigmoid(r(A) - r(B))``, so
    ``p = 1 + sigmoid(r(answer) - r(reference))``, both scored as replies to the instruction
    exactly as :func:`xlrm.reward.score.score_pairs` scores a pair (asked once: the order
    cannot matter).

For every judge two identical answers (after stripping surrounding whitespace) get
p = 1.5 without calling the judge, as AlpacaEval does. Models are loaded
by :mod:`xlrm.modeling`; each judge logs the settings it ran with
(:func:`xlrm.tracking.log_effective_config`, name ``judge.<name>``).
"""
