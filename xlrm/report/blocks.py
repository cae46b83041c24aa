"""What a report is made of: headings, paragraphs, tables, figures and bullet lists, and
the number formatting of their cells."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CATEGORY_NAMES = {"chat": "Chat", "chat-hard": "Chat Hard", "safety": "Safety",
                  "reasoning": "Reasoning"}


@dataclass
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass
class Para:
    text: str
    kind: str = "text"  # text | reading | missing | note


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    key: str
    data: bytes
    path: str
    alt: str
    reading: str


@dataclass
class Bullets:
    items: list[str]


Block = Heading | Para | Table | Figure | Bullets


def is_finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def as_float(v: Any) -> float:
    """A number, or NaN for None / text / anything not finite."""
    return float(v) if is_finite(v) else math.nan


def pct(v: Any, digits: int = 1) -> str:
    """An accuracy (0-1) as percent, ``–`` for missing."""
    return f"{float(v) * 100:.{digits}f}" if is_finite(v) else "–"


def num(v: Any, digits: int = 1, sign: bool = False) -> str:
    if not is_finite(v):
        return "–"
    return f"{float(v):+.{digits}f}" if sign else f"{float(v):.{digits}f}"


def lang_name(code: str) -> str:
    from xlrm.languages import LANGUAGES

    return LANGUAGES[code][1] if code in LANGUAGES else str(code)

