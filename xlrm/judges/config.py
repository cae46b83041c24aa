"""``eval_alpaca.judge``: the judge config, its prompt defaults and its checks (light: no
torch at import, so a stage checks its params before heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: The two labels the outputs are shown under (first shown, second shown).
LABELS: tuple[str, str] = ("A", "B")

# Our own wording (not AlpacaEval's template text).
DEFAULT_SYSTEM_PROMPT = (
    "You compare two responses that AI assistants gave to the same instruction and decide "
    "which one is better. Judge how well each response carries out the instruction: is it "
    "correct, helpful, complete and clearly written? The order in which the responses are "
    "shown says nothing about their quality, and a response is not better just for being "
    "longer. Reply with a single letter, A or B, naming the better response, and nothing else."
)
DEFAULT_PROMPT_TEMPLATE = (
    "{language_note}Instruction:\n{instruction}\n\n"
    "Response A:\n{output_a}\n\n"
    "Response B:\n{output_b}\n\n"
    "Which response is better, A or B?"
)
DEFAULT_LANGUAGE_NOTE = (
    "The instruction is written in {language_name}, and a good response is written in "
    "{language_name} too.\n\n"
)


@dataclass
class JudgeConfig:
    """``eval_alpaca.judge``: which judge compares a model's answers with the references.

    Attributes:
        kind: ``openai`` (chat-completions endpoint), ``hf`` (local causal LM), ``rm``
            (reward model), see :mod:`xlrm.judges`; or ``rule`` (no model: each answer is
            checked by its instruction's rule, :mod:`xlrm.judges.rule`).
        model: ``openai``: the model name sent in each request; ``hf``: hub id or folder
            of a causal LM; ``rm``: folder of a reward model (or of a LoRA adapter, with
            ``rm_base_model``).
        base_url: ``openai``: API root, e.g. ``http://127.0.0.1:8000/v1``
            (``/chat/completions`` is appended unless already there).
        api_key_env: ``openai``: environment variable holding the API key; unset sends no
            ``Authorization`` header. The key is never logged or put in an error message.
        max_tokens: ``openai``: tokens per reply (the label is the first one).
        temperature: ``openai``: sampling temperature.
        logprobs: ``openai``: ask for log-probabilities (the soft preference); servers that
            ignore the request get the text fallback.
        top_logprobs: ``openai``: alternatives per token (0-20).
        concurrency: ``openai``: requests in flight at once.
        timeout_s: ``openai``: per-request timeout.
        max_retries: ``openai``: retries after a 429, a 5xx or a network error.
        backoff_s: ``openai``: first retry delay, doubling each retry.
        batch_size: ``hf``: comparisons per forward pass.
        max_input_tokens: ``hf``: a longer prompt is not judged (NaN, counted as
            ``too_long``); ``rm``: each conversation is cut from the left to this length.
        token_budget: ``rm``: padded tokens per scoring batch.
        rm_base_model: ``rm``: base model folder when ``model`` holds a LoRA adapter.
        dtype: ``hf``/``rm``: weights dtype; ``auto`` = float32 on a CPU, bfloat16 on an
            accelerator (:func:`xlrm.modeling.resolve_dtype`).
        device: ``hf``/``rm``: ``auto`` (CUDA, then MPS, then CPU) or a torch device.
        mention_language: put :data:`DEFAULT_LANGUAGE_NOTE` (the evaluation language) in
            the prompt when the language is known.
        system_prompt: the judge's system message.
        prompt_template: the user message; ``str.format`` fields ``{instruction}``,
            ``{output_a}``, ``{output_b}`` and ``{language_note}``.
    """

    kind: Literal["openai", "hf", "rm", "rule"]
    model: str = ""
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    max_tokens: int = 4
    temperature: float = 0.0
    logprobs: bool = True
    top_logprobs: int = 5
    concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_s: float = 1.0
    batch_size: int = 8
    max_input_tokens: int | None = None
    token_budget: int = 8192
    rm_base_model: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"
    mention_language: bool = True
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE

    def __post_init__(self) -> None:
        if self.kind == "rule" and self.model:
            raise ValueError("model: kind 'rule' checks answers by their instructions' rules "
                             f"and takes no model, got {self.model!r}")
        for name in ("max_tokens", "concurrency", "batch_size", "token_budget"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0 <= self.top_logprobs <= 20:
            raise ValueError("top_logprobs must be between 0 and 20")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.max_retries < 0 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError("max_retries and backoff_s must be >= 0, timeout_s > 0")
        if self.max_input_tokens is not None and self.max_input_tokens < 1:
            raise ValueError("max_input_tokens must be at least 1 or null")
        for name in ("{instruction}", "{output_a}", "{output_b}"):
            if name not in self.prompt_template:
                raise ValueError(f"prompt_template must contain {name}")
        try:
            self.prompt_template.format(instruction="", output_a="", output_b="",
                                        language_note="")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"prompt_template has an unknown or malformed field: {e}") from None
