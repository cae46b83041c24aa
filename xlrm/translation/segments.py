"""Cutting texts into the segments a backend translates, and the literal strings kept.

A text is rebuilt from literal strings (kept verbatim) and segments (translated): see
:func:`split_segments`.
"""

from __future__ import annotations

import re

_LETTER = re.compile(r"[^\W\d_]")
_MARKERS = re.compile(r"^\s*(?:(?:[-*+•]|\d{1,3}[.)]|#{1,6}|>)\s+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])")
_FENCE = re.compile(r"^\s*(```|~~~)")

# Targets written without spaces between sentences.
NO_SPACE_SCRIPTS = {"zh", "zh-Hant", "ja"}

# A text is rebuilt from literal strings (kept) and segment keys (translated).
Piece = tuple[str, bool]


def joiner_for(target: str) -> str:
    """What rejoins the sentence chunks of a long line in ``target``."""
    return "" if target in NO_SPACE_SCRIPTS else " "


def _split_long(text: str, max_chars: int) -> list[str]:
    """Cut ``text`` at sentence ends into chunks of at most ``max_chars`` where possible."""
    if len(text) <= max_chars:
        return [text]
    chunks: list[str] = []
    cur = ""
    for sent in (s for s in _SENTENCE_END.split(text) if s and s.strip()):
        if cur and len(cur) + 1 + len(sent) > max_chars:
            chunks.append(cur)
            cur = sent
        else:
            cur = f"{cur} {sent}" if cur else sent
    if cur:
        chunks.append(cur)
    return chunks


def split_segments(text: str, *, by_line: bool, max_chars: int = 400,
                   joiner: str = " ") -> list[Piece]:
    """Split ``text`` into ``(string, translate?)`` pieces whose concatenation rebuilds it.

    With ``by_line=False`` the whole text is one segment (or kept verbatim if it has no
    letters outside code fences). With ``by_line=True`` each line is a segment, except
    lines inside fenced code blocks and lines without letters, which are kept; leading
    whitespace and Markdown list/heading/quote markers stay outside the segment; long
    lines are cut at sentence ends and rejoined with ``joiner``.
    """
    if not by_line:
        outside_code = re.sub(r"```.*?(?:```|\Z)", "", text, flags=re.DOTALL)
        return [(text, bool(_LETTER.search(outside_code)) and bool(text.strip()))]
    pieces: list[Piece] = []
    in_fence = False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        end = line[len(body):]
        if _FENCE.match(body):
            in_fence = not in_fence
            pieces.append((line, False))
            continue
        if in_fence or not _LETTER.search(body):
            pieces.append((line, False))
            continue
        prefix = _MARKERS.match(body).group(0)
        core = body[len(prefix):].rstrip()
        trail = body[len(prefix) + len(core):]
        if not _LETTER.search(core):
            pieces.append((line, False))
            continue
        if prefix:
            pieces.append((prefix, False))
        for i, chunk in enumerate(_split_long(core, max_chars)):
            if i:
                pieces.append((joiner, False))
            pieces.append((chunk, True))
        if trail or end:
            pieces.append((trail + end, False))
    return pieces
