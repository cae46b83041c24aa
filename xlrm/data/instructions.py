"""Instruction sets of the alignment half: prompts to sample on-policy responses for,
and AlpacaEval-style evaluation instructions with same-language reference answers.

An instruction row (JSON lines)::

    {"id": "...", "language": "ko", "messages": [{"role": "user", "content": "..."}],
     "reference": "...",          # optional, evaluation sets only (reference mode needs it)
     "rule": {"kind": "number", "value": 12}}   # optional: a checkable rule

Sources: ``seed`` (the project's generated set: on-policy prompts from its train
split, evaluation instructions from its held-out split with the chosen reply as
reference, so the two are disjoint by item id and, with ``prepare.split_by: prompt``, by
prompt; one instruction per distinct prompt, the subsets taken in turn; every seed row
carries the rule its item was made with, :func:`xlrm.data.seed.pair_rule`), a hub data set id, or a local
JSON/JSONL/parquet file, gzipped or not (read by :func:`xlrm.data.sources.read_rows`),
whose rows carry ``instruction`` (or ``prompt``, a string or messages), optional
``output``/``reference``, ``language``, ``id`` and ``rule`` (shape:
:data:`xlrm.schema.RULE_FIELDS`; what :mod:`xlrm.judges.rule` checks an answer by).

The params section is :class:`xlrm.data.config.InstructionsConfig`.
"""

from __future__ import annotations

from pathlib import Path

from xlrm.data.config import InstructionSource
from xlrm.errors import ConfigError, DataError
from xlrm.io import read_jsonl
from xlrm.schema import validate_file_rows, validate_rule


def _interleaved(rows: list[dict]) -> list[dict]:
    """One pair per prompt (the first), the subsets taken in turn (file order within each),
    so that the first N instructions hold every subset, not only the first in the file."""
    seen: set[str] = set()
    by_subset: dict[str, list[dict]] = {}
    for r in rows:
        text = r["prompt"][-1]["content"].strip()
        if text not in seen:
            seen.add(text)
            by_subset.setdefault(str(r.get("subset")), []).append(r)
    queues = [by_subset[k] for k in sorted(by_subset)]
    out: list[dict] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out.extend(q[i] for q in queues if i < len(q))
    return out


def _from_pairs(rows: list[dict], with_reference: bool) -> list[dict]:
    from xlrm.data.seed import pair_rule

    out = []
    for r in _interleaved(rows):
        item = {"id": r["id"], "language": r["language"], "messages": r["prompt"]}
        if with_reference:
            item["reference"] = r["chosen"]
        rule = pair_rule(r)
        if rule is not None:
            item["rule"] = rule
        out.append(item)
    return out


def _row_messages(row: dict, path: str, i: int) -> list[dict]:
    value = row.get("messages", row.get("instruction", row.get("prompt")))
    if isinstance(value, str) and value.strip():
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and value and all(
            isinstance(m, dict) and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str) for m in value):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise DataError("needs a non-empty 'instruction', 'prompt' or 'messages' (a list of "
                    "{role, content} strings)", path=path, row=i,
                    field="instruction")


def _load_external(src: InstructionSource, language: str, with_reference: bool) -> list[dict]:
    from xlrm import languages as langs

    names = {"lang": language, "language": langs.name(language).lower()}
    path = Path(src.source.format(**names))
    numbers = None
    if path.is_file():  # a folder (laid out as a hub repository) is read as the hub id
        from xlrm.data.sources import read_rows

        raw, numbers = read_rows(path)
        where = str(path)
    else:
        from xlrm.data.sources import load_hub_dataset

        config = src.hub_config.format(**names) if src.hub_config else None
        split = src.hub_split.format(**names)
        raw = list(load_hub_dataset(src.source, config, split))
        where = f"{src.source}:{config}:{split}"
    out = []
    seen: dict[str, int] = {}
    for i, row in enumerate(raw, start=1):
        row_num = numbers[i - 1] if numbers else i  # line numbers of a JSON-lines file
        if not isinstance(row, dict):
            raise DataError(getattr(row, "message", "expected a JSON object"), path=where,
                            row=row_num)
        if row.get("language") not in (None, language):
            continue
        item = {"id": str(row.get("id", f"{path.stem or 'hub'}-{i:06d}")), "language": language,
                "messages": _row_messages(row, where, row_num)}
        if item["id"] in seen:
            raise DataError(f"duplicate id {item['id']!r} in language {language!r}, first seen "
                            f"at row {seen[item['id']]}", path=where, row=row_num, field="id")
        seen[item["id"]] = row_num
        if with_reference:  # optional: head-to-head judging needs none (X-AlpacaEval has none)
            field = "reference" if "reference" in row else "output"
            ref = row.get(field)
            if ref is not None and (not isinstance(ref, str) or not ref.strip()):
                raise DataError("a reference answer must be a non-empty string (or absent)",
                                path=where, row=row_num, field=field)
            if ref is not None:
                item["reference"] = ref
        if row.get("rule") is not None:
            item["rule"] = validate_rule(row["rule"], path=where, row_num=row_num)
        out.append(item)
    if not out:
        raise DataError(f"no instructions in language {language!r}", path=where)
    return out


def load_instructions(src: InstructionSource, language: str, *, split: str,
                      prepared_dir: Path) -> list[dict]:
    """Instructions of one language; ``split`` is ``train`` or ``eval``."""
    with_reference = split == "eval"
    if src.source == "seed":
        name = "train.jsonl" if split == "train" else "test.jsonl"
        path = prepared_dir / name
        rows = [r for r in validate_file_rows(read_jsonl(path, nonempty=True), str(path))
                if r["language"] == language]
        if not rows:
            raise ConfigError(f"instructions: {path} has no rows in {language!r}")
        out = _from_pairs(rows, with_reference)
    else:
        out = _load_external(src, language, with_reference)
    if src.max_per_language is not None:
        out = out[: src.max_per_language]
    return out


def drop_overlap(train: list[dict], evaluation: list[dict]) -> tuple[list[dict], int]:
    """On-policy prompts minus any evaluation instruction (same id or same last user turn)."""
    ids = {r["id"] for r in evaluation}
    texts = {r["messages"][-1]["content"].strip() for r in evaluation}
    kept = [r for r in train if r["id"] not in ids
            and r["messages"][-1]["content"].strip() not in texts]
    if not kept:
        raise ConfigError("instructions: every on-policy prompt is also an evaluation instruction")
    return kept, len(train) - len(kept)


def read_prompts(path: str | Path) -> dict[str, list[dict]]:
    """The prompts of an instructions file (``<lang>.train.jsonl``): id -> messages, in file
    order (what ``generate`` samples for and ``label`` pairs are built on)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("instructions file not found", path=str(path))
    prompts: dict[str, list[dict]] = {}
    for i, row in enumerate(read_jsonl(path, nonempty=True), start=1):
        if "id" not in row or "messages" not in row:
            raise DataError("an instruction needs 'id' and 'messages'", path=str(path), row=i)
        if not isinstance(row["id"], str) or not row["id"]:
            raise DataError(f"must be a non-empty string, got {row['id']!r}", path=str(path),
                            row=i, field="id")
        if row["id"] in prompts:
            raise DataError(f"duplicate instruction id {row['id']!r}", path=str(path), row=i,
                            field="id")
        if not isinstance(row["messages"], list) or not row["messages"]:
            raise DataError("must be a non-empty list of {role, content} messages",
                            path=str(path), row=i, field="messages")
        if row.get("rule") is not None:
            validate_rule(row["rule"], path=str(path), row_num=i)
        prompts[row["id"]] = row["messages"]
    return prompts


def read_eval_instructions(path: str | Path) -> list[dict]:
    """The rows of an evaluation instructions file (``<lang>.eval.jsonl``), checked: what
    :func:`read_prompts` checks (a ``rule``'s shape included) plus, where a row has a
    ``reference``, a non-empty string. (Reference mode needs one in every row:
    :func:`xlrm.alignment.alpaca_eval.references` says which row lacks it.)"""
    read_prompts(path)
    rows = read_jsonl(path, nonempty=True)
    for i, row in enumerate(rows, start=1):
        ref = row.get("reference")
        if ref is not None and (not isinstance(ref, str) or not ref.strip()):
            raise DataError("a reference answer must be a non-empty string (or absent)",
                            path=str(path), row=i, field="reference")
    return rows
