"""Backends that translate strings: row assembly, deduplication and the segment cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xlrm.journal import current

from xlrm.translation.backends import Backend, RowResult, TranslationError
from xlrm.translation.config import TranslateConfig
from xlrm.translation.segments import joiner_for, split_segments

Sink = Callable[[list[str], list["str | None"]], None]


class TextBackend(Backend):
    """A backend that translates strings; handles row assembly, deduplication and caching.

    Subclasses implement :meth:`translate_texts` for a list of distinct segments. The
    cache (``self.cache``, keyed by ``(source, target, segment)``) lives as long as the
    backend, so reuse one backend across calls to avoid translating a string twice.
    """

    by_line: bool = True
    # Journal each translated segment (a local model); an API backend's replies are
    # journaled by its ChatClient instead.
    journal_segments: bool = True

    def __init__(self, cfg: TranslateConfig):
        self.cfg = cfg
        self.cache: dict[tuple[str, str, str], str | None] = {}
        self.calls = 0  # segments actually sent to the model

    @property
    def max_segment_chars(self) -> int:
        return 10**9

    def translate_texts(self, texts: list[str], source: str, target: str, *,
                        sink: Sink | None = None) -> list[str | None]:
        """Translate distinct segments; None for a segment that could not be translated.
        ``sink(segments, results)`` is told of each finished batch (the journal)."""
        raise NotImplementedError

    def translate_strings(self, texts: Sequence[str], source: str, target: str
                          ) -> tuple[list[str | None], dict[str, int]]:
        """Translate arbitrary strings (with repeats) through segmentation and the cache.

        Returns one result per input (None if any of its segments failed; "" if any
        segment came back empty) and counters.
        """
        joiner = joiner_for(target)
        unique = list(dict.fromkeys(texts))
        plans = {t: split_segments(t, by_line=self.by_line, max_chars=self.max_segment_chars,
                                   joiner=joiner) for t in unique}
        segments = list(dict.fromkeys(s for p in plans.values() for s, tr in p if tr))
        todo = [s for s in segments if (source, target, s) not in self.cache]
        j = current() if self.journal_segments else None
        if j is not None:  # segments translated before a kill (xlrm.journal)
            for s in todo:
                r = j.get(("segment", source, target, s))
                if r is not None:
                    self.cache[(source, target, s)] = r
            todo = [s for s in todo if (source, target, s) not in self.cache]
        if todo:
            def sink(done: list[str], results: list[str | None]) -> None:
                if j is not None:
                    j.add_many((("segment", source, target, s), r.strip())
                               for s, r in zip(done, results) if r is not None)

            results = self.translate_texts(todo, source, target, sink=sink)
            if len(results) != len(todo):
                raise TranslationError(f"backend {self.name} returned {len(results)} "
                                       f"translations for {len(todo)} texts")
            self.calls += len(todo)
            for s, r in zip(todo, results):
                self.cache[(source, target, s)] = None if r is None else r.strip()
        done: dict[str, str | None] = {}
        failed = 0
        for t, plan in plans.items():
            parts: list[str] = []
            result: str | None = None
            for s, tr in plan:
                if not tr:
                    parts.append(s)
                    continue
                r = self.cache[(source, target, s)]
                if r is None:
                    break
                if not r:
                    result = ""
                    break
                parts.append(r)
            else:
                result = "".join(parts)
                if not result.strip():
                    result = ""
            if result is None:
                failed += 1
            done[t] = result
        counters = {"texts": len(texts), "texts_unique": len(unique),
                    "segments_unique": len(segments), "segments_translated": len(todo),
                    "texts_failed": failed}
        return [done[t] for t in texts], counters

    def translate_rows(self, rows: list[dict], source: str, target: str, *,
                       all_rows: list[dict] | None = None) -> RowResult:
        texts: list[str] = []
        for row in rows:
            texts.extend(m["content"] for m in row["prompt"])
            texts.extend((row["chosen"], row["rejected"]))
        results, counters = self.translate_strings(texts, source, target)
        out: list[dict | None] = []
        pos = 0
        failed_rows = 0
        for row in rows:
            n = len(row["prompt"]) + 2
            res = results[pos:pos + n]
            pos += n
            if any(r is None for r in res):
                failed_rows += 1
                out.append(None)
                continue
            new = dict(row)
            new["language"] = target
            new["prompt"] = [{"role": m["role"], "content": c}
                             for m, c in zip(row["prompt"], res[:-2])]
            new["chosen"], new["rejected"] = res[-2], res[-1]
            out.append(new)
        return out, {**counters, "dropped_failed": failed_rows}
