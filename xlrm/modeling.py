"""The one model loader: every stage loads tokenizers, reward models, causal LMs and
translation models through here.

One device rule (:func:`resolve_device`), one dtype rule (:func:`resolve_dtype`), one LoRA
rule (:func:`is_adapter`: a folder with ``adapter_config.json`` is an adapter over a base
folder; it is merged for inference), and one error for a model folder that is missing or
half-written (:func:`check_model_folder`).

The dtype rule: ``auto`` is float32 on the CPU and bfloat16 on an accelerator (float16 where
bfloat16 is unsupported); any other name is the torch dtype of that name. ``bfloat16`` on a
CPU is faster than float32 where the CPU computes it natively (avx512_bf16 or AMX:
:func:`cpu_bf16_native`; bench/README.md "precision": matmuls about 4x, scoring 2x,
generation 1.7x) and slower where it is emulated, which a warning then says.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from xlrm.errors import ConfigError, MissingResourceError

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json", "adapter_model.safetensors", "adapter_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def resolve_device(device: str) -> str:
    """``auto`` -> cuda, then mps, then cpu; anything else is returned unchanged, except
    that under a multi-process launch ``cuda`` is the rank's own GPU
    (:func:`xlrm.distributed.rank_device`)."""
    import torch

    from xlrm.distributed import rank_device

    if device != "auto":
        return rank_device(device)
    if torch.cuda.is_available():
        return rank_device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(name: str, device: str) -> Any:
    """The torch dtype for dtype name ``name`` on ``device`` (see the module docstring)."""
    import torch

    if name not in DTYPES:
        raise ConfigError(f"dtype must be one of {list(DTYPES)}, got {name!r}")
    if name != "auto":
        if name == "bfloat16" and device == "cpu" and not cpu_bf16_native():
            log.warning("bfloat16 on a CPU without native bfloat16 (avx512_bf16/AMX) is "
                        "emulated and slower than float32: set the stage's dtype: float32")
        return getattr(torch, name)
    if device == "cpu":
        return torch.float32
    if device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def cpu_bf16_native() -> bool:
    """True when this CPU computes bfloat16 natively (oneDNN's avx512_bf16 or AMX): there
    bf16 matmuls run 4x faster than float32 (bench/README.md); elsewhere they are emulated."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def is_adapter(path: str | Path) -> bool:
    """True when ``path`` is a local folder holding a peft (LoRA) adapter."""
    return (Path(path) / "adapter_config.json").exists()


def _is_local(path: str | Path) -> bool:
    """A path meant as a local folder (not a hub id ``org/name``): absolute, relative to
    ``.``, nested deeper than ``org/name``, or inside a folder that exists here."""
    p = str(path)
    parent = Path(p).parent
    return (Path(p).exists() or p.startswith((".", "/", "~")) or p.count("/") > 1
            or (str(parent) not in ("", ".") and parent.is_dir()))


def check_model_folder(path: str | Path, what: str = "model", *, tokenizer: bool = False) -> None:
    """Refuse a local model folder that is missing or half-written, naming what is absent.

    Hub ids (``org/name``) that are not local folders pass through: the hub or the local
    cache answers for them.
    """
    p = Path(path)
    if not p.exists():
        if _is_local(path):
            raise MissingResourceError(f"{what} folder {p} does not exist (run the stage that "
                                       "makes it, or `dvc pull` it)")
        return
    if not p.is_dir():
        raise MissingResourceError(f"{what} {p} is not a folder")
    if not (p / "config.json").exists() and not is_adapter(p):
        raise MissingResourceError(f"{what} folder {p} is half-written: no config.json "
                                   "(nor adapter_config.json)")
    if not any((p / f).exists() for f in WEIGHT_FILES):
        raise MissingResourceError(f"{what} folder {p} is half-written: no weights "
                                   f"(none of {', '.join(WEIGHT_FILES[:3])}, ...)")
    if tokenizer and not has_tokenizer(p):
        raise MissingResourceError(f"{what} folder {p} is half-written: no tokenizer files")


def has_tokenizer(path: str | Path) -> bool:
    return any((Path(path) / f).exists() for f in TOKENIZER_FILES)


def remote_code(kwargs: dict[str, Any], source: str | Path) -> dict[str, Any]:
    """``kwargs`` for a ``from_pretrained`` call with ``trust_remote_code`` explicit: off
    unless a param turned it on for this model, and then recorded on the MLflow run
    (:func:`xlrm.tracking.record_remote_code`). Every loader below goes through this."""
    trust = kwargs.get("trust_remote_code") is True
    if trust:
        from xlrm.tracking import record_remote_code

        record_remote_code(str(source))
    return {**kwargs, "trust_remote_code": trust}


def load_tokenizer(path: str | Path, *, fallback: str | Path | None = None,
                   require_pad: bool = True, **kwargs: Any):
    """The tokenizer of ``path`` (or of ``fallback`` when ``path`` is a local folder without
    tokenizer files, as a LoRA adapter may be)."""
    from transformers import AutoTokenizer

    if not Path(path).exists() and _is_local(path):
        check_model_folder(path, "tokenizer")  # names the missing folder
    src = path
    if fallback is not None and Path(path).is_dir() and not has_tokenizer(path):
        src = fallback
    try:
        tok = AutoTokenizer.from_pretrained(src, **remote_code(kwargs, src))
    except OSError as e:
        raise MissingResourceError(f"cannot load the tokenizer of {src}: "
                                   f"{str(e).splitlines()[0]}") from None
    if require_pad and tok.pad_token is None:
        raise ConfigError(f"{src}: the tokenizer has no pad token; run the base_model stage, "
                          "which adds one")
    return tok


def _from_pretrained(cls: Any, path: str | Path, what: str, **kwargs: Any):
    try:
        return cls.from_pretrained(path, **remote_code(kwargs, path))
    except OSError as e:
        raise MissingResourceError(f"cannot load the {what} from {path}: not a complete local "
                                   "folder, and not on the hub nor in the local cache "
                                   f"({str(e).splitlines()[0]})") from None


def load_seqcls(base_dir: str | Path, dtype: str = "float32", seed: int | None = None,
                device: str = "cpu", **kwargs: Any):
    """The base LM with a fresh one-output score head (random unless ``seed`` fixes it)."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    check_model_folder(base_dir, "base model")
    if seed is not None:
        torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized score head" notice is expected
    try:
        model = _from_pretrained(AutoModelForSequenceClassification, base_dir, "base model",
                                 num_labels=1, dtype=resolve_dtype(dtype, resolve_device(device)),
                                 **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    if model.config.get_text_config().pad_token_id is None:
        raise ConfigError(f"{base_dir}: the model config has no pad_token_id")
    return model


def load_reward_model(rm_dir: str | Path, base_dir: str | Path | None = None,
                      dtype: str = "float32", device: str | None = None, **kwargs: Any):
    """A trained RM in eval mode: a full model folder, or a LoRA adapter over ``base_dir``
    (merged). With ``device`` it is moved there (and ``auto`` dtypes follow it)."""
    from transformers import AutoModelForSequenceClassification

    dev = resolve_device(device or "cpu")
    check_model_folder(rm_dir, "reward model")
    if is_adapter(rm_dir):
        from peft import PeftModel

        if base_dir is None:
            raise ConfigError(f"{rm_dir} holds a LoRA adapter: the base model folder is needed")
        base = load_seqcls(base_dir, dtype, device=dev, **kwargs)
        model = PeftModel.from_pretrained(base, rm_dir).merge_and_unload()
    else:
        model = _from_pretrained(AutoModelForSequenceClassification, rm_dir, "reward model",
                                 dtype=resolve_dtype(dtype, dev), **kwargs)
    model.eval()
    return model.to(dev) if device is not None else model


def _contiguous_head_input(module: Any, args: tuple) -> tuple:
    return (args[0].contiguous(), *args[1:])


def contiguous_lm_head(model: Any) -> Any:
    """Make the output layer's input contiguous before it multiplies by the vocabulary.

    At prefill, generation feeds the head ``hidden[:, -1:, :]``, a strided slice. When the
    head's weight does not require grad (a PEFT-merged model: PEFT freezes the base), torch's
    matmul does not fold that 3-D slice into one matrix product; it runs a batched product
    with the (vocab x hidden) weight expanded to every row, and in bfloat16 on a CPU that
    expansion is materialised (torch.profiler: aten::bmm/aten::copy_ of Gemma 3 270M's
    262k x 640 head per prompt): a merged DPO model generated 16 prompts x 48 tokens in
    40.2 s without this hook, 4.7 s with it (bench/README.md "heads"). A contiguous input
    folds to one ``mm``; the values are identical. Idempotent."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and not getattr(head, "_xlrm_contiguous", False):
        head.register_forward_pre_hook(_contiguous_head_input)
        head._xlrm_contiguous = True
    return model


def load_causal(path: str | Path, base_dir: str | Path | None = None, dtype: str = "float32",
                device: str | None = None, **kwargs: Any):
    """A causal LM in eval mode: a full folder (or hub id), or a LoRA adapter over
    ``base_dir`` (merged). With ``device`` it is moved there."""
    from transformers import AutoModelForCausalLM

    dev = resolve_device(device or "cpu")
    torch_dtype = resolve_dtype(dtype, dev)
    check_model_folder(path, "causal LM")
    if is_adapter(path):
        from peft import PeftModel

        if base_dir is None:
            raise ConfigError(f"{path} holds a LoRA adapter: the base model folder is needed")
        check_model_folder(base_dir, "base model")
        base = _from_pretrained(AutoModelForCausalLM, base_dir, "base model", dtype=torch_dtype,
                                **kwargs)
        model = PeftModel.from_pretrained(base, path).merge_and_unload()
    else:
        model = _from_pretrained(AutoModelForCausalLM, path, "causal LM", dtype=torch_dtype,
                                 **kwargs)
    contiguous_lm_head(model)
    model.eval()
    return model.to(dev) if device is not None else model


def load_seq2seq(path: str | Path, dtype: str = "float32", device: str | None = None,
                 **kwargs: Any):
    """An encoder-decoder LM (translation models) in eval mode."""
    from transformers import AutoModelForSeq2SeqLM

    dev = resolve_device(device or "cpu")
    check_model_folder(path, "seq2seq model")
    model = _from_pretrained(AutoModelForSeq2SeqLM, path, "seq2seq model",
                             dtype=resolve_dtype(dtype, dev), **kwargs).eval()
    return model.to(dev) if device is not None else model
