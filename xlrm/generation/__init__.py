"""Sampling from a policy: on-policy samples for alignment, greedy answers for AlpacaEval.

Two entry points share one batching core (:mod:`xlrm.generation.hf`):

- :func:`xlrm.generation.run.generate_to_file` writes ``N`` samples per prompt (or one
  greedy answer) to a JSON-lines file, resumably: a killed run picks up where it stopped,
  with no duplicate and no lost sample (:mod:`xlrm.generation.resume`).
- :func:`xlrm.generation.hf.generate_greedy_texts` answers conversations greedily in memory
  (AlpacaEval).

Prompts are rendered with the tokenizer's chat template
(``apply_chat_template(messages, add_generation_prompt=True)``) and both backends are fed
the resulting *token ids*, so HF and vLLM see exactly the same prompt tokens (passing the
rendered text to vLLM would re-tokenize it and add a second BOS for templates that write
``{{ bos_token }}`` themselves); see :mod:`xlrm.generation.prompts`.

Output rows (one per sample, sorted by ``(prompt_id, sample)``)::

    {"prompt_id": "seed-00042", "language": "ko", "sample": 0, "text": "...",
     "num_tokens": 57, "backend": "hf", "seed": 0, "finish_reason": "stop"}

``num_tokens`` counts the generated tokens of the reply, not counting the stop token that
ended it; ``finish_reason`` is ``"stop"`` (a stop token was generated) or ``"length"``
(``max_new_tokens`` was reached, then ``num_tokens == max_new_tokens``). ``text`` is the
reply decoded with ``skip_special_tokens=True``. Generation stops at the model's EOS
token(s) and at the end-of-turn marker its chat template uses
(:func:`xlrm.generation.prompts.stop_token_ids`).

Modules:

- :mod:`~xlrm.generation.config`: :class:`GenerateConfig`, the ``generate`` section (light);
- :mod:`~xlrm.generation.prompts`: prompt checks, rendering, stop tokens, replies;
- :mod:`~xlrm.generation.sampling`: keyed sampling (what is deterministic, and how);
- :mod:`~xlrm.generation.hf`: the HF batching core and backend;
- :mod:`~xlrm.generation.vllm`: the vLLM backend (engine arguments ``generate.vllm``,
  :mod:`xlrm.vllm_engine`; prompts in calls of ``chunk_samples`` samples);
- :mod:`~xlrm.generation.resume`: fingerprints and partial files (the resume protocol);
- :mod:`~xlrm.generation.run`: :func:`generate_to_file`, the ``generate`` stage's core.
"""
