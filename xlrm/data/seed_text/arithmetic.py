"""``seed-math``: names, objects (with gender / counter / measure word) and word-problem
templates.
"""

from __future__ import annotations

NAMES: dict[str, list[str]] = {
    "en": ["Ana", "Tom", "Lucy", "Ben", "Maria", "Sam"],
    "es": ["Ana", "Pablo", "Lucía", "Diego", "Carmen", "Javier"],
    "it": ["Giulia", "Marco", "Sara", "Luca", "Elena", "Paolo"],
    "ko": ["민수", "지아", "서연", "준호", "하은", "도윤"],
    "zh": ["小明", "小红", "丽丽", "小华", "小军", "芳芳"],
}

# en/es/it: plural noun (+ grammatical gender); ko: noun + counter; zh: noun + measure word.
OBJECTS: dict[str, list[dict[str, str]]] = {
    "en": [{"pl": "apples"}, {"pl": "pencils"}, {"pl": "sweets"}, {"pl": "cookies"},
           {"pl": "marbles"}, {"pl": "stickers"}],
    "es": [{"pl": "manzanas", "g": "f"}, {"pl": "lápices", "g": "m"},
           {"pl": "caramelos", "g": "m"}, {"pl": "galletas", "g": "f"},
           {"pl": "canicas", "g": "f"}, {"pl": "pegatinas", "g": "f"}],
    "it": [{"pl": "mele", "g": "f"}, {"pl": "matite", "g": "f"}, {"pl": "caramelle", "g": "f"},
           {"pl": "biscotti", "g": "m"}, {"pl": "biglie", "g": "f"}, {"pl": "adesivi", "g": "m"}],
    "ko": [{"n": "사과", "c": "개"}, {"n": "연필", "c": "자루"}, {"n": "사탕", "c": "개"},
           {"n": "쿠키", "c": "개"}, {"n": "구슬", "c": "개"}, {"n": "스티커", "c": "장"}],
    "zh": [{"n": "苹果", "m": "个"}, {"n": "铅笔", "m": "支"}, {"n": "糖", "m": "颗"},
           {"n": "饼干", "m": "块"}, {"n": "弹珠", "m": "颗"}, {"n": "贴纸", "m": "张"}],
}

# Gendered words for es/it templates: key -> (masculine, feminine).
GENDERED: dict[str, dict[str, tuple[str, str]]] = {
    "es": {"cuant": ("Cuántos", "Cuántas"), "lo": ("los", "las")},
    "it": {"quant": ("Quanti", "Quante"), "altr": ("altri", "altre"), "li": ("li", "le")},
}

# op -> (question, answer). The answer's LAST number is the result {x}; {op} is the
# operator shown in the worked equation.
MATH_TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "add": ("{name} has {a} {obj} and buys {b} more. How many {obj} does {name} have now?",
                "{a} {op} {b} = {x}, so {name} now has {x} {obj}."),
        "sub": ("{name} has {a} {obj} and gives {b} of them to a friend. "
                "How many {obj} does {name} have left?",
                "{a} {op} {b} = {x}, so {name} has {x} {obj} left."),
        "mul": ("{name} buys {a} bags with {b} {obj} in each bag. "
                "How many {obj} does {name} buy in total?",
                "{a} {op} {b} = {x}, so {name} buys {x} {obj} in total."),
        "div": ("{name} has {a} {obj} and shares them equally among {b} friends. "
                "How many {obj} does each friend get?",
                "{a} {op} {b} = {x}, so each friend gets {x} {obj}."),
    },
    "es": {
        "add": ("{name} tiene {a} {obj} y compra {b} más. ¿{cuant} {obj} tiene {name} ahora?",
                "{a} {op} {b} = {x}, así que {name} tiene ahora {x} {obj}."),
        "sub": ("{name} tiene {a} {obj} y le da {b} a un amigo. ¿{cuant} {obj} le quedan a {name}?",
                "{a} {op} {b} = {x}, así que a {name} le quedan {x} {obj}."),
        "mul": ("{name} compra {a} bolsas con {b} {obj} en cada bolsa. "
                "¿{cuant} {obj} compra {name} en total?",
                "{a} {op} {b} = {x}, así que {name} compra {x} {obj} en total."),
        "div": ("{name} tiene {a} {obj} y {lo} reparte a partes iguales entre {b} amigos. "
                "¿{cuant} {obj} recibe cada amigo?",
                "{a} {op} {b} = {x}, así que cada amigo recibe {x} {obj}."),
    },
    "it": {
        "add": ("{name} ha {a} {obj} e ne compra {altr} {b}. {quant} {obj} ha ora {name}?",
                "{a} {op} {b} = {x}, quindi ora {name} ha {x} {obj}."),
        "sub": ("{name} ha {a} {obj} e ne regala {b} a un amico. {quant} {obj} restano a {name}?",
                "{a} {op} {b} = {x}, quindi a {name} restano {x} {obj}."),
        "mul": ("{name} compra {a} sacchetti con {b} {obj} in ogni sacchetto. "
                "{quant} {obj} compra in tutto {name}?",
                "{a} {op} {b} = {x}, quindi {name} compra {x} {obj} in tutto."),
        "div": ("{name} ha {a} {obj} e {li} divide in parti uguali tra {b} amici. "
                "{quant} {obj} riceve ogni amico?",
                "{a} {op} {b} = {x}, quindi ogni amico riceve {x} {obj}."),
    },
    "ko": {
        "add": ("{name_n} {obj} {a}{cnt_r} 가지고 있고 {b}{cnt_r} 더 샀습니다. "
                "{name_n} 이제 {obj_r} 몇 {cnt} 가지고 있습니까?",
                "{a} {op} {b} = {x}. 따라서 {name_n} 이제 {obj} {x}{cnt_r} 가지고 있습니다."),
        "sub": ("{name_n} {obj} {a}{cnt_r} 가지고 있었는데, 그중 {b}{cnt_r} 친구에게 주었습니다. "
                "{name}에게 남은 {obj_n} 몇 {cnt}입니까?",
                "{a} {op} {b} = {x}. 따라서 {name}에게 {obj} {x}{cnt_i} 남았습니다."),
        "mul": ("{name_n} 봉지 {a}개를 샀고, 봉지마다 {obj} {b}{cnt_i} 들어 있습니다. "
                "{name_n} {obj_r} 모두 몇 {cnt} 샀습니까?",
                "{a} {op} {b} = {x}. 따라서 {name_n} {obj} {x}{cnt_r} 샀습니다."),
        "div": ("{name_n} {obj} {a}{cnt_r} 친구 {b}명에게 똑같이 나누어 주었습니다. "
                "친구 한 명은 {obj_r} 몇 {cnt} 받습니까?",
                "{a} {op} {b} = {x}. 따라서 친구 한 명은 {obj} {x}{cnt_r} 받습니다."),
    },
    "zh": {
        "add": ("{name}有{a}{m}{obj}，又买了{b}{m}。{name}现在有多少{m}{obj}？",
                "{a} {op} {b} = {x}，所以{name}现在有{x}{m}{obj}。"),
        "sub": ("{name}有{a}{m}{obj}，送给朋友{b}{m}。{name}还剩多少{m}{obj}？",
                "{a} {op} {b} = {x}，所以{name}还剩{x}{m}{obj}。"),
        "mul": ("{name}买了{a}袋{obj}，每袋有{b}{m}。{name}一共买了多少{m}{obj}？",
                "{a} {op} {b} = {x}，所以{name}一共买了{x}{m}{obj}。"),
        "div": ("{name}有{a}{m}{obj}，平均分给{b}个朋友。每个朋友能分到多少{m}{obj}？",
                "{a} {op} {b} = {x}，所以每个朋友能分到{x}{m}{obj}。"),
    },
}
