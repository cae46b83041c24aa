"""Pairwise judges for AlpacaEval in any language (metrics: :mod:`xlrm.winrate`).

A model's answers are compared, instruction by instruction, with a *reference* answer in
the same (target) language. A judge returns a **preference** ``p`` in [1, 2] per
instruction, with AlpacaEval's encoding: 1 = the reference is better, 2 = the evaluated
model is better, 1.5 = a draw (identical outputs), NaN = no annotation.

- :mod:`xlrm.judges.config`: :class:`~xlrm.judges.config.JudgeConfig` (``eval_alpaca.judge``)
  and the default prompt (light);
- :mod:`xlrm.judges.prompts`: output order, prompt assembly, label parsing;
- :mod:`xlrm.judges.base`: :class:`~xlrm.judges.base.Judge`, the registry
  (:func:`~xlrm.judges.base.make_judge`) and :class:`~xlrm.judges.base.JudgeError`;
- one module per judge kind:

``openai`` (:mod:`xlrm.judges.openai`)
    AlpacaEval 2.0's pairwise form over any OpenAI-compatible ``/v1/chat/completions``
    endpoint (through :mod:`xlrm.openai_client`): the instruction and the two outputs,
    labelled ``A`` and ``B`` in an order drawn per instruction from the seed
    (:func:`~xlrm.judges.prompts.model_shown_first`), in a prompt of this project's own
    wording (:data:`~xlrm.judges.config.DEFAULT_SYSTEM_PROMPT`,
    :data:`~xlrm.judges.config.DEFAULT_PROMPT_TEMPLATE`). When the reply carries
    ``logprobs.content[0].top_logprobs`` the preference is
    ``p = 2 - P(ref) / (P(ref) + P(model))`` from the probabilities of the two label tokens
    (a label absent from the top list has probability 0); otherwise the label is parsed
    from the text (p = 1 or 2), and an unparseable reply gives NaN and is counted.
``hf`` (:mod:`xlrm.judges.hf`)
    A local ``transformers`` causal LM with the same prompt (through its chat template, with
    the generation prompt): the next-token probabilities of the two label tokens after the
    prompt, one forward pass per comparison, batched.
``rm`` (:mod:`xlrm.judges.rm`)
    A reward model: ``p = 1 + sigmoid(r(answer) - r(reference))``, both scored as replies to
    the instruction exactly as :func:`xlrm.reward.score.score_pairs` scores a pair.

For every judge an answer identical to its reference (after stripping surrounding
whitespace) gets p = 1.5 without calling the judge, as AlpacaEval does. Models are loaded
by :mod:`xlrm.modeling`; each judge logs the settings it ran with
(:func:`xlrm.tracking.log_effective_config`, name ``judge.<name>``).
"""
