"""The xlrm seed preference set: a small parallel multilingual set generated from a seed.

Six subsets in the four M-RewardBench categories, each pair with a verifiable better side:

* ``seed-math`` (reasoning): arithmetic word problem; rejected states a wrong result.
* ``seed-chat-language`` (chat): rejected answers in another of the five languages.
* ``seed-chat-topic`` (chat): rejected fluently answers about a different item.
* ``seed-chat-constraint`` (chat-hard): rejected subtly breaks a checkable constraint.
* ``seed-safety-refuse`` (safety): harmful request; chosen refuses, rejected complies (vaguely).
* ``seed-safety-respond`` (safety): harmless but risky-sounding request; rejected refuses.

Every random choice of item ``k`` comes from ``random.Random(f"{seed}:{subset}:{k}")`` and is
made once, independently of the language, so the rows of an item are translations of each
other. Lengths are balanced with neutral filler sentences (see :func:`_balance`).
"""

from __future__ import annotations

import random
import re
from typing import Sequence

from xlrm.data import seed_text as T
from xlrm.errors import ConfigError
from xlrm.schema import validate_pair

SEED_LANGUAGES: tuple[str, ...] = ("en", "es", "it", "ko", "zh")
SEED_SUBSETS: dict[str, str] = {
    "seed-math": "reasoning",
    "seed-chat-language": "chat",
    "seed-chat-topic": "chat",
    "seed-chat-constraint": "chat-hard",
    "seed-safety-refuse": "safety",
    "seed-safety-respond": "safety",
}
SOURCE = "xlrm-seed"

_FACT_KINDS = ("capital", "food", "colour")
_CONSTRAINT_KINDS = ("list", "avoid", "start")
_MATH_OPS = ("add", "sub", "mul", "div")
_OP_SYMBOL = {"add": "+", "sub": "-", "mul": "×", "div": "÷"}
_MAX_PADS = 5
_NUMBERED_LINE = re.compile(r"^\s*\d+[.)]\s*\S", re.M)
_SENTENCE_END = re.compile(r"[.!?。！？]")
_NUMBER = re.compile(r"\d+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[^\W\d_]+")


def _check_languages(languages: Sequence[str]) -> list[str]:
    langs = list(languages)
    for lang in langs:
        if lang not in SEED_LANGUAGES:
            raise ConfigError(f"seed data: unsupported language {lang!r}; "
                              f"supported: {list(SEED_LANGUAGES)}")
    if len(set(langs)) != len(langs):
        raise ConfigError(f"seed data: duplicate language in {langs}")
    return langs


def _rng(seed: int, subset: str, k: int) -> random.Random:
    return random.Random(f"{seed}:{subset}:{k}")


def _item_id(subset: str, k: int) -> str:
    return f"{subset}-{k:05d}"


# ------------------------------------------------------------------ Korean particles
def _has_batchim(word: str) -> bool:
    ch = word[-1]
    return "\uac00" <= ch <= "\ud7a3" and (ord(ch) - 0xAC00) % 28 != 0


def _ko_particle(word: str, after_consonant: str, after_vowel: str) -> str:
    return after_consonant if _has_batchim(word) else after_vowel


def _ko_josa(word: str, after_consonant: str, after_vowel: str) -> str:
    return word + _ko_particle(word, after_consonant, after_vowel)


# ------------------------------------------------------------------ length balance
def _pad_plan(rng: random.Random, openers: bool = True) -> dict:
    """Language-independent filler choices: which side ends up longer, and for each side
    the order in which filler sentences are added (at most one opener)."""

    def seq() -> list[tuple[str, int]]:
        pads = [("close", j) for j in rng.sample(range(4), 4)]
        opener = ("open", rng.randrange(3))
        pos = rng.randrange(3)
        if openers:
            pads.insert(pos, opener)
        return pads[:_MAX_PADS]

    return {"chosen_longer": rng.random() < 0.5, "chosen": seq(), "rejected": seq()}


def _padded(body: str, pads: list[tuple[str, int]], n: int, lang: str) -> str:
    fill = T.FILLERS[lang]
    opens = [fill["open"][i] for kind, i in pads[:n] if kind == "open"]
    closes = [fill["close"][i] for i in sorted(i for kind, i in pads[:n] if kind == "close")]
    return T.JOINER[lang].join([*opens, body, *closes])


def _balance(chosen: str, rejected: str, plan: dict, lang_c: str, lang_r: str) -> tuple[str, str]:
    """Add fillers so that the side the plan names is longer (in characters), then fill the
    other side up while it stays shorter, so both end up about equally long."""
    bodies = {"chosen": (chosen, lang_c), "rejected": (rejected, lang_r)}
    used = {"chosen": 0, "rejected": 0}

    def text(side: str, n: int | None = None) -> str:
        body, lang = bodies[side]
        return _padded(body, plan[side], used[side] if n is None else n, lang)

    long_side = "chosen" if plan["chosen_longer"] else "rejected"
    short_side = "rejected" if long_side == "chosen" else "chosen"
    while len(text(long_side)) <= len(text(short_side)) and used[long_side] < len(plan[long_side]):
        used[long_side] += 1
    while (used[short_side] < len(plan[short_side])
           and len(text(short_side, used[short_side] + 1)) < len(text(long_side))):
        used[short_side] += 1
    return text("chosen"), text("rejected")


# ------------------------------------------------------------------ text checks
def detect_language(text: str) -> str | None:
    """The seed language a text is written in (script, then function words), or None."""
    if _HANGUL.search(text):
        return "ko"
    if _HAN.search(text):
        return "zh"
    words = _WORD.findall(text.lower())
    scores = {lang: sum(w in T.STOPWORDS[lang] for w in words) for lang in ("en", "es", "it")}
    best = max(scores.values())
    winners = [lang for lang, s in scores.items() if s == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def is_refusal(text: str, lang: str) -> bool:
    low = text.lower()
    return any(m in low for m in T.REFUSAL_MARKERS[lang])


def _last_number(text: str) -> int | None:
    nums = _NUMBER.findall(text)
    return int(nums[-1]) if nums else None


def _count_numbered(text: str) -> int:
    return len(_NUMBERED_LINE.findall(text))


def _one_sentence_without(text: str, word: str) -> bool:
    text = text.strip()
    ends = _SENTENCE_END.findall(text)
    return len(ends) == 1 and bool(_SENTENCE_END.fullmatch(text[-1])) \
        and word.lower() not in text.lower()


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _uncap(s: str) -> str:
    return s[:1].lower() + s[1:]


# ------------------------------------------------------------------ facts
def _fact_count(kind: str) -> int:
    table = {"capital": T.CAPITALS, "food": T.ANIMAL_FOOD, "colour": T.COLOURS}[kind]
    return len(table["en"])


def _fact(kind: str, i: int, lang: str) -> tuple[str, str, str]:
    """(question, answer, fact word) of fact ``i`` of ``kind`` in ``lang``."""
    if kind == "capital":
        country, city = T.CAPITALS[lang][i]
        q, a = T.CAPITAL_TEMPLATES[lang]
        return q.format(country=country), a.format(country=country, city=city), city
    table = T.ANIMAL_FOOD if kind == "food" else T.COLOURS
    return table[lang][i]


def _spec_fact(rng: random.Random) -> tuple[str, int]:
    kind = rng.choice(_FACT_KINDS)
    return kind, rng.randrange(_fact_count(kind))


# ------------------------------------------------------------------ specs (language-free)
def _math_value(op: str, a: int, b: int) -> int:
    return {"add": a + b, "sub": a - b, "mul": a * b, "div": a // b}[op]


def _spec_math(rng: random.Random, k: int) -> dict:
    op = rng.choice(_MATH_OPS)
    name, obj = rng.randrange(len(T.NAMES["en"])), rng.randrange(len(T.OBJECTS["en"]))
    if op == "add":
        a, b = rng.randint(2, 20), rng.randint(2, 15)
    elif op == "sub":
        a = rng.randint(8, 30)
        b = rng.randint(2, a - 2)
    elif op == "mul":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
    else:
        b, q = rng.randint(2, 6), rng.randint(2, 9)
        a = b * q
    result = _math_value(op, a, b)
    wrong_op, wrong = op, None
    if rng.random() < 0.4:  # a wrong operation, shown correctly computed
        alt = {"add": ("sub", "mul"), "sub": ("add",), "mul": ("add",), "div": ("sub", "mul")}
        cand = rng.choice(alt[op])
        val = _math_value(cand, a, b)
        if val >= 2 and val != result:
            wrong_op, wrong = cand, val
    if wrong is None:  # the right operation, off by 1-3
        d, sign = rng.randint(1, 3), rng.choice((-1, 1))
        wrong = result + sign * d if result + sign * d >= 2 else result + d
    return {"op": op, "name": name, "obj": obj, "a": a, "b": b, "result": result,
            "wrong_op": wrong_op, "wrong": wrong, "plan": _pad_plan(rng)}


def _spec_topic(rng: random.Random, k: int) -> dict:
    kind, i = _spec_fact(rng)
    n = _fact_count(kind)
    j = (i + rng.randrange(1, n)) % n
    return {"kind": kind, "i": i, "j": j, "plan": _pad_plan(rng)}


def _spec_language(rng: random.Random, k: int) -> dict:
    kind, i = _spec_fact(rng)
    return {"kind": kind, "i": i, "other": rng.random(), "plan": _pad_plan(rng)}


def _spec_constraint(rng: random.Random, k: int) -> dict:
    ctype = _CONSTRAINT_KINDS[k % len(_CONSTRAINT_KINDS)]
    spec: dict = {"type": ctype}
    if ctype == "list":
        n = rng.randint(3, 5)
        spec.update(cat=rng.randrange(len(T.LIST_CATEGORIES["en"])), n=n,
                    items=rng.sample(range(7), n + 1),
                    rejected_n=n + 1 if rng.random() < 0.5 else n - 1)
    elif ctype == "avoid":
        spec.update(topic=rng.randrange(len(T.AVOID_ITEMS["en"])))
    else:
        nw = len(T.START_WORDS["en"])
        w = rng.randrange(nw)
        kind, i = _spec_fact(rng)
        spec.update(word=w, other_word=(w + rng.randrange(1, nw)) % nw, kind=kind, i=i,
                    plan=_pad_plan(rng, openers=False))
    return spec


def _spec_refuse(rng: random.Random, k: int) -> dict:
    return {"req": rng.randrange(len(T.HARMFUL["en"])), "refusal": rng.randrange(3),
            "comply": rng.randrange(3), "alternative": rng.random() < 0.7,
            "plan": _pad_plan(rng)}


def _spec_respond(rng: random.Random, k: int) -> dict:
    return {"req": rng.randrange(len(T.BENIGN["en"])), "refusal": rng.randrange(3),
            "reason": rng.randrange(3), "plan": _pad_plan(rng)}


_SPECS = {
    "seed-math": _spec_math,
    "seed-chat-language": _spec_language,
    "seed-chat-topic": _spec_topic,
    "seed-chat-constraint": _spec_constraint,
    "seed-safety-refuse": _spec_refuse,
    "seed-safety-respond": _spec_respond,
}


def _spec(seed: int, subset: str, k: int) -> dict:
    spec = _SPECS[subset](_rng(seed, subset, k), k)
    if "plan" in spec:
        # Which side is longer: a random coin per pair of items (2m, 2m+1), opposite for the
        # two, so every subset is exactly half "chosen longer" for an even item count.
        coin = random.Random(f"{seed}:{subset}:{k // 2}:longer").random() < 0.5
        spec["plan"]["chosen_longer"] = coin == (k % 2 == 0)
    return spec


# ------------------------------------------------------------------ rendering (per language)
def _math_context(spec: dict, lang: str) -> dict:
    name = T.NAMES[lang][spec["name"]]
    obj = T.OBJECTS[lang][spec["obj"]]
    ctx = {"name": name}
    if lang in ("en", "es", "it"):
        ctx["obj"] = obj["pl"]
        for key, (masc, fem) in T.GENDERED.get(lang, {}).items():
            ctx[key] = fem if obj["g"] == "f" else masc
    elif lang == "ko":
        noun, cnt = obj["n"], obj["c"]
        ctx.update(name_n=_ko_josa(name, "은", "는"), obj=noun, obj_r=_ko_josa(noun, "을", "를"),
                   obj_n=_ko_josa(noun, "은", "는"), cnt=cnt, cnt_r=_ko_josa(cnt, "을", "를"),
                   cnt_i=_ko_josa(cnt, "이", "가"))
    else:
        ctx.update(obj=obj["n"], m=obj["m"])
    return ctx


def _render_math(spec: dict, lang: str) -> tuple[str, str, str]:
    q_tpl, a_tpl = T.MATH_TEMPLATES[lang][spec["op"]]
    ctx = _math_context(spec, lang)
    a, b = spec["a"], spec["b"]
    prompt = q_tpl.format(a=a, b=b, **ctx)
    chosen = a_tpl.format(a=a, b=b, op=_OP_SYMBOL[spec["op"]], x=spec["result"], **ctx)
    rejected = a_tpl.format(a=a, b=b, op=_OP_SYMBOL[spec["wrong_op"]], x=spec["wrong"], **ctx)
    return (prompt, *_balance(chosen, rejected, spec["plan"], lang, lang))


def _render_topic(spec: dict, lang: str) -> tuple[str, str, str]:
    q, chosen, _ = _fact(spec["kind"], spec["i"], lang)
    _, rejected, _ = _fact(spec["kind"], spec["j"], lang)
    return (q, *_balance(chosen, rejected, spec["plan"], lang, lang))


def _other_language(spec: dict, lang: str) -> str:
    others = [x for x in SEED_LANGUAGES if x != lang]
    return others[min(int(spec["other"] * len(others)), len(others) - 1)]


def _render_language(spec: dict, lang: str) -> tuple[str, str, str]:
    other = _other_language(spec, lang)
    q, chosen, _ = _fact(spec["kind"], spec["i"], lang)
    _, rejected, _ = _fact(spec["kind"], spec["i"], other)
    return (q, *_balance(chosen, rejected, spec["plan"], lang, other))


def _start_words(spec: dict, lang: str) -> tuple[str, str]:
    words = T.START_WORDS[lang]
    return words[spec["word"]], words[spec["other_word"]]


def _render_constraint(spec: dict, lang: str) -> tuple[str, str, str]:
    if spec["type"] == "list":
        cat = T.LIST_CATEGORIES[lang][spec["cat"]]
        items = [cat["items"][i] for i in spec["items"]]
        prompt = T.LIST_TEMPLATES[lang].format(
            n=spec["n"], cat=cat["cat"], m=cat.get("m", ""), cat_r=_ko_josa(cat["cat"], "을", "를"))

        def numbered(n: int) -> str:
            return "\n".join(f"{p + 1}. {items[p]}" for p in range(n))

        return prompt, numbered(spec["n"]), numbered(spec["rejected_n"])
    if spec["type"] == "avoid":
        topic, word, keeps, breaks = T.AVOID_ITEMS[lang][spec["topic"]]
        prompt = T.AVOID_TEMPLATES[lang].format(
            topic=topic, word=word, ra=_ko_particle(word, "이라는", "라는"),
            topic_r=_ko_josa(topic, "을", "를"))
        return prompt, keeps, breaks
    word, other = _start_words(spec, lang)
    question, answer, _ = _fact(spec["kind"], spec["i"], lang)
    prompt = T.START_TEMPLATES[lang].format(word=word, question=question,
                                            ra=_ko_particle(word, "이라는", "라는"))
    sep = T.START_SEP[lang]
    chosen, rejected = word + sep + _uncap(answer), other + sep + _uncap(answer)
    return (prompt, *_balance(chosen, rejected, spec["plan"], lang, lang))


def _render_refuse(spec: dict, lang: str) -> tuple[str, str, str]:
    request, alternative = T.HARMFUL[lang][spec["req"]]
    parts = [T.REFUSALS[lang][spec["refusal"]]]
    if spec["alternative"]:
        parts.append(alternative)
    chosen = T.JOINER[lang].join(parts)
    rejected = T.COMPLIANCE[lang][spec["comply"]]
    return (request, *_balance(chosen, rejected, spec["plan"], lang, lang))


def _render_respond(spec: dict, lang: str) -> tuple[str, str, str]:
    request, helpful = T.BENIGN[lang][spec["req"]]
    rejected = T.JOINER[lang].join([T.REFUSALS[lang][spec["refusal"]],
                                    T.REFUSAL_REASONS[lang][spec["reason"]]])
    return (request, *_balance(helpful, rejected, spec["plan"], lang, lang))


_RENDER = {
    "seed-math": _render_math,
    "seed-chat-language": _render_language,
    "seed-chat-topic": _render_topic,
    "seed-chat-constraint": _render_constraint,
    "seed-safety-refuse": _render_refuse,
    "seed-safety-respond": _render_respond,
}


# ------------------------------------------------------------------ public API
def generate(seed: int = 0, items_per_subset: int = 50,
             languages: Sequence[str] = SEED_LANGUAGES) -> list[dict]:
    """All seed pairs: every item of every subset in every requested language.

    Rows are ordered by (id, position of the language in ``languages``).
    """
    langs = _check_languages(languages)
    if isinstance(items_per_subset, bool) or not isinstance(items_per_subset, int) \
            or items_per_subset < 0:
        raise ConfigError(f"seed data: items_per_subset must be an int >= 0, "
                          f"got {items_per_subset!r}")
    rows = []
    for subset in sorted(SEED_SUBSETS):
        render = _RENDER[subset]
        for k in range(items_per_subset):
            spec = _spec(seed, subset, k)
            item_id = _item_id(subset, k)
            for lang in langs:
                prompt, chosen, rejected = render(spec, lang)
                rows.append({"id": item_id, "language": lang,
                             "prompt": [{"role": "user", "content": prompt}],
                             "chosen": chosen, "rejected": rejected, "source": SOURCE,
                             "subset": subset, "category": SEED_SUBSETS[subset]})
    return rows


def _parse_id(item_id: str) -> tuple[str, int] | None:
    m = re.fullmatch(r"(.+)-(\d+)", item_id)
    if not m or m.group(1) not in SEED_SUBSETS:
        return None
    return m.group(1), int(m.group(2))


def verify_pair(row: dict, seed: int = 0) -> bool:
    """Re-check from the texts that ``chosen`` is the better side of a seed row.

    The item's language-free choices are regenerated from ``(seed, id)``; the checks
    themselves only read the row's texts.
    """
    lang = row["language"]
    _check_languages([lang])
    parsed = _parse_id(row["id"])
    if parsed is None:
        return False
    subset, k = parsed
    spec = _spec(seed, subset, k)
    chosen, rejected = row["chosen"], row["rejected"]
    if subset == "seed-math":
        return _last_number(chosen) == spec["result"] and _last_number(rejected) != spec["result"]
    if subset == "seed-chat-topic":
        fact = _fact(spec["kind"], spec["i"], lang)[2].lower()
        return fact in chosen.lower() and fact not in rejected.lower()
    if subset == "seed-chat-language":
        return detect_language(chosen) == lang and detect_language(rejected) not in (lang,)
    if subset == "seed-safety-refuse":
        return is_refusal(chosen, lang) and not is_refusal(rejected, lang)
    if subset == "seed-safety-respond":
        return not is_refusal(chosen, lang) and is_refusal(rejected, lang)
    # seed-chat-constraint
    if spec["type"] == "list":
        n = spec["n"]
        return _count_numbered(chosen) == n and _count_numbered(rejected) != n
    if spec["type"] == "avoid":
        word = T.AVOID_ITEMS[lang][spec["topic"]][1]
        return _one_sentence_without(chosen, word) and not _one_sentence_without(rejected, word)
    word, _ = _start_words(spec, lang)
    return chosen.startswith(word) and not rejected.startswith(word)


def validated(rows: list[dict]) -> list[dict]:
    """The rows passed through :func:`xlrm.schema.validate_pair` (raises on the first bad one)."""
    return [validate_pair(r, row_num=i) for i, r in enumerate(rows, start=1)]
