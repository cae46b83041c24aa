"""Translate normalised preference pairs into a target language.

Four backends sit behind a small registry (:data:`xlrm.translation.backends.BACKENDS`):

``reference`` (:mod:`.backends`)
    No translation: for each source-language row take the row with the same ``id`` in
    the target language from already prepared parallel data (e.g. a benchmark that ships
    human or vendor translations). Rows without a counterpart are dropped and counted
    as ``missing_reference``.
``hf`` (:mod:`.hf`)
    A local ``transformers`` model. ``kind: seq2seq`` for MT models (NLLB, M2M100,
    MADLAD-400, Marian): the target language is forced the way each family expects
    (see :func:`xlrm.translation.hf.target_forcing`). ``kind: causal`` for LLM translators
    such as X-ALMA: the text is put in ``prompt_template`` (wrapped in the tokenizer's chat
    template when it has one) and the continuation up to the first newline is the
    translation.
``vllm`` (:mod:`.vllm`)
    The causal translator of ``translate.hf`` run by vLLM (optional package, CUDA), with
    the engine arguments of ``translate.vllm`` (vLLM's own names,
    :mod:`xlrm.vllm_engine`): same prompt, segments, cache and journal as ``hf``, greedy,
    segments sent in large ``llm.generate`` calls (``translate.chunk_segments``).
``openai`` (:mod:`.openai`)
    Any OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, llama.cpp server,
    hosted APIs), through :mod:`xlrm.openai_client` with a thread pool, retrying 429 and
    5xx answers with exponential backoff. The API key is read from the environment
    variable named in the config and never logged or put in an error message.

Every distinct string is translated once (texts are deduplicated and cached,
:mod:`.text`). The ``hf`` and ``vllm`` backends translate line by line (MT models are trained on
sentences and a causal translator stops at the first newline): fenced code blocks, lines
without letters and Markdown list/heading markers are kept verbatim, and lines longer than
``max_segment_chars`` are cut at sentence ends (:mod:`.segments`). The ``openai`` backend
sends whole texts and asks the model to keep the formatting.

After translation (:func:`xlrm.translation.rows.translate_rows`) every row must still pass
:func:`xlrm.schema.validate_pair` (an empty translation or identical chosen/rejected is
dropped as ``dropped_empty``) and, when ``langid`` is on, its prompt, chosen and rejected
must each be identified as the target language (:class:`xlrm.langid.LanguageChecker`;
failures are ``dropped_langid``).

Modules: :mod:`.config` (the ``translate`` params section; light), :mod:`.backends` (the
registry and the ``reference`` backend), :mod:`.segments`, :mod:`.text`, :mod:`.hf`,
:mod:`.vllm`, :mod:`.openai`, :mod:`.rows` (the stage's core).
"""
