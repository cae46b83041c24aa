"""Seed items rendered in one language: templates filled from an item's spec
(:mod:`xlrm.data.seed_items`), Korean particles, and the length balance of the two replies.
"""

from __future__ import annotations

from xlrm.data.seed_text import LANGUAGES, arithmetic, common, constraints, facts, safety

OP_SYMBOL = {"add": "+", "sub": "-", "mul": "×", "div": "÷"}


# ------------------------------------------------------------------ Korean particles
def _has_batchim(word: str) -> bool:
    ch = word[-1]
    return "\uac00" <= ch <= "\ud7a3" and (ord(ch) - 0xAC00) % 28 != 0


def ko_particle(word: str, after_consonant: str, after_vowel: str) -> str:
    return after_consonant if _has_batchim(word) else after_vowel


def ko_josa(word: str, after_consonant: str, after_vowel: str) -> str:
    return word + ko_particle(word, after_consonant, after_vowel)


# ------------------------------------------------------------------ length balance
def _padded(body: str, pads: list[tuple[str, int]], n: int, lang: str) -> str:
    fill = common.FILLERS[lang]
    opens = [fill["open"][i] for kind, i in pads[:n] if kind == "open"]
    closes = [fill["close"][i] for i in sorted(i for kind, i in pads[:n] if kind == "close")]
    return common.JOINER[lang].join([*opens, body, *closes])


def balance(chosen: str, rejected: str, plan: dict, lang_c: str, lang_r: str) -> tuple[str, str]:
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


def _uncap(s: str) -> str:
    return s[:1].lower() + s[1:]


# ------------------------------------------------------------------ facts
def fact(kind: str, i: int, lang: str) -> tuple[str, str, str]:
    """(question, answer, fact word) of fact ``i`` of ``kind`` in ``lang``."""
    if kind == "capital":
        country, city = facts.CAPITALS[lang][i]
        q, a = facts.CAPITAL_TEMPLATES[lang]
        return q.format(country=country), a.format(country=country, city=city), city
    table = facts.ANIMAL_FOOD if kind == "food" else facts.COLOURS
    return table[lang][i]


def start_words(spec: dict, lang: str) -> tuple[str, str]:
    """(the word the reply must start with, the other word the rejected reply starts with)."""
    words = constraints.START_WORDS[lang]
    return words[spec["word"]], words[spec["other_word"]]


# ------------------------------------------------------------------ rendering (per subset)
def _math_context(spec: dict, lang: str) -> dict:
    name = arithmetic.NAMES[lang][spec["name"]]
    obj = arithmetic.OBJECTS[lang][spec["obj"]]
    ctx = {"name": name}
    if lang in ("en", "es", "it"):
        ctx["obj"] = obj["pl"]
        for key, (masc, fem) in arithmetic.GENDERED.get(lang, {}).items():
            ctx[key] = fem if obj["g"] == "f" else masc
    elif lang == "ko":
        noun, cnt = obj["n"], obj["c"]
        ctx.update(name_n=ko_josa(name, "은", "는"), obj=noun, obj_r=ko_josa(noun, "을", "를"),
                   obj_n=ko_josa(noun, "은", "는"), cnt=cnt, cnt_r=ko_josa(cnt, "을", "를"),
                   cnt_i=ko_josa(cnt, "이", "가"))
    else:
        ctx.update(obj=obj["n"], m=obj["m"])
    return ctx


def _render_math(spec: dict, lang: str) -> tuple[str, str, str]:
    q_tpl, a_tpl = arithmetic.MATH_TEMPLATES[lang][spec["op"]]
    ctx = _math_context(spec, lang)
    a, b = spec["a"], spec["b"]
    prompt = q_tpl.format(a=a, b=b, **ctx)
    chosen = a_tpl.format(a=a, b=b, op=OP_SYMBOL[spec["op"]], x=spec["result"], **ctx)
    rejected = a_tpl.format(a=a, b=b, op=OP_SYMBOL[spec["wrong_op"]], x=spec["wrong"], **ctx)
    return (prompt, *balance(chosen, rejected, spec["plan"], lang, lang))


def _render_topic(spec: dict, lang: str) -> tuple[str, str, str]:
    q, chosen, _ = fact(spec["kind"], spec["i"], lang)
    _, rejected, _ = fact(spec["kind"], spec["j"], lang)
    return (q, *balance(chosen, rejected, spec["plan"], lang, lang))


def _other_language(spec: dict, lang: str) -> str:
    others = [x for x in LANGUAGES if x != lang]
    return others[min(int(spec["other"] * len(others)), len(others) - 1)]


def _render_language(spec: dict, lang: str) -> tuple[str, str, str]:
    other = _other_language(spec, lang)
    q, chosen, _ = fact(spec["kind"], spec["i"], lang)
    _, rejected, _ = fact(spec["kind"], spec["i"], other)
    return (q, *balance(chosen, rejected, spec["plan"], lang, other))


def _render_constraint(spec: dict, lang: str) -> tuple[str, str, str]:
    if spec["type"] == "list":
        cat = constraints.LIST_CATEGORIES[lang][spec["cat"]]
        items = [cat["items"][i] for i in spec["items"]]
        prompt = constraints.LIST_TEMPLATES[lang].format(
            n=spec["n"], cat=cat["cat"], m=cat.get("m", ""), cat_r=ko_josa(cat["cat"], "을", "를"))

        def numbered(n: int) -> str:
            return "\n".join(f"{p + 1}. {items[p]}" for p in range(n))

        return prompt, numbered(spec["n"]), numbered(spec["rejected_n"])
    if spec["type"] == "avoid":
        topic, word, keeps, breaks = constraints.AVOID_ITEMS[lang][spec["topic"]]
        prompt = constraints.AVOID_TEMPLATES[lang].format(
            topic=topic, word=word, ra=ko_particle(word, "이라는", "라는"),
            topic_r=ko_josa(topic, "을", "를"))
        return prompt, keeps, breaks
    word, other = start_words(spec, lang)
    question, answer, _ = fact(spec["kind"], spec["i"], lang)
    prompt = constraints.START_TEMPLATES[lang].format(word=word, question=question,
                                                      ra=ko_particle(word, "이라는", "라는"))
    sep = constraints.START_SEP[lang]
    chosen, rejected = word + sep + _uncap(answer), other + sep + _uncap(answer)
    return (prompt, *balance(chosen, rejected, spec["plan"], lang, lang))


def _render_refuse(spec: dict, lang: str) -> tuple[str, str, str]:
    request, alternative = safety.HARMFUL[lang][spec["req"]]
    parts = [safety.REFUSALS[lang][spec["refusal"]]]
    if spec["alternative"]:
        parts.append(alternative)
    chosen = common.JOINER[lang].join(parts)
    rejected = safety.COMPLIANCE[lang][spec["comply"]]
    return (request, *balance(chosen, rejected, spec["plan"], lang, lang))


def _render_respond(spec: dict, lang: str) -> tuple[str, str, str]:
    request, helpful = safety.BENIGN[lang][spec["req"]]
    rejected = common.JOINER[lang].join([safety.REFUSALS[lang][spec["refusal"]],
                                         safety.REFUSAL_REASONS[lang][spec["reason"]]])
    return (request, *balance(helpful, rejected, spec["plan"], lang, lang))


_RENDER = {
    "seed-math": _render_math,
    "seed-chat-language": _render_language,
    "seed-chat-topic": _render_topic,
    "seed-chat-constraint": _render_constraint,
    "seed-safety-refuse": _render_refuse,
    "seed-safety-respond": _render_respond,
}


def render(subset: str, spec: dict, lang: str) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) of an item of ``subset`` with ``spec`` in ``lang``."""
    return _RENDER[subset](spec, lang)
