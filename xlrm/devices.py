"""Where models run: one rule for every stage."""

from __future__ import annotations


def resolve_device(device: str) -> str:
    """``auto`` -> cuda, then mps, then cpu; anything else is returned unchanged."""
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"
