"""The language-free choices of every seed item (its *spec*), made once per item.

Every random choice of item ``k`` of a subset comes from
``random.Random(f"{seed}:{subset}:{k}")``, independently of the language, so the rows of an
item in the five languages are translations of each other. A spec holds indices into the
parallel tables of :mod:`xlrm.data.seed_text` and, for most subsets, a *pad plan*: the
filler sentences :func:`xlrm.data.seed_render.balance` may add to each side.
"""

from __future__ import annotations

import random

from xlrm.data.seed_text import arithmetic, constraints, facts, safety

FACT_KINDS = ("capital", "food", "colour")
_CONSTRAINT_KINDS = ("list", "avoid", "start")
_MATH_OPS = ("add", "sub", "mul", "div")
_MAX_PADS = 5


def _rng(seed: int, subset: str, k: int) -> random.Random:
    return random.Random(f"{seed}:{subset}:{k}")


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


def fact_count(kind: str) -> int:
    table = {"capital": facts.CAPITALS, "food": facts.ANIMAL_FOOD, "colour": facts.COLOURS}[kind]
    return len(table["en"])


def _spec_fact(rng: random.Random) -> tuple[str, int]:
    kind = rng.choice(FACT_KINDS)
    return kind, rng.randrange(fact_count(kind))


def _math_value(op: str, a: int, b: int) -> int:
    return {"add": a + b, "sub": a - b, "mul": a * b, "div": a // b}[op]


def _spec_math(rng: random.Random, k: int) -> dict:
    op = rng.choice(_MATH_OPS)
    name = rng.randrange(len(arithmetic.NAMES["en"]))
    obj = rng.randrange(len(arithmetic.OBJECTS["en"]))
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
    n = fact_count(kind)
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
        spec.update(cat=rng.randrange(len(constraints.LIST_CATEGORIES["en"])), n=n,
                    items=rng.sample(range(7), n + 1),
                    rejected_n=n + 1 if rng.random() < 0.5 else n - 1)
    elif ctype == "avoid":
        spec.update(topic=rng.randrange(len(constraints.AVOID_ITEMS["en"])))
    else:
        nw = len(constraints.START_WORDS["en"])
        w = rng.randrange(nw)
        kind, i = _spec_fact(rng)
        spec.update(word=w, other_word=(w + rng.randrange(1, nw)) % nw, kind=kind, i=i,
                    plan=_pad_plan(rng, openers=False))
    return spec


def _spec_refuse(rng: random.Random, k: int) -> dict:
    return {"req": rng.randrange(len(safety.HARMFUL["en"])), "refusal": rng.randrange(3),
            "comply": rng.randrange(3), "alternative": rng.random() < 0.7,
            "plan": _pad_plan(rng)}


def _spec_respond(rng: random.Random, k: int) -> dict:
    return {"req": rng.randrange(len(safety.BENIGN["en"])), "refusal": rng.randrange(3),
            "reason": rng.randrange(3), "plan": _pad_plan(rng)}


_SPECS = {
    "seed-math": _spec_math,
    "seed-chat-language": _spec_language,
    "seed-chat-topic": _spec_topic,
    "seed-chat-constraint": _spec_constraint,
    "seed-safety-refuse": _spec_refuse,
    "seed-safety-respond": _spec_respond,
}


def item_spec(seed: int, subset: str, k: int) -> dict:
    """The spec of item ``k`` of ``subset`` (the same for every language)."""
    spec = _SPECS[subset](_rng(seed, subset, k), k)
    if "plan" in spec:
        # Which side is longer: a random coin per pair of items (2m, 2m+1), opposite for the
        # two, so every subset is exactly half "chosen longer" for an even item count.
        coin = random.Random(f"{seed}:{subset}:{k // 2}:longer").random() < 0.5
        spec["plan"]["chosen_longer"] = coin == (k % 2 == 0)
    return spec
